"""Resource specs for the billing side: subscriptions (plain and nested under a customer),
invoices, products, prices and payment links."""

from __future__ import annotations

from .schemas import (
    CustomMethod,
    ResourceSpec,
    array,
    boolean,
    created_filter,
    enum,
    integer,
    metadata,
    obj,
    string,
    timestamp_filter,
)
from .specs_payments import CURRENCY

SUBSCRIPTION_STATUSES = [
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
]

_ITEM = obj(
    "A subscription item: a price and the quantity subscribed.",
    {
        "price": string("The ID of the price object."),
        "quantity": integer("Quantity for this item.", minimum=1),
    },
    required=["price"],
)
_UPDATE_ITEM = obj(
    "A subscription item to add, change (pass its id) or remove (pass its id and deleted=true).",
    {
        "id": string("Subscription item to update."),
        "price": string("The ID of the price object."),
        "quantity": integer("Quantity for this item.", minimum=1),
        "deleted": boolean("A flag that, if set to true, will delete the specified item."),
    },
)

_SUB_FILTERS = {
    "price": string("Filter for subscriptions that contain this recurring price ID."),
    "status": enum(
        "The status of the subscriptions to retrieve. Defaults to all statuses except canceled; pass "
        "all to include canceled subscriptions, or ended for canceled and incomplete_expired ones.",
        SUBSCRIPTION_STATUSES,
    ),
    "created": created_filter("subscriptions"),
    "current_period_end": timestamp_filter(
        "Only return subscriptions whose current period ends during the given date interval."
    ),
}
_SUB_CREATE = {
    "items": array("A list of up to 20 subscription items, each with an attached price.", _ITEM),
    "trial_period_days": integer("Integer representing the number of trial period days before charging."),
    "cancel_at_period_end": boolean("Whether to cancel the subscription at the end of the current period."),
    "description": string("The subscription's description, meant to be displayable to the customer."),
    "metadata": metadata(),
}
_SUB_UPDATE = {
    "cancel_at_period_end": boolean(
        "Set to true to cancel the subscription at the end of the current period, false to undo it."
    ),
    "items": array("Subscription items to add, change or remove.", _UPDATE_ITEM),
    "description": string("The subscription's description, meant to be displayable to the customer."),
    "proration_behavior": enum(
        "Determines how to handle prorations resulting from the change.",
        ["always_invoice", "create_prorations", "none"],
    ),
    "metadata": metadata(),
}

SUBSCRIPTIONS = ResourceSpec(
    name="subscriptions",
    singular="subscription",
    collection="subscriptions",
    noun="subscription",
    tags=("subscriptions", "billing"),
    descriptions={
        "list": "Returns Stripe subscriptions, most recent first. By default canceled subscriptions are "
        "left out; use status=all to include them. Filter by customer, price, status or dates.",
        "get": "Retrieves a Stripe subscription by its id (sub_...), with its items, status and current period.",
        "create": "Creates a new subscription for an existing customer. Each item needs a recurring price.",
        "update": "Updates a subscription: change items, metadata, or schedule a cancellation at period end "
        "with cancel_at_period_end.",
        "delete": "Cancels a customer's subscription immediately. The customer will not be charged again "
        "for it; the canceled subscription is returned.",
    },
    filters={
        "customer": string("The ID of the customer whose subscriptions will be retrieved."),
        **_SUB_FILTERS,
    },
    create={"customer": string("The identifier of the customer to subscribe."), **_SUB_CREATE},
    create_required=("customer", "items"),
    update=_SUB_UPDATE,
    deletable=True,
    custom={
        "resume": CustomMethod(
            "Resumes a paused subscription, which becomes active again and starts a new billing period.",
            body={
                "billing_cycle_anchor": enum(
                    "Either now or unchanged. Defaults to now.", ["now", "unchanged"]
                )
            },
            required=("id",),
        )
    },
    get_body_schema={"type": "object", "properties": {}},
)

CUSTOMER_SUBSCRIPTIONS = ResourceSpec(
    name="customer_subscriptions",
    singular="customer_subscription",
    collection="subscriptions",
    noun="subscription",
    tags=("customers", "subscriptions", "billing"),
    descriptions={
        "list": "Returns the subscriptions of one Stripe customer (the customer query parameter is "
        "required), most recent first.",
        "get": "Retrieves one subscription of a Stripe customer.",
        "create": "Creates a new subscription on an existing customer.",
        "update": "Updates a subscription of a Stripe customer (items, metadata, cancel_at_period_end).",
        "delete": "Cancels a subscription of a Stripe customer immediately and returns it, canceled.",
    },
    filters={k: v for k, v in _SUB_FILTERS.items() if k in ("status", "created")},
    create=_SUB_CREATE,
    create_required=("items",),
    update=_SUB_UPDATE,
    deletable=True,
    parent="customer",
)

INVOICE_STATUSES = ["draft", "open", "paid", "uncollectible", "void"]

INVOICES = ResourceSpec(
    name="invoices",
    singular="invoice",
    collection="invoices",
    noun="invoice",
    tags=("billing", "invoices"),
    descriptions={
        "list": "Returns Stripe invoices, most recent first. Filter by customer, subscription, status, "
        "creation date or due date.",
        "get": "Retrieves a Stripe invoice by its id (in_...), with its lines, amounts and status transitions.",
        "create": "Creates a draft invoice for a customer. Finalize it to make it payable.",
        "update": "Updates an invoice's description, metadata, due date or auto-advance setting.",
        "delete": "Permanently deletes a draft invoice. Finalized invoices cannot be deleted; void them.",
    },
    filters={
        "customer": string("Only return invoices for the customer specified by this customer ID."),
        "subscription": string(
            "Only return invoices for the subscription specified by this subscription ID."
        ),
        "status": enum("The status of the invoice.", INVOICE_STATUSES),
        "created": created_filter("invoices"),
        "due_date": timestamp_filter("Only return invoices due during the given date interval."),
    },
    create={
        "customer": string("The ID of the customer who will be billed."),
        "subscription": string("The ID of the subscription to invoice, if any."),
        "description": string("An arbitrary string attached to the object; displayed as 'memo' to users."),
        "collection_method": enum(
            "Either charge_automatically or send_invoice.", ["charge_automatically", "send_invoice"]
        ),
        "days_until_due": integer("The number of days from creation until the invoice is due."),
        "auto_advance": boolean("Whether Stripe automatically finalizes the invoice after about an hour."),
        "metadata": metadata(),
    },
    create_required=("customer",),
    update={
        "description": string("An arbitrary string attached to the object."),
        "due_date": integer("The date on which payment for this invoice is due (Unix seconds)."),
        "days_until_due": integer("The number of days from creation until the invoice is due."),
        "auto_advance": boolean("Whether Stripe automatically finalizes the invoice."),
        "metadata": metadata(),
    },
    deletable=True,
    custom={
        "finalize": CustomMethod(
            "Finalizes a draft invoice: it gets a number, becomes open and can be paid.",
            body={"auto_advance": boolean("Whether Stripe should automatically attempt payment afterwards.")},
            required=("id",),
        ),
        "pay": CustomMethod(
            "Attempts to pay an open invoice now with the customer's default payment method "
            "(a draft is finalized first).",
            body={
                "paid_out_of_band": boolean("Mark the invoice paid even though payment happened elsewhere.")
            },
            required=("id",),
        ),
        "void": CustomMethod(
            "Voids a finalized invoice that can no longer be paid. Voiding is permanent.",
            required=("id",),
            query_schema={"type": "object", "properties": {}},
        ),
    },
    create_query_schema={"type": "object", "properties": {}},
)

PRODUCTS = ResourceSpec(
    name="products",
    singular="product",
    collection="products",
    noun="product",
    tags=("products", "billing"),
    descriptions={
        "list": "Returns Stripe products, most recent first. Filter by active flag or creation date.",
        "get": "Retrieves a Stripe product by its id (prod_...).",
        "create": "Creates a new product: the goods or service you sell. Attach prices to it afterwards.",
        "update": "Updates a product's name, description, active flag or metadata.",
        "delete": "Deletes a product. Only possible when the product has no prices.",
    },
    filters={
        "active": boolean("Only return products that are active or inactive."),
        "created": created_filter("products"),
    },
    create={
        "name": string("The product's name, meant to be displayable to the customer."),
        "description": string("The product's description, meant to be displayable to the customer."),
        "active": boolean("Whether the product is currently available for purchase. Defaults to true."),
        "metadata": metadata(),
    },
    create_required=("name",),
    update={
        "name": string("The product's name, meant to be displayable to the customer."),
        "description": string("The product's description, meant to be displayable to the customer."),
        "active": boolean("Whether the product is available for purchase."),
        "metadata": metadata(),
    },
    deletable=True,
    get_body_schema={},
    create_query_schema=None,
)

PRICES = ResourceSpec(
    name="prices",
    singular="price",
    collection="prices",
    noun="price",
    tags=("products", "billing"),
    descriptions={
        "list": "Returns Stripe prices, most recent first. Filter by product, active flag, currency, type "
        "(one_time or recurring) or creation date.",
        "get": "Retrieves a Stripe price by its id (price_...), with its amount, currency and recurrence.",
        "create": "Creates a price for a product: a one-time amount, or a recurring one with an interval.",
        "update": "Updates a price's active flag, nickname or metadata. Amounts cannot change; create a new price.",
    },
    filters={
        "product": string("Only return prices for the given product."),
        "active": boolean("Only return prices that are active or inactive."),
        "currency": string("Only return prices for the given currency."),
        "type": enum("Only return prices of type recurring or one_time.", ["one_time", "recurring"]),
        "created": created_filter("prices"),
    },
    create={
        "product": string("The ID of the product that this price will belong to."),
        "unit_amount": integer(
            "A positive integer in cents (or 0 for a free price) representing how much to charge."
        ),
        "currency": CURRENCY,
        "recurring": obj(
            "The recurring components of a price such as interval and interval_count.",
            {
                "interval": enum("Specifies billing frequency.", ["day", "week", "month", "year"]),
                "interval_count": integer(
                    "The number of intervals between subscription billings.", minimum=1
                ),
            },
            required=["interval"],
        ),
        "nickname": string("A brief description of the price, hidden from customers."),
        "active": boolean("Whether the price can be used for new purchases. Defaults to true."),
        "lookup_key": string("A lookup key used to retrieve prices dynamically from a static string."),
        "metadata": metadata(),
    },
    create_required=("product", "currency", "unit_amount"),
    update={
        "active": boolean("Whether the price can be used for new purchases."),
        "nickname": string("A brief description of the price, hidden from customers."),
        "lookup_key": string("A lookup key used to retrieve prices dynamically from a static string."),
        "metadata": metadata(),
    },
)

_LINE_ITEM = obj(
    "A line item: the price and quantity being sold.",
    {
        "price": string("The ID of the price."),
        "quantity": integer("The quantity of the line item.", minimum=1),
    },
    required=["price", "quantity"],
)

PAYMENT_LINKS = ResourceSpec(
    name="payment_links",
    singular="payment_link",
    collection="payment_links",
    noun="payment link",
    tags=("payments", "products"),
    descriptions={
        "list": "Returns your Stripe payment links. Filter by whether they are active.",
        "get": "Retrieves a Stripe payment link by its id (plink_...), including its shareable url.",
        "create": "Creates a shareable payment link that sells the given prices. Up to 20 line items.",
        "update": "Updates a payment link; set active to false to deactivate it (links cannot be deleted).",
    },
    filters={"active": boolean("Only return payment links that are active or inactive.")},
    create={
        "line_items": array(
            "The line items representing what is being sold. Each needs price and quantity.", _LINE_ITEM
        ),
        "allow_promotion_codes": boolean("Enables user redeemable promotion codes."),
        "metadata": metadata(),
    },
    create_required=("line_items",),
    update={
        "active": boolean("Whether the payment link's url is active."),
        "allow_promotion_codes": boolean("Enables user redeemable promotion codes."),
        "metadata": metadata(),
    },
)

BILLING_SPECS: tuple[ResourceSpec, ...] = (
    SUBSCRIPTIONS,
    CUSTOMER_SUBSCRIPTIONS,
    INVOICES,
    PRODUCTS,
    PRICES,
    PAYMENT_LINKS,
)

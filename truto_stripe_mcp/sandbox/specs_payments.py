"""Resource specs for the payments side: customers, charges, refunds, disputes,
payment intents and customer tax ids (Stripe's real parameter names and types)."""

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
)

CURRENCY = string("Three-letter ISO currency code, in lowercase (e.g. usd). Must be a supported currency.")
AMOUNT = integer(
    "Amount intended to be collected, in the smallest currency unit (e.g. 100 cents to charge $1.00).",
    minimum=1,
)

_CUSTOMER_FIELDS = {
    "email": string("Customer's email address. Up to 512 characters."),
    "name": string("The customer's full name or business name."),
    "description": string("An arbitrary string attached to the customer, often useful for display."),
    "phone": string("The customer's phone number."),
    "metadata": metadata(),
}

CUSTOMERS = ResourceSpec(
    name="customers",
    singular="customer",
    collection="customers",
    noun="customer",
    tags=("customers", "billing"),
    descriptions={
        "list": "Returns a list of your Stripe customers, sorted by creation date with the most recent "
        "customers first. Filter by exact email address or creation date.",
        "get": "Retrieves a Stripe customer by its id (cus_...), including email, name, balance and metadata.",
        "create": "Creates a new Stripe customer. All parameters are optional; an email and name make the "
        "customer easy to find later.",
        "update": "Updates a Stripe customer by setting the values of the parameters passed. Parameters "
        "not provided are left unchanged.",
        "delete": "Permanently deletes a Stripe customer. It cannot be undone, and it immediately cancels "
        "any active subscriptions of the customer.",
    },
    filters={
        "email": string("A case-sensitive filter on the list based on the customer's email field."),
        "created": created_filter("customers"),
    },
    create=_CUSTOMER_FIELDS,
    update=_CUSTOMER_FIELDS,
    deletable=True,
    get_body_schema={"type": "object", "properties": {}},
)

CHARGES = ResourceSpec(
    name="charges",
    singular="charge",
    collection="charges",
    noun="charge",
    tags=("payments",),
    descriptions={
        "list": "Returns a list of Stripe charges, most recent first. Filter by customer, payment "
        "intent or creation date.",
        "get": "Retrieves a Stripe charge by its id (ch_...), with its amount, amount_refunded, status, "
        "billing details and refunds.",
        "create": "Creates a charge on a customer's default payment method. Prefer payment intents for "
        "new integrations; this legacy endpoint is kept for simple one-off charges.",
        "update": "Updates a Stripe charge's description, receipt email or metadata. Amounts cannot change.",
    },
    filters={
        "customer": string("Only return charges for the customer specified by this customer ID."),
        "payment_intent": string("Only return charges that were created by the PaymentIntent specified."),
        "created": created_filter("charges"),
    },
    create={
        "amount": AMOUNT,
        "currency": CURRENCY,
        "customer": string("The ID of an existing customer that will be charged."),
        "description": string("An arbitrary string which you can attach to a charge object."),
        "receipt_email": string("The email address to which this charge's receipt will be sent."),
        "metadata": metadata(),
    },
    create_required=("amount", "currency"),
    update={
        "description": string("An arbitrary string which you can attach to a charge object."),
        "receipt_email": string(
            "This is the email address that the receipt for this charge will be sent to."
        ),
        "metadata": metadata(),
    },
    create_query_schema={},
)

REFUNDS = ResourceSpec(
    name="refunds",
    singular="refund",
    collection="refunds",
    noun="refund",
    tags=("payments", "refunds"),
    descriptions={
        "list": "Returns a list of Stripe refunds, most recent first. Filter by charge, payment intent or "
        "creation date.",
        "get": "Retrieves a Stripe refund by its id (re_...).",
        "create": "Refunds a charge or payment intent, fully or partially. Omit amount to refund the "
        "whole remaining amount; the total refunded can never exceed what was charged.",
        "update": "Updates the metadata of a Stripe refund. Other refund details cannot be changed.",
    },
    filters={
        "charge": string("Only return refunds for the charge specified by this charge ID."),
        "payment_intent": string("Only return refunds for the PaymentIntent specified by this ID."),
        "created": created_filter("refunds"),
    },
    create={
        "charge": string(
            "The identifier of the charge to refund. Either charge or payment_intent is required."
        ),
        "payment_intent": string("The identifier of the PaymentIntent to refund."),
        "amount": integer(
            "A positive integer in the smallest currency unit representing how much of this charge to "
            "refund. Defaults to the entire remaining amount.",
            minimum=1,
        ),
        "reason": enum(
            "String indicating the reason for the refund.",
            ["duplicate", "fraudulent", "requested_by_customer"],
        ),
        "metadata": metadata(),
    },
    update={"metadata": metadata()},
    create_query_schema=None,
)

_EVIDENCE = obj(
    "Evidence to upload, to respond to a dispute. Updating any field in the hash will submit all fields "
    "in the hash for review.",
    {
        "customer_name": string("The name of the customer."),
        "customer_email_address": string("The email address of the customer."),
        "product_description": string("A description of the product or service that was sold."),
        "uncategorized_text": string("Any additional evidence or statements."),
        "refund_policy_disclosure": string("How the refund policy was shown to the customer."),
    },
)

DISPUTES = ResourceSpec(
    name="disputes",
    singular="dispute",
    collection="disputes",
    noun="dispute",
    tags=("payments", "disputes"),
    descriptions={
        "list": "Returns a list of Stripe disputes (chargebacks), most recent first. Filter by charge, "
        "payment intent or creation date.",
        "get": "Retrieves a Stripe dispute by its id (dp_...), with its reason, status and evidence due date.",
        "update": "Updates a dispute's evidence or metadata. Set submit to false to stage evidence without "
        "submitting it to the bank yet.",
    },
    filters={
        "charge": string("Only return disputes associated to the charge specified by this charge ID."),
        "payment_intent": string(
            "Only return disputes associated to the PaymentIntent specified by this ID."
        ),
        "created": created_filter("disputes"),
    },
    update={
        "evidence": _EVIDENCE,
        "metadata": metadata(),
        "submit": boolean("Whether to immediately submit evidence to the bank. Defaults to true."),
    },
    custom={
        "close": CustomMethod(
            "Closes a dispute, conceding it as lost. The status becomes lost and this cannot be undone.",
            required=("id",),
        ),
    },
)

_PI_CANCEL_REASONS = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"]

PAYMENT_INTENTS = ResourceSpec(
    name="payment_intents",
    singular="payment_intent",
    collection="payment_intents",
    noun="payment_intent",
    tags=("payments",),
    descriptions={
        "list": "Returns a list of Stripe PaymentIntents, most recent first. Filter by customer or creation date.",
        "get": "Retrieves a Stripe PaymentIntent by its id (pi_...), with its status and latest charge.",
        "create": "Creates a PaymentIntent that tracks collecting a payment from a customer. Set confirm "
        "to true to attempt the payment immediately.",
        "update": "Updates a PaymentIntent that has not been confirmed yet (amount, currency, customer, "
        "description, metadata).",
    },
    filters={
        "customer": string("Only return PaymentIntents for the customer that this customer ID specifies."),
        "created": created_filter("PaymentIntents"),
    },
    create={
        "amount": AMOUNT,
        "currency": CURRENCY,
        "customer": string("ID of the customer this PaymentIntent belongs to."),
        "description": string("An arbitrary string attached to the object."),
        "capture_method": enum(
            "Controls when the funds will be captured from the customer's account.",
            ["automatic", "automatic_async", "manual"],
        ),
        "confirm": boolean("Set to true to attempt to confirm this PaymentIntent immediately."),
        "payment_method": string("ID of the payment method (e.g. pm_card_visa) to attach."),
        "payment_method_types": array(
            "The payment method types this PaymentIntent can use.", {"type": "string"}
        ),
        "receipt_email": string("Email address to send the receipt to."),
        "metadata": metadata(),
    },
    create_required=("amount", "currency"),
    update={
        "amount": AMOUNT,
        "currency": CURRENCY,
        "customer": string("ID of the customer this PaymentIntent belongs to."),
        "description": string("An arbitrary string attached to the object."),
        "payment_method": string("ID of the payment method to attach."),
        "receipt_email": string("Email address to send the receipt to."),
        "metadata": metadata(),
    },
    custom={
        "confirm": CustomMethod(
            "Confirms that the customer intends to pay with the attached payment method. With automatic "
            "capture the payment succeeds; with manual capture it moves to requires_capture.",
            body={"payment_method": string("ID of the payment method to use, if none is attached yet.")},
            required=("id",),
        ),
        "capture": CustomMethod(
            "Captures the funds of a PaymentIntent whose status is requires_capture. Capture less than the "
            "authorized amount with amount_to_capture.",
            body={
                "amount_to_capture": integer(
                    "The amount to capture, which must be less than or equal to the amount_capturable.",
                    minimum=1,
                )
            },
            required=("id",),
            query_schema={"type": "object", "properties": {}},
        ),
        "cancel": CustomMethod(
            "Cancels a PaymentIntent that has not succeeded yet; any authorized funds are released.",
            body={
                "cancellation_reason": enum("Reason for canceling this PaymentIntent.", _PI_CANCEL_REASONS)
            },
            required=("id",),
        ),
    },
)

TAX_ID_TYPES = ["eu_vat", "gb_vat", "us_ein", "au_abn", "ca_bn", "in_gst", "de_stn", "no_vat", "ch_vat"]

CUSTOMER_TAX_IDS = ResourceSpec(
    name="customer_tax_ids",
    singular="customer_tax_id",
    collection="tax_ids",
    noun="tax ID",
    tags=("customers", "billing"),
    descriptions={
        "list": "Returns a list of the tax IDs of a Stripe customer (the customer query parameter is required).",
        "get": "Retrieves one tax ID (txi_...) of a Stripe customer.",
        "create": "Adds a new tax ID, such as an EU VAT number, to a Stripe customer.",
        "delete": "Deletes an existing tax ID of a Stripe customer.",
    },
    create={
        "type": enum("Type of the tax ID, one of Stripe's supported types.", TAX_ID_TYPES),
        "value": string("Value of the tax ID, e.g. DE123456789."),
    },
    create_required=("type", "value"),
    deletable=True,
    parent="customer",
)

PAYMENT_SPECS: tuple[ResourceSpec, ...] = (
    CUSTOMERS,
    CHARGES,
    REFUNDS,
    DISPUTES,
    PAYMENT_INTENTS,
    CUSTOMER_TAX_IDS,
)

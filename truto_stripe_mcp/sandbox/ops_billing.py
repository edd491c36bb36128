"""Stripe semantics for subscriptions, invoices, products, prices and payment links."""

from __future__ import annotations

from typing import Any

from . import builders_billing as bb
from .errors import invalid
from .operations import Call, clean_metadata, operation, set_fields
from .store import Store, StripeObject

_ENDED = frozenset({"canceled", "incomplete_expired"})


def _deleted(obj: StripeObject) -> StripeObject:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


def _item_price(item: dict[str, Any], param: str) -> str:
    """The price id of a line or subscription item; the sandbox does not model inline ``price_data``."""
    if "price" not in item:
        raise invalid(
            f"Missing required param: {param}[price].", code="parameter_missing", param=f"{param}[price]"
        )
    return str(item["price"])


def _new_product(call: Call) -> str:
    """``product_data`` on a price creates the product with it, as Stripe does."""
    data = call.body.get("product_data")
    if not isinstance(data, dict):
        raise invalid("Missing required param: product.", code="parameter_missing", param="product")
    obj = bb.product(
        call.store.new_id("products"),
        call.now(),
        name=data["name"],
        metadata=clean_metadata(data.get("metadata")),
    )
    return str(call.store.add("products", obj)["id"])


def _recurring_price(call: Call, price_id: str, param: str) -> StripeObject:
    price = call.store.require("prices", price_id, param=param)
    if price["type"] != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices with "
            "`type=recurring`.",
            param=param,
        )
    return price


def invoice_number(store: Store, customer: StripeObject) -> str:
    """`<invoice_prefix>-0001`, advancing the customer's sequence like Stripe."""
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    return number


def product_name(store: Store, price: StripeObject) -> str:
    product = store.get("products", price["product"])
    return product["name"] if product else price["product"]


def bill_subscription(
    store: Store, sub: StripeObject, created: int, reason: str, invoice_id: str
) -> StripeObject:
    """Create (and add) the invoice of the subscription's current period, left as a draft."""
    customer = store.get("customers", sub["customer"]) or {"id": sub["customer"]}
    start, end = sub["current_period_start"], sub["current_period_end"]
    lines = [
        bb.invoice_line(
            store.token, item["price"], item["quantity"], product_name(store, item["price"]), start, end
        )
        for item in sub["items"]["data"]
    ]
    if sub["status"] == "trialing":
        for line in lines:
            line["amount"] = 0
    inv = bb.invoice(
        invoice_id,
        created,
        customer_obj=customer,
        subscription_id=sub["id"],
        lines=lines,
        period_start=start,
        period_end=end,
        billing_reason=reason,
    )
    sub["latest_invoice"] = inv["id"]
    return store.add("invoices", inv)


# -- subscriptions ---------------------------------------------------------------------
@operation("subscriptions", "create")
def create_subscription(call: Call) -> StripeObject:
    body, store, now = call.body, call.store, call.now()
    customer_id = call.parent_id or call.require("customer")
    store.require("customers", customer_id, param="customer")
    items = [
        (
            _recurring_price(call, _item_price(item, f"items[{i}]"), f"items[{i}][price]"),
            item.get("quantity", 1),
        )
        for i, item in enumerate(call.require("items"))
    ]
    trial_days = body.get("trial_period_days")
    sub = bb.subscription(
        store.new_id("subscriptions"),
        now,
        store.token,
        customer_id=customer_id,
        items=items,
        status="trialing" if trial_days else "active",
        period_start=now,
        trial_end=now + trial_days * 86_400 if trial_days else None,
        description=body.get("description"),
        metadata=clean_metadata(body.get("metadata")),
        cancel_at_period_end=bool(body.get("cancel_at_period_end")),
    )
    store.add("subscriptions", sub)
    inv = bill_subscription(store, sub, now, "subscription_create", store.new_id("invoices"))
    customer = store.require("customers", customer_id)
    bb.finalize_invoice(inv, now, invoice_number(store, customer))
    bb.pay_invoice(inv, now)
    return sub


def _update_items(call: Call, sub: StripeObject, changes: list[dict[str, Any]]) -> None:
    data: list[StripeObject] = sub["items"]["data"]
    for i, change in enumerate(changes):
        if "id" in change:
            item = next((it for it in data if it["id"] == change["id"]), None)
            if item is None:
                raise invalid(
                    f"No such subscription item: '{change['id']}'",
                    code="resource_missing",
                    param=f"items[{i}][id]",
                )
            if change.get("deleted"):
                data.remove(item)
                continue
            if "price" in change:
                item["price"] = _recurring_price(call, change["price"], f"items[{i}][price]")
            if "quantity" in change:
                item["quantity"] = change["quantity"]
        elif "price" in change:
            price = _recurring_price(call, change["price"], f"items[{i}][price]")
            start, end = sub["current_period_start"], sub["current_period_end"]
            data.append(
                bb.subscription_item(
                    call.store.token, call.now(), sub["id"], price, change.get("quantity", 1), start, end
                )
            )
        else:
            raise invalid(
                f"Missing required param: items[{i}][price].",
                code="parameter_missing",
                param=f"items[{i}][price]",
            )
    if not data:
        raise invalid("A subscription must have at least one active plan.", param="items")
    sub["items"]["total_count"] = len(data)


@operation("subscriptions", "update")
def update_subscription(call: Call) -> StripeObject:
    sub = call.target()
    if sub["status"] in _ENDED and set(call.body) - {"metadata"}:
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    if "items" in call.body:
        _update_items(call, sub, call.body["items"])
    if "cancel_at_period_end" in call.body:
        flag = call.body["cancel_at_period_end"]
        sub["cancel_at_period_end"] = flag
        sub["cancel_at"] = sub["current_period_end"] if flag else None
    set_fields(sub, call.body, ("description",))
    return sub


@operation("subscriptions", "delete")
def cancel_subscription(call: Call) -> StripeObject:
    """Stripe's DELETE on a subscription cancels it and returns it."""
    sub = call.target()
    if sub["status"] in _ENDED:
        raise invalid(
            f"The subscription {sub['id']} has already been canceled and cannot be canceled again.",
        )
    now = call.now()
    sub.update(status="canceled", canceled_at=now, ended_at=now, cancel_at=None, cancel_at_period_end=False)
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    return sub


@operation("subscriptions", "resume")
def resume_subscription(call: Call) -> StripeObject:
    sub = call.target()
    if sub["status"] != "paused":
        raise invalid(
            f"Subscription {sub['id']} cannot be resumed because its status is {sub['status']}; only paused "
            "subscriptions can be resumed."
        )
    if call.body.get("billing_cycle_anchor", "now") == "now":
        now = call.now()
        length = bb.period_seconds(sub["items"]["data"][0]["price"])
        sub.update(current_period_start=now, current_period_end=now + length, billing_cycle_anchor=now)
    sub.update(status="active", pause_collection=None)
    return sub


# -- invoices --------------------------------------------------------------------------
@operation("invoices", "create")
def create_invoice(call: Call) -> StripeObject:
    body, store, now = call.body, call.store, call.now()
    customer = store.require("customers", call.require("customer"), param="customer")
    if "subscription" in body:
        store.require("subscriptions", body["subscription"], param="subscription")
    method = body.get("collection_method", "charge_automatically")
    days = body.get("days_until_due")
    if method == "send_invoice" and days is None:
        raise invalid(
            "Missing required param: days_until_due.", code="parameter_missing", param="days_until_due"
        )
    inv = bb.invoice(
        store.new_id("invoices"),
        now,
        customer_obj=customer,
        subscription_id=body.get("subscription"),
        lines=[],
        period_start=now,
        period_end=now,
        collection_method=method,
        description=body.get("description"),
        due_date=now + days * 86_400 if days is not None else None,
        auto_advance=body.get("auto_advance", True),
        metadata=clean_metadata(body.get("metadata")),
        currency=customer.get("currency") or "usd",
    )
    return store.add("invoices", inv)


@operation("invoices", "update")
def update_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] in ("paid", "void") and set(call.body) - {"metadata", "description"}:
        raise invalid(
            f"Invoice {inv['id']} is {inv['status']}; only its description and metadata can change."
        )
    if "days_until_due" in call.body:
        inv["due_date"] = inv["created"] + call.body["days_until_due"] * 86_400
    set_fields(inv, call.body, ("description", "due_date", "auto_advance"))
    return inv


@operation("invoices", "delete")
def delete_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] != "draft":
        raise invalid("You can only delete draft invoices. Use void for finalized invoices.")
    call.store.remove("invoices", inv["id"])
    return _deleted(inv)


def _finalize(call: Call, inv: StripeObject) -> None:
    customer = call.store.get("customers", inv["customer"]) or {
        "invoice_prefix": "SANDBOX",
        "next_invoice_sequence": 1,
    }
    bb.finalize_invoice(inv, call.now(), invoice_number(call.store, customer))


@operation("invoices", "finalize")
def finalize_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] != "draft":
        raise invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    if "auto_advance" in call.body:
        inv["auto_advance"] = call.body["auto_advance"]
    _finalize(call, inv)
    return inv


@operation("invoices", "pay")
def pay_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] == "paid":
        raise invalid("Invoice is already paid.")
    if inv["status"] == "void":
        raise invalid("You cannot pay a void invoice.")
    if inv["status"] == "draft":
        _finalize(call, inv)
    bb.pay_invoice(inv, call.now())
    return inv


@operation("invoices", "void")
def void_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only void open or uncollectible invoices; this invoice is {inv['status']}.",
        )
    bb.void_invoice(inv, call.now())
    return inv


# -- products, prices, payment links ---------------------------------------------------
@operation("products", "create")
def create_product(call: Call) -> StripeObject:
    body = call.body
    obj = bb.product(
        call.store.new_id("products"),
        call.now(),
        name=body["name"],
        description=body.get("description"),
        active=body.get("active", True),
        metadata=clean_metadata(body.get("metadata")),
    )
    return call.store.add("products", obj)


@operation("products", "update")
def update_product(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ("name", "description", "active"))
    obj["updated"] = call.now()
    return obj


@operation("products", "delete")
def delete_product(call: Call) -> StripeObject:
    obj = call.target()
    if call.store.list("prices", product=obj["id"]):
        raise invalid("This product cannot be deleted because it has one or more user-created prices.")
    call.store.remove("products", obj["id"])
    return _deleted(obj)


@operation("prices", "create")
def create_price(call: Call) -> StripeObject:
    body = call.body
    product_id = body["product"] if "product" in body else _new_product(call)
    call.store.require("products", product_id, param="product")
    obj = bb.price(
        call.store.new_id("prices"),
        call.now(),
        product_id=product_id,
        unit_amount=call.require("unit_amount"),
        currency=body["currency"].lower(),
        recurring=body.get("recurring"),
        nickname=body.get("nickname"),
        active=body.get("active", True),
        lookup_key=body.get("lookup_key"),
        metadata=clean_metadata(body.get("metadata")),
    )
    return call.store.add("prices", obj)


@operation("prices", "update")
def update_price(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ("active", "nickname", "lookup_key"))
    return obj


@operation("payment_links", "create")
def create_payment_link(call: Call) -> StripeObject:
    store = call.store
    items = []
    for i, item in enumerate(call.require("line_items")):
        price = store.require(
            "prices", _item_price(item, f"line_items[{i}]"), param=f"line_items[{i}][price]"
        )
        items.append((price, item.get("quantity", 1), product_name(store, price)))
    if len({price["currency"] for price, _, _ in items}) > 1:
        raise invalid("All prices on a payment link must use the same currency.", param="line_items")
    obj = bb.payment_link(
        store.new_id("payment_links"),
        store.token,
        line_items=items,
        allow_promotion_codes=call.body.get("allow_promotion_codes", False),
        metadata=clean_metadata(call.body.get("metadata")),
    )
    return store.add("payment_links", obj, created=call.now())


@operation("payment_links", "update")
def update_payment_link(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ("active", "allow_promotion_codes"))
    return obj

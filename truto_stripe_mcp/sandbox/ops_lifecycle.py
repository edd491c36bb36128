"""Stripe semantics for search and the lifecycle actions that change stored objects:
capturing and refunding charges, cancelling refunds, sending and writing off invoices,
raising a PaymentIntent's authorization."""

from __future__ import annotations

from .errors import invalid
from .operations import Call, operation, unexpected_state
from .ops_payments import create_refund
from .search_query import parse
from .store import StripeObject, decode_offset, encode_offset

SEARCHABLE = ("customers", "charges", "payment_intents", "invoices", "prices", "products", "subscriptions")
_SEARCH_LIMIT = 10


def _search(call: Call) -> StripeObject:
    """``/v1/<resource>/search``: newest first, paged with ``page`` / ``next_page`` as at Stripe."""
    matches = parse(str(call.query.get("query", "")))
    found = [obj for obj in call.store.list(call.collection) if matches(obj)]
    start = decode_offset(str(call.query["page"])) if call.query.get("page") else 0
    limit = int(call.query.get("limit") or _SEARCH_LIMIT)
    page = found[start : start + limit]
    more = start + limit < len(found)
    expand = [path.removeprefix("data.") for path in call.query.get("expand") or []]
    if expand:
        page = [call.store.expand(obj, expand) for obj in page]
    return {
        "object": "search_result",
        "data": page,
        "has_more": more,
        "next_page": encode_offset(start + limit) if more else None,
        "url": f"/v1/{call.collection}/search",
    }


for _collection in SEARCHABLE:
    operation(_collection, "search")(_search)


@operation("charges", "capture")
def capture_charge(call: Call) -> StripeObject:
    charge = call.target()
    if charge["captured"] or charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has already been captured.", code="charge_already_captured")
    amount = call.body.get("amount", charge["amount"])
    if amount > charge["amount"]:
        raise invalid(
            f"The amount to capture ({amount}) is greater than the authorized amount ({charge['amount']}).",
            code="amount_too_large",
            param="amount",
        )
    charge.update(captured=True, amount_captured=amount)
    return charge


@operation("charges", "refund")
def refund_charge(call: Call) -> StripeObject:
    """The legacy ``/v1/charges/{charge}/refund``: refunds (part of) the charge, returns the charge."""
    call.body["charge"] = call.object_id
    create_refund(call)
    return call.store.require("charges", call.object_id)


@operation("refunds", "cancel")
def cancel_refund(call: Call) -> StripeObject:
    refund = call.target()
    if refund["status"] != "requires_action":
        raise invalid(
            f"Refund {refund['id']} has a status of {refund['status']}; only refunds that require action "
            "can be canceled.",
            code="refund_cannot_be_canceled" if refund["status"] == "succeeded" else None,
        )
    refund["status"] = "canceled"
    return refund


@operation("invoices", "send")
def send_invoice(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] != "open":
        raise invalid(f"Invoice {inv['id']} is {inv['status']}; only open invoices can be sent.")
    return inv


@operation("invoices", "mark_uncollectible")
def mark_uncollectible(call: Call) -> StripeObject:
    inv = call.target()
    if inv["status"] != "open":
        raise invalid(
            f"Invoice {inv['id']} is {inv['status']}; only open invoices can be marked uncollectible."
        )
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = call.now()
    return inv


@operation("payment_intents", "increment_authorization")
def increment_authorization(call: Call) -> StripeObject:
    intent = call.target()
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent's status is {intent['status']}; only a PaymentIntent that requires capture "
            "can have its authorization incremented."
        )
    amount = call.require("amount")
    if amount <= intent["amount"]:
        raise invalid("The new amount must be greater than the current amount.", param="amount")
    intent.update(amount=amount, amount_capturable=amount)
    charge = call.store.get("charges", intent["latest_charge"])
    if charge is not None:
        charge["amount"] = amount
    return intent

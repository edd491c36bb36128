"""Stripe semantics for customers, charges, refunds, disputes, payment intents and tax ids."""

from __future__ import annotations

from . import builders as b
from .errors import invalid, stripe_error
from .operations import (
    Call,
    clean_metadata,
    money,
    operation,
    require_customer,
    set_fields,
    unexpected_state,
)
from .store import StripeObject

DECLINING_PAYMENT_METHODS = frozenset({"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"})
_DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed"})
_PI_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
_PI_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_TAX_COUNTRIES = {
    "gb_vat": "GB",
    "us_ein": "US",
    "au_abn": "AU",
    "ca_bn": "CA",
    "in_gst": "IN",
    "de_stn": "DE",
}


def _deleted(obj: StripeObject) -> StripeObject:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


# -- customers -------------------------------------------------------------------------
@operation("customers", "create")
def create_customer(call: Call) -> StripeObject:
    body = call.body
    obj = b.customer(
        call.store.new_id("customers"),
        call.now(),
        email=body.get("email"),
        name=body.get("name"),
        description=body.get("description"),
        phone=body.get("phone"),
        metadata=clean_metadata(body.get("metadata")),
    )
    return call.store.add("customers", obj)


@operation("customers", "update")
def update_customer(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ("email", "name", "description", "phone"))
    return obj


@operation("customers", "delete")
def delete_customer(call: Call) -> StripeObject:
    """Deleting a customer cancels its live subscriptions, as Stripe does."""
    obj = call.target()
    now = call.now()
    for sub in call.store.list("subscriptions", customer=obj["id"]):
        if sub["status"] not in ("canceled", "incomplete_expired"):
            sub.update(status="canceled", canceled_at=now, ended_at=now)
    call.store.remove("customers", obj["id"])
    return _deleted(obj)


# -- charges ---------------------------------------------------------------------------
@operation("charges", "create")
def create_charge(call: Call) -> StripeObject:
    body = call.body
    customer = require_customer(call, body.get("customer"))
    obj = b.charge(
        call.store.new_id("charges"),
        call.now(),
        call.store.token,
        amount=call.require("amount"),
        currency=call.require("currency").lower(),
        customer_obj=customer,
        payment_intent=None,
        description=body.get("description"),
        receipt_email=body.get("receipt_email"),
        metadata=clean_metadata(body.get("metadata")),
    )
    return call.store.add("charges", obj)


@operation("charges", "update")
def update_charge(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ("description", "receipt_email"))
    return obj


# -- refunds ---------------------------------------------------------------------------
def _refundable_charge(call: Call) -> StripeObject:
    body = call.body
    if "charge" in body:
        return call.store.require("charges", body["charge"], param="charge")
    if "payment_intent" in body:
        intent = call.store.require("payment_intents", body["payment_intent"], param="payment_intent")
        if not intent.get("latest_charge") or intent["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        return call.store.require("charges", intent["latest_charge"], param="payment_intent")
    raise invalid(
        "One of the following params should be provided for this request: payment_intent or charge.",
        code="parameter_missing",
        param="charge",
    )


@operation("refunds", "create")
def create_refund(call: Call) -> StripeObject:
    """A refund can never exceed what is left to refund on the charge."""
    charge = _refundable_charge(call)
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge")
    if charge["disputed"]:
        raise invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = call.body.get("amount", remaining)
    if amount > remaining:
        raise invalid(
            f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded amount on "
            f"charge ({money(remaining, charge['currency'])})",
            code="amount_too_large",
            param="amount",
        )
    obj = b.refund(
        call.store.new_id("refunds"),
        call.now(),
        call.store.token,
        charge_obj=charge,
        amount=amount,
        reason=call.body.get("reason"),
        metadata=clean_metadata(call.body.get("metadata")),
    )
    b.apply_refund(charge, obj)
    return call.store.add("refunds", obj)


@operation("refunds", "update")
def update_refund(call: Call) -> StripeObject:
    obj = call.target()
    set_fields(obj, call.body, ())
    return obj


# -- disputes --------------------------------------------------------------------------
@operation("disputes", "update")
def update_dispute(call: Call) -> StripeObject:
    obj = call.target()
    evidence = call.body.get("evidence")
    if evidence and obj["status"] in _DISPUTE_CLOSED:
        raise invalid(f"This dispute ({obj['id']}) is already closed; evidence can no longer be submitted.")
    if evidence:
        obj["evidence"].update(evidence)
        obj["evidence_details"]["has_evidence"] = True
        if call.body.get("submit", True):
            obj["evidence_details"]["submission_count"] += 1
            obj["status"] = {
                "needs_response": "under_review",
                "warning_needs_response": "warning_under_review",
            }.get(obj["status"], obj["status"])
    set_fields(obj, call.body, ())
    return obj


@operation("disputes", "close")
def close_dispute(call: Call) -> StripeObject:
    obj = call.target()
    if obj["status"] in _DISPUTE_CLOSED:
        raise invalid(f"This dispute ({obj['id']}) is already closed.")
    obj["status"] = "warning_closed" if obj["status"].startswith("warning_") else "lost"
    return obj


# -- payment intents -------------------------------------------------------------------
@operation("payment_intents", "create")
def create_payment_intent(call: Call) -> StripeObject:
    body = call.body
    customer = require_customer(call, body.get("customer"))
    obj = b.payment_intent(
        call.store.new_id("payment_intents"),
        call.now(),
        call.store.token,
        amount=body["amount"],
        currency=body["currency"].lower(),
        customer_id=customer["id"] if customer else None,
        status="requires_confirmation" if body.get("payment_method") else "requires_payment_method",
        capture_method=body.get("capture_method", "automatic"),
        payment_method=body.get("payment_method"),
        description=body.get("description"),
        receipt_email=body.get("receipt_email"),
        metadata=clean_metadata(body.get("metadata")),
        payment_method_types=body.get("payment_method_types"),
    )
    call.store.add("payment_intents", obj)
    if body.get("confirm"):
        _confirm(call, obj, obj["payment_method"])
    return obj


@operation("payment_intents", "update")
def update_payment_intent(call: Call) -> StripeObject:
    obj = call.target()
    financial = {"amount", "currency", "customer", "payment_method"} & call.body.keys()
    if financial and obj["status"] not in _PI_CONFIRMABLE:
        raise unexpected_state(
            f"You cannot update this PaymentIntent because it has a status of {obj['status']}. Only a "
            f"PaymentIntent with one of the following statuses may be updated: {', '.join(_PI_CONFIRMABLE)}."
        )
    if "customer" in call.body:
        require_customer(call, call.body["customer"])
    set_fields(
        obj, call.body, ("amount", "currency", "customer", "description", "payment_method", "receipt_email")
    )
    if obj["payment_method"] and obj["status"] == "requires_payment_method":
        obj["status"] = "requires_confirmation"
    return obj


def _confirm(call: Call, intent: StripeObject, payment_method: str | None) -> None:
    if not payment_method:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. Update the "
            "PaymentIntent with a payment method and then confirm it again."
        )
    intent["payment_method"] = payment_method
    customer = call.store.get("customers", intent["customer"]) if intent["customer"] else None
    declined = payment_method in DECLINING_PAYMENT_METHODS
    manual = intent["capture_method"] == "manual"
    charge = b.charge(
        call.store.new_id("charges"),
        call.now(),
        call.store.token,
        amount=intent["amount"],
        currency=intent["currency"],
        customer_obj=customer,
        payment_intent=intent["id"],
        status="failed" if declined else "succeeded",
        captured=not manual,
        description=intent["description"],
        receipt_email=intent["receipt_email"],
    )
    call.store.add("charges", charge)
    intent["latest_charge"] = charge["id"]
    if declined:
        error = {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        }
        intent.update(status="requires_payment_method", last_payment_error={**error, "type": "card_error"})
        raise stripe_error(402, "Your card was declined.", error_type="card_error", code="card_declined")
    if manual:
        intent.update(status="requires_capture", amount_capturable=intent["amount"])
    else:
        intent.update(status="succeeded", amount_received=intent["amount"])


@operation("payment_intents", "confirm")
def confirm_payment_intent(call: Call) -> StripeObject:
    intent = call.target()
    if intent["status"] not in _PI_CONFIRMABLE:
        raise unexpected_state(
            f"This PaymentIntent's status is {intent['status']}, but it must be one of "
            f"{', '.join(_PI_CONFIRMABLE)} to be confirmed."
        )
    _confirm(call, intent, call.body.get("payment_method") or intent["payment_method"])
    return intent


@operation("payment_intents", "capture")
def capture_payment_intent(call: Call) -> StripeObject:
    intent = call.target()
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
            "Only a PaymentIntent with one of the following statuses may be captured: requires_capture."
        )
    amount = call.body.get("amount_to_capture", intent["amount_capturable"])
    if amount > intent["amount_capturable"]:
        raise invalid(
            "Amount to capture must be less than or equal to the amount_capturable "
            f"({intent['amount_capturable']}).",
            code="amount_too_large",
            param="amount_to_capture",
        )
    charge = call.store.get("charges", intent["latest_charge"])
    if charge is not None:
        charge.update(captured=True, amount_captured=amount)
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    return intent


@operation("payment_intents", "cancel")
def cancel_payment_intent(call: Call) -> StripeObject:
    intent = call.target()
    if intent["status"] not in _PI_CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
            f"PaymentIntent with one of the following statuses may be canceled: {', '.join(_PI_CANCELABLE)}."
        )
    intent.update(
        status="canceled",
        canceled_at=call.now(),
        cancellation_reason=call.body.get("cancellation_reason"),
        amount_capturable=0,
    )
    return intent


# -- customer tax ids ------------------------------------------------------------------
@operation("tax_ids", "create")
def create_tax_id(call: Call) -> StripeObject:
    kind, value = call.body["type"], call.body["value"]
    country = _TAX_COUNTRIES.get(kind) or (value[:2].upper() if kind.endswith("_vat") else None)
    obj = b.tax_id(
        call.store.new_id("tax_ids"),
        call.now(),
        customer_id=str(call.parent_id),
        kind=kind,
        value=value,
        country=country,
    )
    return call.store.add("tax_ids", obj)


@operation("tax_ids", "delete")
def delete_tax_id(call: Call) -> StripeObject:
    obj = call.target()
    call.store.remove("tax_ids", obj["id"])
    return _deleted(obj)

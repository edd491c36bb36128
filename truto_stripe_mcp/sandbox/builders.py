"""Constructors for Stripe-shaped objects, shared by the seeder and the write operations
so seeded and newly created objects have exactly the same fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StripeObject = dict[str, Any]
Tokens = Callable[[str], str]
"""Makes a random sub-object id for a prefix, e.g. tok("si") -> "si_..."."""

ACCOUNT_NAME = "Sandbox Inc."


def stripe_list(data: list[Any], url: str) -> StripeObject:
    """Stripe's embedded list object (`items`, `lines`, `refunds`)."""
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


def customer(
    object_id: str,
    created: int,
    *,
    email: str | None,
    name: str | None,
    description: str | None = None,
    phone: str | None = None,
    metadata: dict[str, str] | None = None,
    currency: str | None = None,
) -> StripeObject:
    """A Stripe customer; `invoice_prefix` derives from the id so invoice numbers look real."""
    return {
        "id": object_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": currency,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": object_id[4:12].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def card_details(brand: str, last4: str, exp_month: int, exp_year: int) -> StripeObject:
    """The `payment_method_details` of a card charge (what agents read to say 'Visa 4242')."""
    return {
        "card": {
            "brand": brand,
            "country": "US",
            "exp_month": exp_month,
            "exp_year": exp_year,
            "funding": "credit",
            "last4": last4,
            "network": brand,
        },
        "type": "card",
    }


def charge(
    object_id: str,
    created: int,
    tok: Tokens,
    *,
    amount: int,
    currency: str,
    customer_obj: StripeObject | None,
    payment_intent: str | None,
    status: str = "succeeded",
    captured: bool = True,
    description: str | None = None,
    receipt_email: str | None = None,
    metadata: dict[str, str] | None = None,
    card: StripeObject | None = None,
) -> StripeObject:
    """A charge; failed charges carry Stripe's decline fields so clients see realistic failures."""
    ok = status == "succeeded"
    return {
        "id": object_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if ok and captured else 0,
        "amount_refunded": 0,
        "application_fee_amount": None,
        "balance_transaction": tok("txn") if ok else None,
        "billing_details": {
            "address": None,
            "email": customer_obj.get("email") if customer_obj else receipt_email,
            "name": customer_obj.get("name") if customer_obj else None,
            "phone": None,
        },
        "calculated_statement_descriptor": "SANDBOX INC",
        "captured": ok and captured,
        "created": created,
        "currency": currency,
        "customer": customer_obj["id"] if customer_obj else None,
        "description": description,
        "disputed": False,
        "failure_code": None if ok else "card_declined",
        "failure_message": None if ok else "Your card was declined.",
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "outcome": {
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else "generic_decline",
            "risk_level": "normal",
            "seller_message": "Payment complete." if ok else "The bank did not return any further details.",
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": payment_intent,
        "payment_method": tok("pm"),
        "payment_method_details": card or card_details("visa", "4242", 12, 2030),
        "receipt_email": receipt_email,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{object_id}",
        "refunded": False,
        "refunds": stripe_list([], f"/v1/charges/{object_id}/refunds"),
        "status": status,
        "statement_descriptor": None,
    }


def refund(
    object_id: str,
    created: int,
    tok: Tokens,
    *,
    charge_obj: StripeObject,
    amount: int,
    reason: str | None,
    metadata: dict[str, str] | None = None,
) -> StripeObject:
    """A succeeded refund of (part of) a charge; callers must also `apply_refund` to the charge."""
    return {
        "id": object_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": tok("txn"),
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "metadata": metadata or {},
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def apply_refund(charge_obj: StripeObject, refund_obj: StripeObject) -> None:
    """Keep the charge's refund summary consistent with a new refund."""
    charge_obj["amount_refunded"] += refund_obj["amount"]
    charge_obj["refunded"] = charge_obj["amount_refunded"] >= charge_obj["amount"]
    refunds = charge_obj["refunds"]
    refunds["data"].insert(0, refund_obj)
    refunds["total_count"] = len(refunds["data"])


def dispute(
    object_id: str, created: int, *, charge_obj: StripeObject, reason: str, status: str
) -> StripeObject:
    """A dispute on a charge, with an evidence deadline two weeks after it was opened."""
    return {
        "id": object_id,
        "object": "dispute",
        "amount": charge_obj["amount"],
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "evidence": {
            "customer_email_address": None,
            "customer_name": None,
            "product_description": None,
            "refund_policy_disclosure": None,
            "uncategorized_text": None,
        },
        "evidence_details": {
            "due_by": created + 14 * 86_400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "status": status,
    }


def payment_intent(
    object_id: str,
    created: int,
    tok: Tokens,
    *,
    amount: int,
    currency: str,
    customer_id: str | None,
    status: str,
    capture_method: str = "automatic",
    payment_method: str | None = None,
    description: str | None = None,
    receipt_email: str | None = None,
    metadata: dict[str, str] | None = None,
    payment_method_types: list[str] | None = None,
) -> StripeObject:
    """A PaymentIntent; `latest_charge` is filled in once it is confirmed."""
    return {
        "id": object_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{object_id}_secret_{tok('s')[2:]}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata or {},
        "next_action": None,
        "payment_method": payment_method,
        "payment_method_types": payment_method_types or ["card"],
        "receipt_email": receipt_email,
        "status": status,
    }


def tax_id(
    object_id: str, created: int, *, customer_id: str, kind: str, value: str, country: str | None
) -> StripeObject:
    """A customer tax id; verification starts as pending, as at Stripe."""
    return {
        "id": object_id,
        "object": "tax_id",
        "country": country,
        "created": created,
        "customer": customer_id,
        "livemode": False,
        "owner": {"customer": customer_id, "type": "customer"},
        "type": kind,
        "value": value,
        "verification": {"status": "pending", "verified_address": None, "verified_name": None},
    }

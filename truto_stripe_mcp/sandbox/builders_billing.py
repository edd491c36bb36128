"""Constructors for Stripe's billing objects: products, prices, subscriptions, invoices,
payment links. Shared by the seeder and the write operations."""

from __future__ import annotations

from typing import Any

from .builders import ACCOUNT_NAME, StripeObject, Tokens, stripe_list

INTERVAL_SECONDS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400, "year": 365 * 86_400}


def period_seconds(price_obj: StripeObject) -> int:
    """Length of one billing period (months are approximated as 30 days)."""
    recurring = price_obj.get("recurring") or {"interval": "month", "interval_count": 1}
    return INTERVAL_SECONDS[recurring["interval"]] * int(recurring.get("interval_count") or 1)


def product(
    object_id: str,
    created: int,
    *,
    name: str,
    description: str | None = None,
    active: bool = True,
    metadata: dict[str, str] | None = None,
) -> StripeObject:
    """A product (the thing sold); prices point at it."""
    return {
        "id": object_id,
        "object": "product",
        "active": active,
        "attributes": [],
        "created": created,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata or {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(
    object_id: str,
    created: int,
    *,
    product_id: str,
    unit_amount: int,
    currency: str,
    recurring: dict[str, Any] | None,
    nickname: str | None = None,
    active: bool = True,
    lookup_key: str | None = None,
    metadata: dict[str, str] | None = None,
) -> StripeObject:
    """A one-time price (`recurring=None`) or a recurring one with its interval."""
    full_recurring = None
    if recurring is not None:
        full_recurring = {
            "aggregate_usage": None,
            "interval": recurring["interval"],
            "interval_count": int(recurring.get("interval_count") or 1),
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    return {
        "id": object_id,
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata or {},
        "nickname": nickname,
        "product": product_id,
        "recurring": full_recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def subscription_item(
    tok: Tokens, created: int, sub_id: str, price_obj: StripeObject, quantity: int, start: int, end: int
) -> StripeObject:
    """One item of a subscription; embeds the full price like Stripe does."""
    return {
        "id": tok("si"),
        "object": "subscription_item",
        "created": created,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "price": price_obj,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(
    object_id: str,
    created: int,
    tok: Tokens,
    *,
    customer_id: str,
    items: list[tuple[StripeObject, int]],
    status: str,
    period_start: int,
    trial_end: int | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    cancel_at_period_end: bool = False,
) -> StripeObject:
    """A subscription whose current period starts at `period_start` (or ends at the trial end)."""
    first_price = items[0][0]
    period_end = trial_end if trial_end else period_start + period_seconds(first_price)
    data = [subscription_item(tok, created, object_id, p, q, period_start, period_end) for p, q in items]
    return {
        "id": object_id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": period_start,
        "cancel_at": period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": first_price["currency"],
        "current_period_end": period_end,
        "current_period_start": period_start,
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "description": description,
        "discount": None,
        "discounts": [],
        "ended_at": None,
        "items": stripe_list(data, f"/v1/subscription_items?subscription={object_id}"),
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "pause_collection": None,
        "start_date": created,
        "status": status,
        "trial_end": trial_end,
        "trial_start": created if trial_end else None,
    }


def invoice_line(
    tok: Tokens, price_obj: StripeObject, quantity: int, product_name: str, start: int, end: int
) -> StripeObject:
    """One invoice line for a subscription item over a billing period."""
    amount = price_obj["unit_amount"] * quantity
    return {
        "id": tok("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price_obj["currency"],
        "description": f"{quantity} × {product_name}",
        "livemode": False,
        "metadata": {},
        "period": {"end": end, "start": start},
        "price": price_obj,
        "quantity": quantity,
        "type": "subscription",
    }


def invoice(
    object_id: str,
    created: int,
    *,
    customer_obj: StripeObject,
    subscription_id: str | None,
    lines: list[StripeObject],
    period_start: int,
    period_end: int,
    billing_reason: str = "manual",
    collection_method: str = "charge_automatically",
    description: str | None = None,
    due_date: int | None = None,
    auto_advance: bool = True,
    metadata: dict[str, str] | None = None,
    currency: str = "usd",
) -> StripeObject:
    """A draft invoice with totals computed from its lines; finalize/pay/void move it on."""
    total = sum(line["amount"] for line in lines)
    return {
        "id": object_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": ACCOUNT_NAME,
        "amount_due": total,
        "amount_paid": 0,
        "amount_remaining": total,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": created,
        "currency": lines[0]["currency"] if lines else currency,
        "customer": customer_obj["id"],
        "customer_email": customer_obj.get("email"),
        "customer_name": customer_obj.get("name"),
        "description": description,
        "due_date": due_date,
        "ending_balance": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": stripe_list(lines, f"/v1/invoices/{object_id}/lines"),
        "livemode": False,
        "metadata": metadata or {},
        "number": None,
        "paid": False,
        "period_end": period_end,
        "period_start": period_start,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": subscription_id,
        "subtotal": total,
        "total": total,
        "webhooks_delivered_at": created,
    }


def finalize_invoice(inv: StripeObject, at: int, number: str) -> None:
    """draft -> open: numbered, payable, with hosted URLs."""
    inv["status"] = "open"
    inv["number"] = number
    inv["ending_balance"] = 0
    inv["status_transitions"]["finalized_at"] = at
    inv["hosted_invoice_url"] = f"https://invoice.stripe.com/i/acct_sandbox/test_{inv['id'][3:]}"
    inv["invoice_pdf"] = f"https://pay.stripe.com/invoice/acct_sandbox/test_{inv['id'][3:]}/pdf"


def pay_invoice(inv: StripeObject, at: int) -> None:
    """open -> paid."""
    inv["status"] = "paid"
    inv["paid"] = True
    inv["attempted"] = True
    inv["attempt_count"] += 1
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["status_transitions"]["paid_at"] = at


def void_invoice(inv: StripeObject, at: int) -> None:
    """open -> void: nothing more is owed."""
    inv["status"] = "void"
    inv["amount_remaining"] = 0
    inv["status_transitions"]["voided_at"] = at


def payment_link(
    object_id: str,
    tok: Tokens,
    *,
    line_items: list[tuple[StripeObject, int, str]],
    active: bool = True,
    allow_promotion_codes: bool = False,
    metadata: dict[str, str] | None = None,
) -> StripeObject:
    """Stripe payment links have no `created` field; the store orders them by insertion time."""
    items = []
    for price_obj, quantity, product_name in line_items:
        subtotal = price_obj["unit_amount"] * quantity
        items.append(
            {
                "id": tok("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": subtotal,
                "amount_tax": 0,
                "amount_total": subtotal,
                "currency": price_obj["currency"],
                "description": product_name,
                "price": price_obj,
                "quantity": quantity,
            }
        )
    return {
        "id": object_id,
        "object": "payment_link",
        "active": active,
        "after_completion": {"hosted_confirmation": {"custom_message": None}, "type": "hosted_confirmation"},
        "allow_promotion_codes": allow_promotion_codes,
        "billing_address_collection": "auto",
        "currency": items[0]["currency"] if items else "usd",
        "line_items": stripe_list(items, f"/v1/payment_links/{object_id}/line_items"),
        "livemode": False,
        "metadata": metadata or {},
        "url": f"https://buy.stripe.com/test_{tok('u')[2:]}",
    }

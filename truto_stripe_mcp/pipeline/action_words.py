"""Plain words for an approval: what a call is about to do, for whom, for how much.

"Refund $500.00 USD of charge ch_123 to jane@example.com?" is built from the upstream data
(the charge, the customer), read through a :data:`Reader` the caller provides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..catalog.spec import ToolSpec, singular

_ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def format_money(amount: Any, currency: Any) -> str:
    """``150000, "usd"`` -> ``$1,500.00 USD`` (minor units, zero-decimal currencies honoured)."""
    if not isinstance(amount, int) or not isinstance(currency, str):
        return f"{amount} {currency or ''}".strip()
    code = currency.lower()
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    return f"{_SYMBOLS.get(code, '')}{value} {code.upper()}"


def _label(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    details = obj.get("billing_details") if isinstance(obj.get("billing_details"), Mapping) else {}
    for key in ("email", "receipt_email", "customer_email", "name", "description", "nickname"):
        value = obj.get(key) or (details or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return ""


Reader = Callable[[str, str, Mapping[str, Any]], Awaitable[Mapping[str, Any] | None]]
"""``(resource, id, extra query) -> object or None``: reads upstream for the description."""


async def describe_action(spec: ToolSpec, arguments: Mapping[str, Any], read: Reader) -> str:
    """One sentence a person can approve: what, on which object, for how much, for whom."""
    noun = singular(spec.resource)
    extra = {key: value for key, value in arguments.items() if key == "customer"}
    if spec.resource == "refunds" and spec.method == "create":
        charge_id = arguments.get("charge")
        if not charge_id and arguments.get("payment_intent"):
            intent = await read("payment_intents", str(arguments["payment_intent"]), {})
            charge_id = (intent or {}).get("latest_charge")
        charge = await read("charges", str(charge_id), {}) if charge_id else None
        if charge:
            amount = arguments.get("amount", charge.get("amount", 0) - charge.get("amount_refunded", 0))
            who = _label(charge) or str(charge.get("customer") or "the customer")
            reason = f" (reason: {arguments['reason']})" if arguments.get("reason") else ""
            return f"Refund {format_money(amount, charge.get('currency'))} of charge {charge_id} to {who}{reason}?"
        return f"Refund charge {charge_id or arguments.get('payment_intent')} ({_summarise(arguments)})?"
    object_id = arguments.get("id")
    target = await read(spec.resource, str(object_id), extra) if object_id else None
    label = _label(target)
    if target and not label and target.get("customer"):
        customer = await read("customers", str(target["customer"]), {})
        label = _label(customer) or str(target["customer"])
    about = f"{noun} {object_id}" + (f" ({label})" if label else "")
    if target and isinstance(target.get("amount"), int):
        about += f" for {format_money(target['amount'], target.get('currency'))}"
    changes = _summarise({k: v for k, v in arguments.items() if k not in {"id", "customer"}})
    if spec.method == "delete":
        verb = "Cancel" if "subscription" in spec.resource else "Delete"
        return f"{verb} {about}?"
    if spec.method == "update":
        return f"Update {about}: {changes}?" if changes else f"Update {about}?"
    if spec.method == "create":
        return f"Create a {noun}" + (f" with {changes}" if changes else "") + "?"
    return (
        f"{spec.method.replace('_', ' ').capitalize()} {about}" + (f" ({changes})" if changes else "") + "?"
    )


def _summarise(arguments: Mapping[str, Any], limit: int = 200) -> str:
    text = ", ".join(f"{key}={value}" for key, value in arguments.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."

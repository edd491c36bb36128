"""Plain words for an approval: what a call is about to do, for whom, for how much.

"Refund $500.00 USD of charge ch_123 to jane@example.com?" is built from the upstream data
(the charge, the customer), read through a :data:`Reader` the caller provides. The call's
arguments follow in the words of :mod:`.preview_terms`: every money-relevant value first
and whole, the others shortened with a marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog.money_moving import money_moving
from ..catalog.spec import ToolSpec, singular
from .object_reads import Reader
from .preview_terms import format_money, preview_terms

REFUNDS = frozenset({("refunds", "create"), ("charge_refunds", "create"), ("charges", "refund")})
"""The calls that refund a charge, described from the charge itself."""


def _label(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    details = obj.get("billing_details") if isinstance(obj.get("billing_details"), Mapping) else {}
    for key in ("email", "receipt_email", "customer_email", "name", "description", "nickname"):
        value = obj.get(key) or (details or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def refunded_charge_id(spec: ToolSpec, arguments: Mapping[str, Any]) -> Any:
    """The charge a refund names (``charges.refund`` addresses it as ``id``)."""
    return arguments.get("id") if spec.resource == "charges" else arguments.get("charge")


def _parents(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """What may address the object beside its id (a nested resource's parent): the reader
    keeps only what the object's getter takes."""
    return {key: value for key, value in arguments.items() if key != "id"}


async def describe_action(spec: ToolSpec, arguments: Mapping[str, Any], read: Reader) -> str:
    """One sentence a person can approve: what, on which object, for how much, for whom."""
    verdict = money_moving(spec, arguments)
    money_names = verdict.arguments if verdict else frozenset()
    if (spec.resource, spec.method) in REFUNDS:
        return await _describe_refund(spec, arguments, read, money_names)
    noun = singular(spec.resource)
    object_id = arguments.get("id")
    target = await read(spec.resource, str(object_id), _parents(arguments)) if object_id else None
    label = _label(target)
    if target and not label and isinstance(target.get("customer"), str):
        customer = await read("customers", target["customer"], {})
        label = _label(customer) or target["customer"]
    about = noun + (f" {object_id}" if object_id else "") + (f" ({label})" if label else "")
    currency = target.get("currency") if target and isinstance(target.get("currency"), str) else None
    if target and isinstance(target.get("amount"), int):
        about += f" for {format_money(target['amount'], currency)}"
    changes = preview_terms(
        {key: value for key, value in arguments.items() if key != "id"},
        currency=currency,
        money_names=money_names,
        labels=await _customer_label(arguments, read, skip=bool(object_id)),
    ).sentence()
    if spec.method == "delete":
        verb = "Cancel" if "subscription" in spec.resource else "Delete"
        return f"{verb} {about}" + (f" ({changes})" if changes else "") + "?"
    if spec.method == "update":
        return f"Update {about}: {changes}?" if changes else f"Update {about}?"
    if spec.method == "create":
        article = "an" if noun[:1] in "aeiou" else "a"
        return f"Create {article} {noun}" + (f" with {changes}" if changes else "") + "?"
    return (
        f"{spec.method.replace('_', ' ').capitalize()} {about}" + (f" ({changes})" if changes else "") + "?"
    )


async def _customer_label(arguments: Mapping[str, Any], read: Reader, *, skip: bool) -> dict[str, str]:
    """Who the ``customer`` argument is (``jane@example.com``), unless the object's own label says it."""
    customer_id = arguments.get("customer")
    if skip or not isinstance(customer_id, str):
        return {}
    label = _label(await read("customers", customer_id, {}))
    return {"customer": label} if label else {}


async def _describe_refund(
    spec: ToolSpec, arguments: Mapping[str, Any], read: Reader, money_names: frozenset[str]
) -> str:
    charge_id = refunded_charge_id(spec, arguments)
    if not charge_id and arguments.get("payment_intent"):
        intent = await read("payment_intents", str(arguments["payment_intent"]), {})
        charge_id = (intent or {}).get("latest_charge")
    charge = await read("charges", str(charge_id), {}) if charge_id else None
    if not charge:
        rest = preview_terms(arguments, money_names=money_names).sentence()
        return (
            f"Refund charge {charge_id or arguments.get('payment_intent')}"
            + (f" ({rest})" if rest else "")
            + "?"
        )
    currency = charge.get("currency")
    amount = arguments.get("amount", charge.get("amount", 0) - charge.get("amount_refunded", 0))
    who = _label(charge) or str(charge.get("customer") or "the customer")
    reason = f" (reason: {arguments['reason']})" if arguments.get("reason") else ""
    said = {"id", "charge", "payment_intent", "amount", "reason"}
    rest = preview_terms(
        {key: value for key, value in arguments.items() if key not in said},
        currency=currency if isinstance(currency, str) else None,
        money_names=money_names,
    ).sentence(after_money=True)
    tail = f"; {rest}" if rest else ""
    return f"Refund {format_money(amount, currency)} of charge {charge_id} to {who}{reason}{tail}?"

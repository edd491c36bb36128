"""No question for a call that cannot work: checked on the upstream data before asking.

Asking a person to approve "Refund $0.00 USD of charge ch_1?" (a charge already refunded),
or the cancellation of a subscription that does not exist, wastes their attention and
teaches them to approve without reading. Before a call is put to a person, the objects it
is about are read (through the approval's :class:`~.object_reads.ReadOnce`, so the question
reads them no second time) and a call that cannot work ends here with the reason: no
question asked, nothing sent to Stripe.

Only definite answers stop a call: Stripe said the object does not exist, or its own
numbers show the refund cannot be made. An object that could not be read (a timeout, a
tool the catalog lacks) stops nothing: Stripe decides, after approval, as before.

The approval stage (:mod:`.approve`) runs these checks exactly when a person would be
asked, so a call under ``--confirm none`` pays no extra read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..catalog.spec import ToolSpec
from ..errors import ToolError
from .action_words import REFUNDS, refunded_charge_id
from .object_reads import ObjectMissing, ReadOnce
from .preview_terms import format_money

_ENDED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})


class CallCannotWork(ToolError):
    """The call was not made and no approval was asked: the upstream data shows it would fail."""

    def __init__(self, problem: str, *, code: str, param: str | None = None) -> None:
        self.problem = problem
        self.code = code
        self.param = param
        super().__init__(
            f"{problem} This call cannot work, so no approval was asked and nothing was sent to Stripe."
        )

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.agent_message(), "cannot_work": True, "code": self.code}
        if self.param:
            out["param"] = self.param
        return out


async def _required(read: ReadOnce, resource: str, object_id: str, param: str) -> Mapping[str, Any] | None:
    """The object, ``None`` when unknown; a definite absence ends the call."""
    try:
        return await read.lookup(resource, object_id, {})
    except ObjectMissing as missing:
        raise CallCannotWork(_sentence(missing.said), code="resource_missing", param=param) from None


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


async def _refund_can_work(spec: ToolSpec, arguments: Mapping[str, Any], read: ReadOnce) -> None:
    charge_id = refunded_charge_id(spec, arguments)
    intent_id = arguments.get("payment_intent")
    if not charge_id and not intent_id:
        raise CallCannotWork(
            "A refund needs the charge or the payment intent to refund: neither `charge` nor "
            "`payment_intent` was given.",
            code="parameter_missing",
            param="charge",
        )
    if not charge_id:
        intent = await _required(read, "payment_intents", str(intent_id), "payment_intent")
        if intent is None:
            return
        charge_id = intent.get("latest_charge")
        if not charge_id:
            raise CallCannotWork(
                f"Payment intent {intent_id} has no charge to refund (its status is {intent.get('status')}).",
                code="charge_not_refundable",
                param="payment_intent",
            )
    charge = await _required(
        read, "charges", str(charge_id), "charge" if spec.resource != "charges" else "id"
    )
    if charge is None:
        return
    currency = charge.get("currency")
    if charge.get("status") == "failed":
        raise CallCannotWork(
            f"Charge {charge_id} failed: nothing was paid, so there is nothing to refund.",
            code="charge_not_refundable",
            param="charge",
        )
    captured, refunded = charge.get("amount_captured"), charge.get("amount_refunded")
    if not charge.get("captured") or not isinstance(captured, int) or not isinstance(refunded, int):
        return  # refunding an uncaptured charge releases it: Stripe's call
    remaining = captured - refunded
    if charge.get("refunded") or remaining <= 0:
        raise CallCannotWork(
            f"Charge {charge_id} has already been refunded in full "
            f"({format_money(refunded, currency)} of {format_money(captured, currency)}).",
            code="charge_already_refunded",
            param="charge",
        )
    amount = arguments.get("amount")
    if isinstance(amount, int) and amount > remaining:
        raise CallCannotWork(
            f"The refund of {format_money(amount, currency)} is more than the "
            f"{format_money(remaining, currency)} left to refund on charge {charge_id} "
            f"({format_money(refunded, currency)} of {format_money(captured, currency)} already refunded).",
            code="amount_too_large",
            param="amount",
        )


async def _subscription_can_be_cancelled(
    spec: ToolSpec, arguments: Mapping[str, Any], read: ReadOnce
) -> None:
    subscription = await _target(spec, arguments, read)
    if subscription and subscription.get("status") in _ENDED_SUBSCRIPTION:
        raise CallCannotWork(
            f"Subscription {arguments.get('id')} has already ended (its status is {subscription['status']}).",
            code="subscription_ended",
            param="id",
        )


async def _target(spec: ToolSpec, arguments: Mapping[str, Any], read: ReadOnce) -> Mapping[str, Any] | None:
    """The object the call addresses by ``id``; Stripe's word that it does not exist ends the call."""
    object_id = arguments.get("id")
    if not isinstance(object_id, str) or spec.method == "create":
        return None
    try:
        return await read.lookup(spec.resource, object_id, {k: v for k, v in arguments.items() if k != "id"})
    except ObjectMissing as missing:
        raise CallCannotWork(_sentence(missing.said), code="resource_missing", param="id") from None


Check = Callable[[ToolSpec, Mapping[str, Any], ReadOnce], Awaitable[Any]]

CHECKS: dict[tuple[str, str], tuple[Check, ...]] = {
    **{call: (_refund_can_work,) for call in REFUNDS},
    ("subscriptions", "delete"): (_subscription_can_be_cancelled,),
    ("customer_subscriptions", "delete"): (_subscription_can_be_cancelled,),
}
"""Checks beyond the one every call gets (its ``id`` names an object that exists)."""


async def precheck(spec: ToolSpec, arguments: Mapping[str, Any], read: ReadOnce) -> None:
    """Raise :class:`CallCannotWork` when the upstream data shows this call would fail."""
    checks = CHECKS.get((spec.resource, spec.method))
    if checks is None:
        await _target(spec, arguments, read)
        return
    for check in checks:
        await check(spec, arguments, read)

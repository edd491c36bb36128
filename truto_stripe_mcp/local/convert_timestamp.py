"""``convert_timestamp``: epochs to ISO dates and back, and phrases to Stripe's ranges.

Agents misread and miscompute Unix epochs; this tool does the arithmetic for them, several
values at once, and turns "last 7 days" or "Q1 2024" into the ``gte``/``lte`` a filter takes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidArgumentsError
from ..pipeline.call import CallOutcome
from ..timestamps import ISO_MAX, TimestampError, is_plausible_epoch, parse_time, resolve_range, to_iso
from .tools import CallContext, LocalTool, ToolHost


async def _convert_timestamp(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    values = arguments.get("values") or []
    expression = arguments.get("range")
    if not values and not expression:
        raise InvalidArgumentsError("convert_timestamp", ["pass `values`, `range`, or both"])
    data: dict[str, Any] = {}
    if values:
        data["conversions"] = convert_values(values)
    if expression:
        data["range"] = describe_range(expression)
    data["now_iso"] = to_iso(int(datetime.now(UTC).timestamp()))
    return CallOutcome(data)


def describe_range(expression: str) -> dict[str, Any]:
    """A phrase such as ``last 7 days`` as Stripe's ``gte``/``lte`` epochs (inclusive)."""
    try:
        gte, lte = resolve_range(expression, datetime.now(UTC))
    except TimestampError as exc:
        raise InvalidArgumentsError("convert_timestamp", [str(exc)]) from None
    return {
        "expression": expression,
        "gte": gte,
        "lte": lte,
        "gte_iso": to_iso(gte),
        "lte_iso": to_iso(lte),
        "filter": {"gte": gte, "lte": lte},
    }


CONVERT_TIMESTAMP = LocalTool(
    name="convert_timestamp",
    title="Convert timestamps",
    agent_description=(
        "Epoch seconds <-> ISO 8601 UTC for several values, and phrases ('last 7 days', 'this month', "
        "'Q1 2024') -> gte/lte epochs."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "values": {
                "type": "array",
                "items": {"type": ["number", "string"]},
                "maxItems": 100,
                "description": "Epochs or ISO dates.",
            },
            "range": {"type": "string", "description": "e.g. 'last 7 days'"},
        },
        "additionalProperties": False,
    },
    handler=_convert_timestamp,
    open_world=False,
)


def convert_values(values: list[str | int | float]) -> list[dict[str, Any]]:
    """Convert each value for the ``convert_timestamp`` tool: ``{"input", "epoch", "iso"}``.

    A bad value yields ``{"input", "error"}`` without failing the others (milliseconds get a
    hint). An epoch outside 2000..2100 also gets a ``"warning"``: likely a mistake.
    """
    results: list[dict[str, Any]] = []
    for value in values:
        try:
            epoch = parse_time(value)
            if epoch > ISO_MAX and epoch // 1000 <= ISO_MAX:
                raise TimestampError(
                    f"{epoch} is too large for epoch seconds; if it is milliseconds, "
                    f"{epoch // 1000} = {to_iso(epoch // 1000)}."
                )
            entry: dict[str, Any] = {"input": value, "epoch": epoch, "iso": to_iso(epoch)}
        except TimestampError as exc:
            results.append({"input": value, "error": str(exc)})
            continue
        if not is_plausible_epoch(epoch):
            entry["warning"] = f"{epoch} is outside 2000..2100, unusual for a Stripe timestamp."
        results.append(entry)
    return results

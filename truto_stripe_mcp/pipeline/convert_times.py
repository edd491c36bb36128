"""Stage: ISO dates and phrases in time arguments become Stripe's epoch seconds.

Each argument is converted by the shape Stripe's schema gives it, a range filter or one
instant (see :mod:`~truto_stripe_mcp.time_arguments`), before the approval stage sees the
arguments: what a person approves is what will be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..errors import InvalidArgumentsError
from ..time_arguments import convert_time_arguments
from ..timestamps import TimestampError
from .call import CallOutcome, Next, ToolCall


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConvertTimes:
    """Stage: time arguments to epochs; ``now`` resolves phrases such as 'last 7 days'."""

    now: Callable[[], datetime] = field(default=_utc_now)

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        params = call.spec.time_params
        if not params or not params.keys() & call.arguments.keys():
            return await call_next(call)
        try:
            converted = convert_time_arguments(call.arguments, params, now=self.now())
        except TimestampError as exc:
            raise InvalidArgumentsError(call.spec.name, [str(exc)]) from None
        return await call_next(replace(call, arguments=converted))

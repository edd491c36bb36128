"""The shared rate-limit governor: one per upstream account, waited on before every request.

Every concurrent call takes a slot from one :class:`~.window.RateLimitState` before sending and
reports each response back, so when one response says the window is spent, the others wait
for the reset instead of each discovering the limit with a 429. Waits are reported as
:class:`Wait` (to logs and to the caller's progress listener).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from ..errors import ToolError
from .client import ProxyResponse
from .rate_limit_headers import parse_rate_limit_headers
from .retry_policy import format_epoch
from .window import RateLimitState

logger = logging.getLogger(__name__)

WaitListener = Callable[["Wait"], Awaitable[None]]

_UNREPORTED_WAIT = 0.05
"""Governor waits shorter than this are slept without a log line or progress notification:
after sleeping out a 429 the wall clock can lag the sleep by a hair, and "retrying in 0.0 s"
tells nobody anything."""


@dataclass(frozen=True)
class Wait:
    """A pause before the next attempt, as reported to progress listeners and logs."""

    tool: str
    delay: float
    reason: str
    next_attempt: int
    max_attempts: int

    def message(self) -> str:
        return (
            f"{self.reason}, retrying in {self.delay:.1f} s, "
            f"attempt {self.next_attempt} of {self.max_attempts}"
        )


class RateLimitedError(ToolError):
    """Waiting any longer would pass the call's deadline: stop now and say when to retry."""

    def __init__(self, message: str, reset_at: float | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at

    def details(self) -> dict[str, object]:
        out: dict[str, object] = {"message": self.agent_message(), "rate_limited": True}
        if self.reset_at is not None:
            out["retry_after"] = format_epoch(self.reset_at)
        return out


class RateLimitGovernor:
    """The shared view of one account's rate-limit window.

    ``acquire`` is called before every request and ``observe`` after every response;
    both run without awaiting between reading and updating the state, which is what
    makes an unlocked :class:`RateLimitState` safe on one event loop.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.state = RateLimitState()
        self._clock = clock
        self._sleep = sleep

    async def acquire(
        self, *, tool: str, deadline: float, on_wait: WaitListener | None, attempt: int, max_attempts: int
    ) -> int:
        """Wait until a slot is free and take it; returns the window the slot belongs to.

        Hand that window back to :meth:`observe` with the response, so a slow answer from an
        earlier window cannot overwrite what later answers said about the current one.
        """
        while True:
            now = self._clock()
            wait = self.state.reserve(now)
            if wait <= 0:
                return self.state.generation
            reset_at = now + wait
            if reset_at > deadline:
                when = format_epoch(reset_at)
                raise RateLimitedError(
                    f"Rate limited by Stripe: the limit resets at {when} (in {math.ceil(wait)} s), past "
                    f"this call's deadline. Nothing was sent; retry the call after {when}.",
                    reset_at=reset_at,
                )
            if wait < _UNREPORTED_WAIT:
                await self._sleep(wait)
                continue
            pause = Wait(tool, wait, "rate limit window spent", attempt, max_attempts)
            logger.info("%s: waiting %.2f s for the rate-limit window to reset", tool, wait)
            if on_wait is not None:
                await on_wait(pause)
            await self._sleep(wait)

    def observe(self, response: ProxyResponse, generation: int | None = None) -> None:
        """Fold a response's rate-limit headers (and a 429's block) into the shared state."""
        now = self._clock()
        info = parse_rate_limit_headers(response.headers, now)
        self.state.observe(info, response.status, now, generation)

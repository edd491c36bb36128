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
from typing import Protocol

import anyio

from ..errors import StateUnavailableError, ToolError
from .client import ProxyResponse
from .rate_limit_headers import DEFAULT_MAX_BLOCK, RateLimitInfo, parse_rate_limit_headers
from .retry_policy import format_epoch
from .window import RateLimitState

logger = logging.getLogger(__name__)

WaitListener = Callable[["Wait"], Awaitable[None]]

_UNREPORTED_WAIT = 0.05
"""Governor waits shorter than this are slept without a log line or progress notification:
after sleeping out a 429 the wall clock can lag the sleep by a hair, and "retrying in 0.0 s"
tells nobody anything."""
_RETRY_SHARED_AFTER = 5.0
"""Seconds this process keeps its own estimate after the shared window could not be reached."""


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


class SharedWindow(Protocol):
    """Where the account's window lives: every process serving the account draws from it
    (:class:`~truto_stripe_mcp.state.store.StateStore` is one)."""

    where: str

    async def reserve_slot(self, now: float, max_block: float = ...) -> tuple[float, int]: ...

    async def observe_window(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None,
        max_block: float = ...,
    ) -> None: ...


class RateLimitGovernor:
    """The view of one account's rate-limit window that every call waits on.

    ``acquire`` is called before every request and ``observe`` after every response. The
    window lives in ``shared`` (one budget for every process serving the account) or, with
    none, in this process. If the shared window cannot be reached, calls go on with this
    process's own estimate (reads keep working; writes are stopped earlier, by the
    idempotency stage) and the shared one is tried again after :data:`_RETRY_SHARED_AFTER`.

    No wait the window imposes is longer than ``max_block``: after it, the server is asked again.
    """

    def __init__(
        self,
        shared: SharedWindow | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        max_block: float = DEFAULT_MAX_BLOCK,
    ) -> None:
        self.shared = shared
        self.max_block = max_block
        self.state = RateLimitState()
        """This process's own estimate: the window without ``shared``, the fallback with it."""
        self._clock = clock
        self._sleep = sleep
        self._shared_down_until = 0.0
        self._last_429: tuple[str, float] | None = None
        """The source of the last 429 this process saw, and until when its block can last."""

    async def _reserve(self, now: float) -> tuple[float, int]:
        if self.shared is not None and now >= self._shared_down_until:
            try:
                return await self.shared.reserve_slot(now, self.max_block)
            except StateUnavailableError as exc:
                self._shared_unreachable(now, exc)
        wait = self.state.reserve(now, self.max_block)
        return wait, self.state.generation

    def _shared_unreachable(self, now: float, exc: StateUnavailableError) -> None:
        logger.warning("rate-limit window: %s; using this process's own estimate for now", exc)
        self._shared_down_until = now + _RETRY_SHARED_AFTER

    async def acquire(
        self, *, tool: str, deadline: float, on_wait: WaitListener | None, attempt: int, max_attempts: int
    ) -> int:
        """Wait until a slot is free and take it; returns the window the slot belongs to.

        Hand that window back to :meth:`observe` with the response, so a slow answer from an
        earlier window cannot overwrite what later answers said about the current one.
        """
        while True:
            now = self._clock()
            wait, generation = await self._reserve(now)
            if wait <= 0:
                return generation
            reset_at = now + wait
            if reset_at >= deadline:  # a wait that ends at the deadline leaves no time to send
                when = format_epoch(reset_at)
                raise RateLimitedError(
                    f"{self._limited_by(now)}: the limit resets at {when} (in {math.ceil(wait)} s), past "
                    f"this call's deadline. Nothing was sent. Retry the call after {when}.",
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

    def _limited_by(self, now: float) -> str:
        """Who set the limit being waited for, in the words the 429's own retry used: a 429 this
        process saw names its source (Truto's own limit, or Stripe's passed through); a window
        learnt otherwise (headers, another process's 429) names none rather than guess."""
        if self._last_429 is not None and now < self._last_429[1]:
            return f"Rate limited by {self._last_429[0]} (429)"
        return "Rate limited (this account's rate-limit window is spent)"

    async def observe(self, response: ProxyResponse, generation: int | None = None) -> None:
        """Fold a response's rate-limit headers (and a 429's block) into the window."""
        now = self._clock()
        info = parse_rate_limit_headers(response.headers, now)
        if response.status == 429:
            block = info.wait_seconds if info.wait_seconds is not None else 1.0
            self._last_429 = ("Stripe" if response.remote_error else "Truto", now + block + 1.0)
        if self.shared is not None and now >= self._shared_down_until:
            try:
                await self.shared.observe_window(info, response.status, now, generation, self.max_block)
                return
            except StateUnavailableError as exc:
                self._shared_unreachable(now, exc)
        self.state.observe(info, response.status, now, generation, self.max_block)

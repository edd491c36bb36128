"""Sending with backoff: the I/O half of the rate-limit design.

:mod:`~truto_stripe_mcp.ratelimit` decides (pure functions); this module waits and
sends. One :class:`RateLimitGovernor` per upstream account is shared by every concurrent
call, so when one response says the window is spent, the others wait for the reset
instead of each discovering the limit with a 429.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio

from .client import ProxyRequest, ProxyResponse
from .errors import ToolError, TransportError, UpstreamError
from .ratelimit import RetryPolicy, format_epoch, parse_rate_limit_headers
from .ratelimit_state import RateLimitState

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


class Sender(Protocol):
    async def send(self, request: ProxyRequest) -> ProxyResponse: ...


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


class RetryingSender:
    """Sends a request until it succeeds, fails for good, or the policy's bounds end it.

    A request is sent again only with the same ``Idempotency-Key`` it first carried
    (set by the caller for every mutation), so a retry after a lost response can never
    perform the mutation twice.
    """

    def __init__(
        self,
        client: Sender,
        policy: RetryPolicy,
        governor: RateLimitGovernor,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.policy = policy
        self.governor = governor
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.retries = 0

    async def send(self, request: ProxyRequest, *, on_wait: WaitListener | None = None) -> ProxyResponse:
        if request.is_mutation and not request.idempotency_key:
            raise ValueError("a mutation must carry an Idempotency-Key before it may be retried")
        policy = self.policy
        started = self._clock()
        deadline = started + policy.deadline
        attempt = 0
        while True:
            attempt += 1
            window = await self.governor.acquire(
                tool=request.tool,
                deadline=deadline,
                on_wait=on_wait,
                attempt=attempt,
                max_attempts=policy.max_attempts,
            )
            response: ProxyResponse | None = None
            failure: TransportError | None = None
            try:
                response = await self.client.send(request)
            except TransportError as exc:
                failure = exc
            if response is not None:
                self.governor.observe(response, window)
                if response.ok:
                    return response
            decision = policy.decide(
                attempt=attempt,
                status=response.status if response is not None else None,
                headers=response.headers if response is not None else None,
                remote_error=response.remote_error if response is not None else False,
                transport_error=failure is not None,
                started_at=started,
                now=self._clock(),
                rand=self._rand(),
            )
            if not decision.retry:
                if decision.give_up:
                    logger.info("%s: giving up: %s", request.tool, decision.give_up)
                    if decision.kind == "rate_limited":
                        raise RateLimitedError(decision.give_up, reset_at=decision.reset_at)
                    raise _gave_up(decision.give_up, response, failure)
                if failure is not None:
                    raise failure
                assert response is not None
                raise UpstreamError.from_response(response.status, response.body, response.headers)
            self.retries += 1
            pause = Wait(request.tool, decision.delay, decision.reason, attempt + 1, policy.max_attempts)
            logger.info("%s: %s", request.tool, pause.message())
            if on_wait is not None:
                await on_wait(pause)
            await self._sleep(decision.delay)


def _gave_up(message: str, response: ProxyResponse | None, failure: TransportError | None) -> ToolError:
    """The last error, keeping its type (callers tell transport from HTTP errors), plus why we stopped."""
    if response is not None:
        error = UpstreamError.from_response(response.status, response.body, response.headers)
        error.note = message
        return error
    return TransportError(f"{failure.agent_message() if failure else 'The request failed.'} {message}")

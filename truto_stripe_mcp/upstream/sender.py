"""Sending with backoff: the I/O half of the retry design.

:mod:`.retry_policy` decides (pure); this module waits and resends, each attempt after a
slot from the account's :class:`~.governor.RateLimitGovernor`. A write is only ever resent
with the Idempotency-Key it first carried, so a lost response can never make it happen twice.
The call's deadline bounds everything, the attempt in flight included: each attempt's
timeout is cut to the time left, and an attempt still waiting when the deadline comes is
abandoned there.
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

from ..errors import DeadlineError, KeyInUseError, ToolError, TransportError, UpstreamError
from .client import ProxyRequest, ProxyResponse
from .governor import RateLimitedError, RateLimitGovernor, Wait, WaitListener
from .retry_policy import KEY_IN_USE, RetryDecision, RetryPolicy

logger = logging.getLogger(__name__)

_DEADLINE_SLACK = 0.01
"""A timeout this close to the deadline was the deadline's: the attempt's timeout was cut to it."""


class Sender(Protocol):
    async def send(self, request: ProxyRequest, *, time_left: float | None = None) -> ProxyResponse: ...


@dataclass
class _Attempts:
    """What the attempts of one call have learnt so far."""

    sent: int = 0
    """Requests sent (or tried)."""
    waiting_on_key: int = 0
    """Of those, answered "the key is still in use": they do not count toward ``max_attempts``."""
    reached: bool = False
    """Some attempt may have reached Truto (a write may have happened)."""

    @property
    def counted(self) -> int:
        return self.sent - self.waiting_on_key


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

    async def send(
        self,
        request: ProxyRequest,
        *,
        on_wait: WaitListener | None = None,
        deadline_at: float | None = None,
    ) -> ProxyResponse:
        """The answer, or the error that ended the call; ``deadline_at`` (epoch) is when the call
        must be over (default: the policy's deadline from now)."""
        if request.is_mutation and not request.idempotency_key:
            raise ValueError("a mutation must carry an Idempotency-Key before it may be retried")
        policy = self.policy
        started = self._clock()
        deadline = deadline_at if deadline_at is not None else started + policy.deadline
        attempts = _Attempts()
        while True:
            window = await self.governor.acquire(
                tool=request.tool,
                deadline=deadline,
                on_wait=on_wait,
                attempt=attempts.counted + 1,
                max_attempts=policy.max_attempts,
            )
            left = deadline - self._clock()
            if left <= 0:
                raise self._deadline_came(request, attempts)
            attempts.sent += 1
            response, failure = await self._attempt(request, left)
            if failure is not None:
                attempts.reached = attempts.reached or failure.sent
                if failure.sent and self._clock() >= deadline - _DEADLINE_SLACK:
                    raise self._deadline_came(request, attempts)  # its timeout was cut to the deadline
            elif response is None:  # abandoned in flight at the deadline
                attempts.reached = True
                raise self._deadline_came(request, attempts)
            if response is not None:
                attempts.reached = True
                await self.governor.observe(response, window)
                if response.ok:
                    return response
            decision = policy.decide(
                attempt=max(1, attempts.counted),
                status=response.status if response is not None else None,
                headers=response.headers if response is not None else None,
                remote_error=response.remote_error if response is not None else False,
                transport_error=failure is not None,
                started_at=started,
                now=self._clock(),
                rand=self._rand(),
                error_code=response.stripe_code if response is not None else None,
                deadline_at=deadline,
            )
            if decision.kind == "in_progress":
                attempts.waiting_on_key += 1
            if not decision.retry:
                raise _final_error(request, decision, response, failure, attempts)
            self.retries += 1
            pause = Wait(
                request.tool, decision.delay, decision.reason, attempts.counted + 1, policy.max_attempts
            )
            logger.info("%s: %s", request.tool, pause.message())
            if on_wait is not None:
                await on_wait(pause)
            await self._sleep(decision.delay)

    async def _attempt(
        self, request: ProxyRequest, left: float
    ) -> tuple[ProxyResponse | None, TransportError | None]:
        """One request: its answer, or why none came; neither when the call's deadline came
        while it was in flight (a slow body included), which abandons it."""
        with anyio.move_on_after(left):
            try:
                return await self.client.send(request, time_left=left), None
            except TransportError as exc:
                return None, exc
        return None, None

    def _deadline_came(self, request: ProxyRequest, attempts: _Attempts) -> DeadlineError:
        deadline = f"{math.ceil(self.policy.deadline)} s"
        tried = f" ({attempts.sent} attempts)" if attempts.sent > 1 else ""
        logger.info("%s: the deadline came with no answer%s", request.tool, tried)
        if not attempts.reached:
            return DeadlineError(
                f"This call's {deadline} deadline came before the {request.tool} request reached Truto{tried}, "
                "so nothing was sent.",
                sent=False,
                advice="Retry the call in a minute or so.",
            )
        return DeadlineError(
            f"Truto had not answered the {request.tool} request{tried} when this call's {deadline} deadline "
            "came, so the call stopped waiting.",
            advice="Retry the call; if this keeps happening, Truto or Stripe is slow right now.",
        )


def _final_error(
    request: ProxyRequest,
    decision: RetryDecision,
    response: ProxyResponse | None,
    failure: TransportError | None,
    attempts: _Attempts,
) -> ToolError:
    """The error that ends the call: the last one, keeping its type (callers tell transport from
    HTTP errors), plus why the bounds stopped the retries."""
    if decision.stopped is not None:
        logger.info("%s: giving up: %s", request.tool, decision.give_up)
    if decision.kind == "rate_limited" and decision.give_up is not None:
        return RateLimitedError(decision.give_up, reset_at=decision.reset_at)
    if decision.kind == "in_progress" and decision.stopped is not None:
        return KeyInUseError(
            f"Stripe was still processing an earlier {request.tool} request with this call's "
            f"Idempotency-Key (HTTP 409 {KEY_IN_USE}) when this call's deadline came.",
            advice=decision.hint,
            status=409,
            stripe_code=KEY_IN_USE,
        )
    if response is not None:
        error = UpstreamError.from_response(response.status, response.body, response.headers)
        if decision.give_up is not None:
            error.note = decision.give_up
        return error
    summary = failure.summary if failure is not None else "The request failed."
    if decision.stopped is not None:
        summary = f"{summary} {decision.stopped}"
    advice = decision.hint if decision.stopped is not None else (failure.advice if failure else "")
    return TransportError(summary, sent=attempts.reached, advice=advice)

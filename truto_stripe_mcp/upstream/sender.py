"""Sending with backoff: the I/O half of the retry design.

:mod:`.retry_policy` decides (pure); this module waits and resends, each attempt after a
slot from the account's :class:`~.governor.RateLimitGovernor`. A write is only ever resent
with the Idempotency-Key it first carried, so a lost response can never make it happen twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from ..errors import ToolError, TransportError, UpstreamError
from .client import ProxyRequest, ProxyResponse
from .governor import RateLimitedError, RateLimitGovernor, Wait, WaitListener
from .retry_policy import RetryPolicy

logger = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, request: ProxyRequest) -> ProxyResponse: ...


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
                await self.governor.observe(response, window)
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

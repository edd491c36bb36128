"""The answers to one run's ``tools.*`` calls, from the moment a call is made until the program takes
its answer.

In Monty an async host function returns a future: the program goes on at once and waits only
where it awaits. So reads run concurrently (``asyncio.gather`` over twenty retrievals costs one
round trip's time, not twenty), a few at a time; a write first waits for every read before it,
and runs alone, the program held until it is answered: what a person approves, and what a paused
run resumes at, is then one call with nothing else in flight.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from anyio.abc import TaskGroup

MAX_CONCURRENT_READS = 8
"""Reads in flight at once for one program: enough to overlap round trips, few enough that one
program cannot crowd out the account's rate limit (the governor paces whatever is sent)."""

Answer = dict[str, Any]
"""What Monty resumes a call with: ``{"return_value": ...}`` or ``{"exc_type": ..., "message": ...}``."""


class Answers:
    """Answers by call id: those ready, and the reads still running."""

    def __init__(self, undelivered: dict[int, Answer] | None = None) -> None:
        self.ready: dict[int, Answer] = dict(undelivered or {})
        self._running = 0
        self._changed = anyio.Event()
        self._failure: BaseException | None = None
        self._limiter = anyio.CapacityLimiter(MAX_CONCURRENT_READS)

    def start(self, group: TaskGroup, call_id: int, answer: Callable[[], Awaitable[Answer]]) -> None:
        """Answer a read in the background; the first failure that is not an answer ends the run."""
        self._running += 1
        group.start_soon(self._answer, call_id, answer)

    async def _answer(self, call_id: int, answer: Callable[[], Awaitable[Answer]]) -> None:
        try:
            async with self._limiter:
                self.ready[call_id] = await answer()
        except Exception as exc:  # a limit reached, or a bug: the run stops with it
            if self._failure is None:
                self._failure = exc
        finally:
            self._running -= 1
            self._changed.set()

    async def settle(self) -> None:
        """Wait until no read is running (before a write)."""
        while self._running:
            await self._next_change()
        self._raise_failure()

    async def take(self, call_ids: Iterable[int]) -> dict[int, Answer]:
        """The answers ready among ``call_ids``, waiting for at least one."""
        wanted = list(call_ids)
        while not any(call_id in self.ready for call_id in wanted):
            self._raise_failure()
            if not self._running:
                raise RuntimeError(f"no answer is coming for calls {wanted}")
            await self._next_change()
        self._raise_failure()
        return {call_id: self.ready.pop(call_id) for call_id in wanted if call_id in self.ready}

    async def _next_change(self) -> None:
        self._changed = anyio.Event()
        await self._changed.wait()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

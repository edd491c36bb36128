"""Approval on a page the person opens, and the record of their answer.

A client that cannot show a question gets a link instead: a page on loopback, served by
this process (:mod:`truto_stripe_mcp.serve.approval_page`), with the question and
Approve / Decline. The answer is kept in the shared state under the call's fingerprint
and the session that asked, so the identical call repeated by that session finds it and
runs once, without asking again, on whichever process of the account serves the repeat
(a sessionless replica behind a load balancer included). A call may also wait here for
the answer, bounded, while the page is open.

This module only keeps records and waits; how a page is shown is the
:class:`ApprovalPages` the MCP layer provides (pipeline stages never import ``serve/``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

import anyio

from ..state.store import StateStore

Answer = Literal["pending", "approved", "declined"]
AnswerListener = Callable[[Literal["approved", "declined"]], Awaitable[None]]
"""Called by the page when the person answers; raises if the answer could not be kept."""
WaitListener = Callable[[float], Awaitable[None]]
"""Told, now and then while a call waits, how many seconds the wait may still last."""

POLL_INTERVAL = 1.0
"""While waiting for an answer given on another process's page, read the state this often."""
TICK_INTERVAL = 5.0
"""While waiting, tell the client (progress) this often."""


@dataclass(frozen=True)
class PageQuestion:
    """What the page shows: the plain-words question, and the exact call it approves."""

    description: str
    tool: str
    arguments: Mapping[str, Any]


class ApprovalPages(Protocol):
    """Shows questions on pages a person opens in a browser (the MCP layer's page server)."""

    async def open(
        self, question: PageQuestion, expires_at: float, on_answer: AnswerListener
    ) -> tuple[str, str]:
        """Show ``question`` on a new page until ``expires_at``; return the page's id and URL."""
        ...


@dataclass(frozen=True)
class PageApproval:
    """One page's record in the shared state."""

    id: str
    url: str
    answer: Answer
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PageApproval:
        data = json.loads(text)
        return cls(str(data["id"]), str(data["url"]), data["answer"], float(data["expires_at"]))


class PageApprovals:
    """Open pages, keep what the person answered, and let one identical call use it, once."""

    def __init__(
        self,
        store: StateStore,
        pages: ApprovalPages,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pages = pages
        self.ttl = ttl
        self._clock = clock
        self._answered: dict[str, anyio.Event] = {}

    def now(self) -> float:
        return self._clock()

    @staticmethod
    def _key(fingerprint: str, session: str) -> str:
        """Where the record of this call, asked in this session, is kept."""
        return hashlib.sha256(f"page\n{session}\n{fingerprint}".encode()).hexdigest()[:40]

    async def current(self, fingerprint: str, session: str) -> PageApproval | None:
        """The live page for this call in this session, answered or not."""
        text = await self.store.read_approval(self._key(fingerprint, session), self._clock())
        return PageApproval.from_json(text) if text is not None else None

    async def open(self, fingerprint: str, session: str, question: PageQuestion) -> PageApproval:
        """A new page for this call; its record is pending until the person answers."""
        key = self._key(fingerprint, session)
        expires_at = self._clock() + self.ttl
        self._answered = {name: event for name, event in self._answered.items() if not event.is_set()}
        answered = self._answered[key] = anyio.Event()
        approval: PageApproval | None = None

        async def on_answer(answer: Literal["approved", "declined"]) -> None:
            assert approval is not None
            await self.store.put_approval(
                key, replace(approval, answer=answer).to_json(), self._clock(), expires_at
            )
            answered.set()

        page_id, url = await self.pages.open(question, expires_at, on_answer)
        approval = PageApproval(page_id, url, "pending", expires_at)
        await self.store.put_approval(key, approval.to_json(), self._clock(), expires_at)
        return approval

    async def take(self, approval: PageApproval) -> bool:
        """Use this answer for one call; False if another call already used it."""
        return await self.store.use_token(f"page_{approval.id}", self._clock(), approval.expires_at)

    async def wait(
        self,
        fingerprint: str,
        session: str,
        timeout: float,
        on_tick: WaitListener | None = None,
    ) -> PageApproval | None:
        """The record once answered, or as it is after ``timeout`` seconds; None once expired.

        An answer given on this process's page ends the wait at once; one given on another
        process's page is seen within :data:`POLL_INTERVAL`.
        """
        key = self._key(fingerprint, session)
        deadline = self._clock() + timeout
        next_tick = self._clock()
        while True:
            answered = self._answered.get(key)
            if answered is not None and answered.is_set():
                answered = None  # set before this read: the answer is in the record below
            approval = await self.current(fingerprint, session)
            now = self._clock()
            if approval is None or approval.answer != "pending" or now >= deadline:
                return approval
            if on_tick is not None and now >= next_tick:
                await on_tick(min(deadline, approval.expires_at) - now)
                next_tick = now + TICK_INTERVAL
            pause = min(deadline, next_tick if on_tick else deadline, now + POLL_INTERVAL) - now
            with anyio.move_on_after(max(pause, 0.0)):
                if answered is not None:
                    await answered.wait()
                else:
                    await anyio.sleep_forever()

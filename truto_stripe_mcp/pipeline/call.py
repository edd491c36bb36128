"""What flows through the pipeline: one tool call on its way in, its outcome on the way back.

A stage is ``async (call, call_next) -> outcome``, the shape of Starlette's middleware and
of the MCP SDK's own ``ServerMiddleware``: it may look at or replace the call before
passing it on, and look at or replace the outcome on its way back. Calls are immutable;
a stage hands the next one ``dataclasses.replace(call, ...)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..shaping import compact_json

if TYPE_CHECKING:
    from ..catalog.spec import ToolSpec
    from ..upstream.governor import WaitListener
    from .approval_gate import ApprovalGate


@dataclass(frozen=True)
class ToolCall:
    """One call of a catalog tool, as each stage has left it for the next."""

    spec: ToolSpec
    arguments: dict[str, Any]
    """The agent's arguments: raw at first; checked, then converted, by the stages."""
    on_wait: WaitListener | None = None
    gate: ApprovalGate | None = None
    """How this request reaches the person for an approval (None: the token path)."""
    budget: bool = True
    """Cut the result to the result budget (an internal read for a preview or a page is not cut)."""
    lean: bool = True
    """Leave out the fields that hold nothing (an internal read for a preview sees them all)."""
    fields: tuple[str, ...] = ()
    """The agent's `fields`, parsed: only these paths come back."""
    idempotency_key: str | None = None
    """The agent's own `idempotency_key`, or the one the dedupe window chose, once a stage set it."""
    confirmation_token: str | None = None
    """The agent's `confirmation_token`, set aside for the approval stage."""
    deadline_at: float | None = None
    """When (epoch) the call must be over, once approved; None: the sender's deadline from sending."""


@dataclass(frozen=True)
class CallOutcome:
    """A successful call: the upstream JSON, plus notes the agent should read with it."""

    data: dict[str, Any]
    notes: tuple[str, ...] = ()
    text: str | None = None
    """``data`` as compact JSON, when a stage already encoded it (to check the budget)."""
    replayed: bool = field(default=False, compare=False)
    """Stripe said this answer is a replay of an earlier request with the same key."""

    def json_text(self) -> str:
        return self.text if self.text is not None else compact_json(self.data)


Next = Callable[[ToolCall], Awaitable[CallOutcome]]
"""The rest of the pipeline, from a stage's point of view."""


class Stage(Protocol):
    """One step of every catalog tool call: see :mod:`.chain` for the order."""

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome: ...

"""The pipeline every catalog tool call takes, assembled here and only here.

Read top to bottom, a call goes in through each stage and its outcome comes back out
through them in reverse, as with Starlette's middleware stack::

    CheckArguments       refuse what the schema rejects; set fields, key and token aside
    ShapeResult          (on the way back) fields, empties left out, ISO timestamps, the budget
    ConvertTimes         ISO dates and phrases -> Stripe's epochs, by each argument's shape
    Approve              a person approves money-moving and destructive calls
    AssignIdempotencyKey every write gets its Idempotency-Key; replays are told as such
    Send                 routed onto the Proxy API, sent with backoff (the endpoint)

The order is data (:attr:`Pipeline.stages`), and it matters: approval sees the checked
and converted arguments its fingerprint covers; the key is assigned only once the call
is approved; shaping sees what Stripe answered, after any replay note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .action_words import Reader
from .approval_tokens import ConfirmationTokens
from .approve import Approve
from .call import CallOutcome, Next, Stage, ToolCall
from .check_arguments import CheckArguments
from .convert_times import ConvertTimes
from .idempotency import AssignIdempotencyKey, IdempotencyKeys
from .send import Send
from .shape import ShapeResult


def chain(stages: Sequence[Stage], endpoint: Next) -> Next:
    """``stages`` wrapped around ``endpoint``: the first stage sees the call first."""
    handler = endpoint
    for stage in reversed(stages):
        handler = _bound(stage, handler)
    return handler


def _bound(stage: Stage, call_next: Next) -> Next:
    async def run(call: ToolCall) -> CallOutcome:
        return await stage(call, call_next)

    return run


@dataclass(frozen=True)
class Pipeline:
    """The stages and the endpoint, chained once (each call only walks the chain)."""

    stages: tuple[Stage, ...]
    endpoint: Send
    _run: Next = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_run", chain(self.stages, self.endpoint))

    async def __call__(self, call: ToolCall) -> CallOutcome:
        return await self._run(call)


@dataclass(frozen=True)
class PipelineSettings:
    """What the stages are told by the server's configuration."""

    max_argument_bytes: int
    iso_timestamps: bool
    result_budget: int
    confirm: str
    deadline: float = 45.0
    """A call's time bound: also the longest wait for an identical write in flight."""
    keep_empty: bool = False
    """Keep null, ``{}`` and ``[]`` fields in results (by default they are left out)."""
    approval: str = "page"
    """Where no person can be asked: ``page`` says what the call would do, ``token`` gives a token."""


def build_pipeline(
    settings: PipelineSettings,
    *,
    send: Send,
    keys: IdempotencyKeys,
    tokens: ConfirmationTokens,
    read: Reader,
) -> Pipeline:
    """The one order every catalog tool call takes (see the module docstring)."""
    return Pipeline(
        stages=(
            CheckArguments(settings.max_argument_bytes),
            ShapeResult(settings.iso_timestamps, settings.result_budget, settings.keep_empty),
            ConvertTimes(),
            Approve(tokens, settings.confirm, read, settings.approval),
            AssignIdempotencyKey(keys, wait_for=settings.deadline),
        ),
        endpoint=send,
    )

"""The host side of the program's ``tools`` module: every call answered through the runner.

``await tools.NAME(**arguments)`` is the tool call an agent would make, on the same path
(:meth:`ToolHost.resolve` then :meth:`ToolHost.run`): the selection and read-only filters,
the argument check, time conversion, approval, the Idempotency-Key and its dedupe window,
the rate-limit governor and backoff, and shaping. Only the result budget is left out, since
the result goes to the program, not into a model's context; the program's own result is cut
to it instead. ``tools.paginate`` walks a list tool page by page on that same path.

What a call's failure does to the program:

* a tool error (Stripe said no, a refused or unknown tool, bad arguments, the person declined)
  is raised inside the program as a ``RuntimeError`` it may catch (:class:`CallFailed`);
* a write waiting on the person's approval (the token path, or a client that asks in a
  separate round trip) stops the run before that write, resumable there (:class:`PauseBefore`);
* the run's call limit stops the run (:class:`LimitReached`), whatever the program catches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ...catalog.spec import ToolSpec
from ...errors import ToolError
from ...pipeline.approval_gate import ApprovalPending, ConfirmationRequired, InputNeeded, needs_confirmation
from ...pipeline.call import CallOutcome
from ...redaction import contains_secret, redact_value
from ..pagination import MAX_ITEMS_LIMIT, MAX_PAGES_LIMIT, walk
from ..tools import CallContext, ToolHost
from .program_errors import CallFailed, LimitReached, PauseBefore
from .stubs import DEFAULT_MAX_ITEMS, PAGINATE

_MAX_NOTES = 20
_SLOW_WITHOUT_FIELDS = 250
"""Items from which a walk without ``fields`` earns a note: every field of every item crosses into
the interpreter, and converting them costs more than reading them."""
StoppedClock = Callable[[], AbstractContextManager[None]]


class Progress:
    """Progress notifications for one run: a count that only grows, and what is happening."""

    def __init__(self, ctx: CallContext) -> None:
        self._listener = ctx.on_progress
        self.count = 0

    async def report(self, message: str) -> None:
        if self._listener is not None:
            self.count += 1
            await self._listener(self.count, None, message)


def _failed(error: ToolError, tool: str | None = None) -> CallFailed:
    """A tool error as the program sees it: ``RuntimeError`` with the message an agent would read.

    One type for every failure (Stripe said no, refused, declined, bad arguments), since a program
    reacts to the message; and ``RuntimeError`` because Monty's type checker knows it (it does not
    know ``PermissionError``)."""
    message = error.agent_message()
    return CallFailed("RuntimeError", f"{tool}: {message}" if tool else message)


def _answered_once(gate: Any) -> Any:
    """The request's gate after one approval-needing call: an answer the client sent with this
    request (a retry carrying the person's answer) approves that one call, not the next write."""
    if dataclasses.is_dataclass(gate) and getattr(gate, "request_state", None) is not None:
        return dataclasses.replace(gate, request_state=None, answer=None)
    return gate


class ToolsModule:
    """Answers one run's ``tools.*`` calls through the runner, counting them against the limit."""

    def __init__(
        self,
        host: ToolHost,
        ctx: CallContext,
        specs: Sequence[ToolSpec],
        *,
        max_calls: int,
        stopped_clock: StoppedClock,
        calls: int = 0,
    ) -> None:
        self.host = host
        self.ctx = ctx
        self._reads = frozenset(spec.name for spec in specs if spec.is_read)
        self.max_calls = max_calls
        self.calls = calls
        self.notes: list[str] = []
        self.progress = Progress(ctx)
        self._gate = ctx.gate
        self._stopped_clock = stopped_clock

    def reads(self, function: str) -> bool:
        """A read runs while the program goes on; anything else runs alone (see :mod:`.answers`)."""
        return function == PAGINATE or function in self._reads

    async def __call__(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if function == PAGINATE:
            return await self._paginate(args, kwargs)
        if args:
            raise CallFailed("TypeError", f"tools.{function} takes keyword arguments only, e.g. (id='...').")
        spec = await self._resolve(function)
        return await self._call(spec, kwargs)

    # -- one call ------------------------------------------------------------------------------

    async def _resolve(self, name: str) -> ToolSpec:
        try:
            return await self.host.resolve(name)
        except ToolError as exc:
            raise _failed(exc) from None

    def _count(self, name: str) -> None:
        if self.calls >= self.max_calls:
            raise LimitReached(
                "calls",
                f"it tried to make more than its {self.max_calls} tool calls (--code-max-calls) with {name}.",
            )
        self.calls += 1

    async def _call(self, spec: ToolSpec, arguments: dict[str, Any]) -> Any:
        self._count(spec.name)
        asks = needs_confirmation(spec, self.host.settings.confirm, arguments)
        clock: AbstractContextManager[None] = self._stopped_clock() if asks else nullcontext()
        try:
            with clock:
                outcome = await self.host.run(
                    spec, arguments, on_wait=self.ctx.on_wait, budget=False, gate=self._gate
                )
        except (ConfirmationRequired, ApprovalPending, InputNeeded) as asked:
            self.calls -= 1  # not sent: it counts when the resumed run makes it
            raise PauseBefore(asked) from None
        except ToolError as exc:
            raise _failed(exc, spec.name) from None
        finally:
            if asks:
                self._gate = _answered_once(self._gate)
        await self.progress.report(f"call {self.calls}: {spec.name}")
        return self._readable(outcome)

    def _readable(self, outcome: CallOutcome) -> Any:
        """The result as the program reads it; the account's secrets never enter the sandbox (only
        an upstream echoing them could bring them, and then they are masked as in any result)."""
        for note in outcome.notes:
            self._note(note)
        data = outcome.data
        return redact_value(data) if contains_secret(outcome.json_text()) else data

    def _note(self, note: str) -> None:
        if note not in self.notes and len(self.notes) < _MAX_NOTES:
            self.notes.append(note)

    # -- paginate ------------------------------------------------------------------------------

    async def _paginate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        arguments = dict(kwargs)
        tool = args[0] if args else arguments.pop("tool", None)
        max_items = arguments.pop("max_items", DEFAULT_MAX_ITEMS)
        usage = "tools.paginate('list_all_stripe_...', max_items=N, **arguments)"
        if len(args) > 1 or not isinstance(tool, str):
            raise CallFailed(
                "TypeError", f"Call it as {usage}: the list tool's name, then keyword arguments."
            )
        if (
            isinstance(max_items, bool)
            or not isinstance(max_items, int)
            or not 1 <= max_items <= MAX_ITEMS_LIMIT
        ):
            raise CallFailed(
                "ValueError", f"tools.paginate: max_items must be an integer from 1 to {MAX_ITEMS_LIMIT}."
            )
        spec = await self._resolve(tool)
        if spec.method != "list":
            raise CallFailed(
                "ValueError", f"tools.paginate walks list tools (list_all_...); {tool} is a {spec.kind} tool."
            )

        async def fetch(page_arguments: dict[str, Any]) -> Mapping[str, Any]:
            self._count(tool)
            try:
                outcome = await self.host.run(spec, page_arguments, on_wait=self.ctx.on_wait, budget=False)
            except ToolError as exc:
                raise _failed(exc, tool) from None
            for note in outcome.notes:
                self._note(note)
            return outcome.data

        async def on_page(pages: int, count: int) -> None:
            await self.progress.report(f"call {self.calls}: {tool} page {pages}, {count} items")

        walked = await walk(
            fetch,
            arguments,
            max_items=max_items,
            max_pages=MAX_PAGES_LIMIT,
            budget_chars=None,
            on_page=on_page,
        )
        if len(walked.items) >= _SLOW_WITHOUT_FIELDS and "fields" not in arguments:
            self._note(
                f"tools.paginate({tool!r}) read {len(walked.items)} whole items; pass `fields` with only what "
                "the program uses and it runs much faster."
            )
        if not walked.complete:
            self._note(
                f"tools.paginate({tool!r}) stopped at max_items={max_items}: the list has more items than the "
                "program read. Raise max_items (up to 10000) or narrow the list with filters."
            )
        if any(contains_secret(page) for page in walked.encoded):
            return list(redact_value(walked.items))
        return walked.items

"""One program, run in pydantic-monty, with the host answering every ``tools.*`` call it makes.

Monty is a Python interpreter written in Rust for code that models write: no file system,
network or environment access unless the host grants it (this host grants none), limits on
memory and time enforced inside the worker process (:mod:`.worker`).

The run is driven snapshot by snapshot rather than with Monty's automatic resume: each
``tools.NAME(...)`` call suspends the program and the host decides how to answer it
(:mod:`.answers`): a read in the background, a write alone and before the program goes on.
That is what lets a run stop *before* a write and be resumed at that very call later from a
dump of the suspended worker (:class:`~.program_errors.Suspended`), and what lets a limit stop
a run that catches every exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup
from pydantic_monty import (
    AsyncFunctionSnapshot,
    AsyncFutureSnapshot,
    AsyncSnapshot,
    ExternalModule,
    MontyComplete,
    MontyCrashedError,
    MontyError,
    MontyRuntimeError,
    MontySyntaxError,
    MontyTypingError,
    ResourceLimits,
)

from .answers import Answer, Answers
from .program_errors import (
    CallFailed,
    Limit,
    LimitReached,
    PauseBefore,
    ProgramError,
    ProgramFailure,
    ProgramStopped,
    ProgramSuspended,
    Suspended,
)
from .worker import SCRIPT_NAME, TOOLS_MODULE, Worker, jsonable

_CALL_PREFIX = f"{TOOLS_MODULE}."
_REPORT_CHARS = 4_000
_TYPE_LINE = re.compile(rf"{re.escape(SCRIPT_NAME)}:(\d+):\d+:")


@dataclass(frozen=True)
class ProgramLimits:
    """What one run may use; each has a setting (see :mod:`~truto_stripe_mcp.config`)."""

    timeout: float
    """Wall-clock seconds for the whole run, tool calls included (not a person's time to answer)."""
    memory_bytes: int
    max_calls: int
    """Requests sent for the program: a call, or one page of ``tools.paginate``."""
    max_output: int
    """Characters of ``print`` output kept; the rest is counted, not kept."""


class CallAnswerer(Protocol):
    """What answers the program's ``tools.*`` calls (the bridge to the runner)."""

    calls: int

    async def __call__(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

    def reads(self, function: str) -> bool:
        """True when the call only reads: it may run while the program goes on."""
        ...


@dataclass(frozen=True)
class Finished:
    """A run that ended with a value (its last expression, ``None`` without one)."""

    value: Any
    output: str
    output_dropped: int


@dataclass
class PrintSink:
    """The program's ``print`` output, kept up to a limit (the rest counted): a program printing in a
    loop must not fill the server's memory, nor fail for printing too much."""

    limit: int
    text: str = ""
    dropped: int = 0

    def __call__(self, stream: str, text: str) -> None:
        room = self.limit - len(self.text)
        if room > 0:
            self.text += text[:room]
        self.dropped += max(0, len(text) - max(room, 0))


@dataclass
class RunClock:
    """The run's wall-clock deadline, stopped while a person is being asked to approve a write."""

    timeout: float
    scope: anyio.CancelScope = field(default_factory=lambda: anyio.CancelScope(deadline=math.inf))

    def start(self) -> anyio.CancelScope:
        self.scope.deadline = anyio.current_time() + self.timeout
        return self.scope

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The time spent inside is added back to the deadline (a person answering is not the program)."""
        began = anyio.current_time()
        try:
            yield
        finally:
            self.scope.deadline += anyio.current_time() - began


@dataclass
class Program:
    """One run of one program: ``start`` it, or ``resume`` a run suspended before a call."""

    module: ExternalModule
    limits: ProgramLimits
    answer: CallAnswerer
    clock: RunClock
    sink: PrintSink = field(init=False)
    _answers: Answers = field(default_factory=Answers, init=False)
    _first_call_extra: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.sink = PrintSink(self.limits.max_output)

    async def start(self, code: str) -> Finished:
        async with self._worker() as session:
            return await self._run(lambda: session.feed_start(code, print_callback=self.sink))

    async def resume(self, suspended: Suspended, first_call_extra: dict[str, Any]) -> Finished:
        """Go on from a suspended call, answered this time with ``first_call_extra`` added (the token)."""
        self.sink.text = suspended.output
        self._answers = Answers(suspended.undelivered)
        self._first_call_extra = dict(first_call_extra)
        async with self._worker() as session:
            return await self._run(lambda: session.load_snapshot(suspended.dump, print_callback=self.sink))

    def _worker(self) -> Worker:
        limits: ResourceLimits = {
            "max_memory": self.limits.memory_bytes,
            "max_feed_duration_secs": self.limits.timeout,
            "max_total_sleep_secs": self.limits.timeout,
            # Every call suspends twice (the call, its future); ours is the clearer limit.
            "max_suspensions": 2 * self.limits.max_calls + 100,
        }
        return Worker(self.module, limits, self.limits.timeout)

    async def _run(self, begin: Callable[[], Awaitable[AsyncSnapshot]]) -> Finished:
        try:
            with self.clock.start():
                value = await self._drive(await begin())
                return Finished(jsonable(value), self.sink.text, self.sink.dropped)
            raise self._timed_out()
        except LimitReached as reached:
            raise self._stopped(reached.limit, reached.sentence) from None
        except MontyError as error:
            raise self._failure(error) from None

    # -- answering the program's calls ----------------------------------------------------------

    async def _drive(self, snapshot: AsyncSnapshot) -> Any:
        """Run to the end; reads still running then (never awaited) are cancelled."""
        failure: Exception | None = None
        async with anyio.create_task_group() as reads:
            try:
                value = await self._steps(snapshot, reads)
            except Exception as exc:  # raised outside the group, not wrapped in an exception group
                failure = exc
            reads.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return value

    async def _steps(self, snapshot: AsyncSnapshot, reads: TaskGroup) -> Any:
        while not isinstance(snapshot, MontyComplete):
            if isinstance(snapshot, AsyncFunctionSnapshot) and snapshot.function_name.startswith(
                _CALL_PREFIX
            ):
                function = snapshot.function_name[len(_CALL_PREFIX) :]
                if self.answer.reads(function) and not self._first_call_extra:
                    call = (function, snapshot.args, dict(snapshot.kwargs))
                    self._answers.start(reads, snapshot.call_id, lambda call=call: self._answer(*call))
                else:
                    await self._answers.settle()
                    self._answers.ready[snapshot.call_id] = await self._answer_alone(snapshot, function)
                snapshot = await snapshot.resume({"future": ...})
            elif isinstance(snapshot, AsyncFutureSnapshot):
                snapshot = await snapshot.resume(await self._answers.take(snapshot.pending_call_ids))
            else:  # imports of `tools`, undefined names, OS calls (refused: no mount, no handler)
                snapshot = await snapshot.resume_auto()
        return snapshot.output

    async def _answer(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Answer:
        try:
            return {"return_value": await self.answer(function, args, kwargs)}
        except CallFailed as failed:
            return {"exc_type": failed.exc_type, "message": failed.message}

    async def _answer_alone(self, snapshot: AsyncFunctionSnapshot, function: str) -> Answer:
        """A write (or the call a paused run resumes at): nothing else in flight, the program held."""
        kwargs = {**snapshot.kwargs, **self._first_call_extra}
        self._first_call_extra = {}
        try:
            return await self._answer(function, snapshot.args, kwargs)
        except PauseBefore as pause:
            ready = dict(self._answers.ready)
            suspended = Suspended(snapshot.dump(), ready, self.sink.text, self.answer.calls)
            raise ProgramSuspended(pause.reason, suspended) from None

    # -- how a run that did not finish is told --------------------------------------------------

    def _stopped(self, limit: Limit, sentence: str) -> ProgramStopped:
        return ProgramStopped(limit, sentence, output=self.sink.text, calls=self.answer.calls)

    def _timed_out(self) -> ProgramStopped:
        return self._stopped(
            "time", f"it ran past its {self.limits.timeout:g}-second time limit (--code-timeout)."
        )

    def _failure(self, error: MontyError) -> ProgramError | ProgramStopped:
        calls, output = self.answer.calls, self.sink.text
        if isinstance(error, MontyTypingError):  # the checker parses first: it reports syntax errors too
            report = error.display()
            match = _TYPE_LINE.search(report)
            kind: ProgramFailure = "syntax" if "error[invalid-syntax]" in report else "type"
            line = int(match.group(1)) if match else None
            return ProgramError(kind, _short(report), line=line, output=output, calls=calls)
        if isinstance(error, MontySyntaxError | MontyRuntimeError):
            inner = error.exception()
            if isinstance(inner, TimeoutError) and "time limit exceeded" in str(inner):
                return self._timed_out()
            if isinstance(inner, MemoryError) and "memory limit" in str(inner):
                megabytes = self.limits.memory_bytes // (1024 * 1024)
                return self._stopped(
                    "memory", f"it used more than its {megabytes} MB of memory (--code-memory)."
                )
            kind = "syntax" if isinstance(error, MontySyntaxError) else "runtime"
            frames = error.traceback()
            line = frames[-1].line if frames else None
            return ProgramError(
                kind, _short(error.display("traceback")), line=line, output=output, calls=calls
            )
        if isinstance(error, MontyCrashedError) and error.timed_out:
            return self._timed_out()
        return ProgramError("crash", _short(str(error)), line=None, output=output, calls=calls)


def _short(report: str) -> str:
    """A report cut to its last lines when long (a deep recursion): the end says what went wrong."""
    report = report.strip()
    return report if len(report) <= _REPORT_CHARS else "..." + report[-_REPORT_CHARS:]

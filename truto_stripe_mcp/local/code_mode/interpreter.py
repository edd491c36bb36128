"""One program, run in pydantic-monty: a fresh worker process per run, its limits, and the host
answering every ``tools.*`` call the program makes.

Monty is a Python interpreter written in Rust for code that models write: no file system,
network or environment access unless the host grants it (this host grants none), limits on
memory and time enforced inside the worker, and the worker a separate process the pool
kills on exit, so nothing a program does can take the server with it. Each run gets its own
pool of one worker (a few milliseconds to start): no state survives from one program to the
next, and a stopped run cannot leave a busy worker behind.

The run is driven snapshot by snapshot rather than with Monty's automatic resume: each
``tools.NAME(...)`` call suspends the program, and the host answers it before the program
goes on (the answer is delivered through a future, which is how an async host function
returns in Monty). That is what lets a run stop *before* a call and be resumed at that very
call later from a dump of the suspended worker (:class:`Suspended`), and what lets a limit stop
a run that catches every exception.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from pydantic_monty import (
    AsyncFunctionSnapshot,
    AsyncFutureSnapshot,
    AsyncMonty,
    AsyncMontySession,
    AsyncSnapshot,
    ExternalModule,
    MontyClassProxy,
    MontyComplete,
    MontyCrashedError,
    MontyError,
    MontyRuntimeError,
    MontySyntaxError,
    MontyTypingError,
    ResourceLimits,
)

from ...catalog.spec import ToolSpec
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
from .stubs import PAGINATE, referenced, tools_stubs

TOOLS_MODULE = "tools"
SCRIPT_NAME = "program.py"
_CALL_PREFIX = f"{TOOLS_MODULE}."
_REPORT_CHARS = 4_000
_TYPE_LINE = re.compile(rf"{re.escape(SCRIPT_NAME)}:(\d+):\d+:")
_MAX_DEPTH = 64
_WORKER_GRACE = 2.0
"""Seconds a worker gets past its time limit to raise ``TimeoutError`` itself before the pool kills it."""


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
    _results: dict[int, dict[str, Any]] = field(default_factory=dict, init=False)
    _first_call_extra: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.sink = PrintSink(self.limits.max_output)

    async def start(self, code: str) -> Finished:
        async with self._session() as session:
            return await self._run(lambda: session.feed_start(code, print_callback=self.sink))

    async def resume(self, suspended: Suspended, first_call_extra: dict[str, Any]) -> Finished:
        """Go on from a suspended call, answered this time with ``first_call_extra`` added (the token)."""
        self.sink.text = suspended.output
        self._results = dict(suspended.undelivered)
        self._first_call_extra = dict(first_call_extra)
        async with self._session() as session:
            return await self._run(lambda: session.load_snapshot(suspended.dump, print_callback=self.sink))

    # -- the worker ----------------------------------------------------------------------------

    def _session(self) -> _Session:
        limits: ResourceLimits = {
            "max_memory": self.limits.memory_bytes,
            "max_feed_duration_secs": self.limits.timeout,
            "max_total_sleep_secs": self.limits.timeout,
            # Every call suspends twice (the call, its future); ours is the clearer limit.
            "max_suspensions": 2 * self.limits.max_calls + 100,
        }
        return _Session(self.module, limits, self.limits.timeout)

    async def _run(self, begin: Callable[[], Awaitable[AsyncSnapshot]]) -> Finished:
        try:
            with self.clock.start():
                snapshot = await begin()
                value = await self._drive(snapshot)
                return Finished(jsonable(value), self.sink.text, self.sink.dropped)
            raise self._timed_out()
        except LimitReached as reached:
            raise self._stopped(reached.limit, reached.sentence) from None
        except MontyError as error:
            raise self._failure(error) from None

    async def _drive(self, snapshot: AsyncSnapshot) -> Any:
        while True:
            if isinstance(snapshot, MontyComplete):
                return snapshot.output
            if isinstance(snapshot, AsyncFunctionSnapshot) and snapshot.function_name.startswith(
                _CALL_PREFIX
            ):
                self._results[snapshot.call_id] = await self._answer(snapshot)
                snapshot = await snapshot.resume({"future": ...})
            elif isinstance(snapshot, AsyncFutureSnapshot):
                ready = {i: self._results.pop(i) for i in snapshot.pending_call_ids if i in self._results}
                snapshot = await snapshot.resume(ready)
            else:  # imports of `tools`, undefined names, OS calls (refused: no mount, no handler)
                snapshot = await snapshot.resume_auto()

    async def _answer(self, snapshot: AsyncFunctionSnapshot) -> dict[str, Any]:
        kwargs = {**snapshot.kwargs, **self._first_call_extra}
        self._first_call_extra = {}
        try:
            value = await self.answer(snapshot.function_name[len(_CALL_PREFIX) :], snapshot.args, kwargs)
        except CallFailed as failed:
            return {"exc_type": failed.exc_type, "message": failed.message}
        except PauseBefore as pause:
            suspended = Suspended(snapshot.dump(), dict(self._results), self.sink.text, self.answer.calls)
            raise ProgramSuspended(pause.reason, suspended) from None
        return {"return_value": value}

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
            if isinstance(inner, MemoryError) and "memory limit exceeded" in str(inner):
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


def jsonable(value: Any, depth: int = 0) -> Any:
    """A program's value as JSON can carry it: tuples and sets as lists, dates as ISO text, a class
    instance as its attributes, a float that JSON cannot spell (nan, inf) and anything else as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > _MAX_DEPTH:
        return repr(value)
    if isinstance(value, dict):
        return {_key(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        items = [jsonable(item, depth + 1) for item in value]
        return sorted(items, key=repr)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, MontyClassProxy):
        return jsonable(value.attributes, depth + 1)
    return str(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(jsonable(key))


async def _answered_by_the_host(*args: Any, **kwargs: Any) -> Any:
    """What each ``tools`` function is to Monty: a host function. Never called, since the run
    answers every call itself (:meth:`Program._drive`)."""
    raise RuntimeError("tools functions are answered by Program._drive")


def tools_module(specs: Sequence[ToolSpec], code: str = "") -> ExternalModule:
    """The ``tools`` module a program imports: one host function per tool, plus ``paginate``; its
    stubs are those of the tools ``code`` names (what its type check needs)."""
    functions = dict.fromkeys((spec.name for spec in specs), _answered_by_the_host)
    functions[PAGINATE] = _answered_by_the_host
    return ExternalModule(functions, stubs=tools_stubs(referenced(code, specs)))


def _short(report: str) -> str:
    """A report cut to its last lines when long (a deep recursion): the end says what went wrong."""
    report = report.strip()
    return report if len(report) <= _REPORT_CHARS else "..." + report[-_REPORT_CHARS:]


class _Session:
    """A pool of one worker and its session, both gone on exit (the worker process is killed)."""

    def __init__(self, module: ExternalModule, limits: ResourceLimits, timeout: float) -> None:
        self._pool = AsyncMonty(
            min_processes=1,
            max_processes=1,
            request_timeout=timeout + 2 * _WORKER_GRACE,
            feed_duration_limit_grace=_WORKER_GRACE,
            turn_duration_limit_grace=_WORKER_GRACE,
        )
        self._module = module
        self._limits = limits
        self._session: AsyncMontySession | None = None

    async def __aenter__(self) -> AsyncMontySession:
        await self._pool.__aenter__()
        try:
            self._session = self._pool.checkout(
                script_name=SCRIPT_NAME,
                limits=self._limits,
                type_check=True,
                type_check_format="concise",
                external_modules={TOOLS_MODULE: self._module},
            )
            return await self._session.__aenter__()
        except BaseException:
            await self._pool.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            try:
                if self._session is not None:
                    await self._session.__aexit__(*exc)
            finally:
                await self._pool.__aexit__(*exc)

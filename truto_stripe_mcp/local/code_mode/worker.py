"""The Monty worker a program runs in, the ``tools`` module it imports, and its value made JSON.

Each run gets its own pool of one worker process (a few milliseconds to start), gone when the
run ends: no state survives from one program to the next, a stopped run cannot leave a busy
worker behind, and a crashed one takes nothing else with it. Monty starts the worker with an
empty environment, so not even a program that escaped the interpreter would find the key.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any

import anyio
from pydantic_monty import AsyncMonty, AsyncMontySession, ExternalModule, MontyClassProxy, ResourceLimits

from ...catalog.spec import ToolSpec
from .stubs import PAGINATE, referenced, tools_stubs

TOOLS_MODULE = "tools"
SCRIPT_NAME = "program.py"
_MAX_DEPTH = 64
_GRACE = 2.0
"""Seconds a worker gets past its time limit to raise ``TimeoutError`` itself before the pool kills it."""


async def _answered_by_the_host(*args: Any, **kwargs: Any) -> Any:
    """What each ``tools`` function is to Monty: a host function. Never called, since the run
    answers every call itself (:class:`~.interpreter.Program`)."""
    raise RuntimeError("tools functions are answered by the Program driving the run")


def tools_module(specs: Sequence[ToolSpec], code: str = "") -> ExternalModule:
    """The ``tools`` module a program imports: one host function per tool, plus ``paginate``; its
    stubs are those of the tools ``code`` names (what its type check needs)."""
    functions = dict.fromkeys((spec.name for spec in specs), _answered_by_the_host)
    functions[PAGINATE] = _answered_by_the_host
    return ExternalModule(functions, stubs=tools_stubs(referenced(code, specs)))


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
        return sorted((jsonable(item, depth + 1) for item in value), key=repr)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, MontyClassProxy):
        return jsonable(value.attributes, depth + 1)
    return str(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(jsonable(key))


class Worker:
    """A pool of one worker and its session, both gone on exit (the worker process is killed)."""

    def __init__(self, module: ExternalModule, limits: ResourceLimits, timeout: float) -> None:
        self._pool = AsyncMonty(
            min_processes=1,
            max_processes=1,
            request_timeout=timeout + 2 * _GRACE,
            feed_duration_limit_grace=_GRACE,
            turn_duration_limit_grace=_GRACE,
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

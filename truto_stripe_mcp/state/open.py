"""Opening the state backend named by ``--state`` / ``TRUTO_MCP_STATE``
(:class:`~truto_stripe_mcp.config.StateLocation`).

* ``sqlite`` (the default): ``state.sqlite3`` in the platform's user state directory;
  ``sqlite:///PATH`` for another file. Many processes on one machine share it.
* ``redis://HOST:PORT/DB`` (``rediss://`` for TLS): replicas on several machines.
* ``memory``: this process only; nothing is written anywhere.
"""

from __future__ import annotations

from ..config import StateLocation
from .store import StateStore


async def open_state(location: StateLocation, namespace: str) -> StateStore:
    """The store for one account, reached once: a backend that cannot be used raises
    :class:`~truto_stripe_mcp.errors.StateUnavailableError` here, at start-up."""
    if location.kind == "memory":
        from .memory import MemoryState

        return MemoryState()
    if location.kind == "sqlite":
        from .sqlite import SqliteState

        sqlite = SqliteState(location.path(), namespace)
        sqlite.open()
        store: StateStore = sqlite
    else:
        from .redis import RedisState

        store = RedisState(location.target, namespace)
    try:
        await store.check()
    except BaseException:
        await store.aclose()
        raise
    return store

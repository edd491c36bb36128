"""Choosing and opening the state backend named by ``--state`` / ``TRUTO_MCP_STATE``.

* ``sqlite`` (the default): ``state.sqlite3`` in the platform's user state directory;
  ``sqlite:///PATH`` for another file. Many processes on one machine share it.
* ``redis://HOST:PORT/DB`` (``rediss://`` for TLS): replicas on several machines.
* ``memory``: this process only; nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..redaction import url_without_userinfo
from .store import StateStore

APP_NAME = "truto-stripe-mcp"
STATE_FILE = "state.sqlite3"
FORMS = "sqlite (the default), sqlite:///PATH, redis://HOST:PORT/DB, rediss://..., or memory"


def default_state_path() -> Path:
    """``~/.local/state/truto-stripe-mcp/state.sqlite3`` on Linux, ``~/Library/Application
    Support/truto-stripe-mcp/`` on macOS, ``%LOCALAPPDATA%\\truto-stripe-mcp\\`` on Windows."""
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP_NAME, appauthor=False)) / STATE_FILE


@dataclass(frozen=True)
class StateLocation:
    """Where the state lives, as parsed from ``--state``."""

    kind: Literal["memory", "sqlite", "redis"]
    target: str = ""
    """The SQLite file ('' for the default one), or the Redis URL."""

    @classmethod
    def parse(cls, value: str | None) -> StateLocation:
        """Read ``--state``; a ``ValueError`` names the accepted forms."""
        text = (value or "sqlite").strip()
        if text in ("sqlite", "sqlite://"):
            return cls("sqlite")
        if text == "memory":
            return cls("memory")
        if text.startswith("sqlite:///"):
            return cls("sqlite", _file_of(text.removeprefix("sqlite:///")))
        if text.startswith(("redis://", "rediss://", "unix://")):
            return cls("redis", text)
        raise ValueError(f"--state must be {FORMS}; got {url_without_userinfo(text)!r}")

    def path(self) -> Path:
        """The SQLite file (``sqlite`` only)."""
        return Path(self.target).expanduser() if self.target else default_state_path()

    def describe(self) -> str:
        """Safe to print: the file, or the URL without its password."""
        if self.kind == "memory":
            return "memory (this process only)"
        if self.kind == "sqlite":
            return f"sqlite {self.path()}"
        return f"redis {url_without_userinfo(self.target)}"


def _file_of(rest: str) -> str:
    """``sqlite:///PATH``: an absolute path (any number of slashes), ``~/...``, or ``C:/...``."""
    if rest.startswith("~") or (len(rest) > 1 and rest[1] == ":"):
        return rest
    return "/" + rest.lstrip("/")


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

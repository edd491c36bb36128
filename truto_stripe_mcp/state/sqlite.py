"""State in one SQLite file: the default, safe for many processes on one machine.

Claude Desktop and Cursor each start a server; Claude Desktop restarts its servers. One
file in the user's state directory, in WAL mode, is shared by all of them and outlives
each: readers never wait, writers take turns.

Every change is one short ``BEGIN IMMEDIATE`` transaction (a few tens of microseconds).
It runs on the event loop first, on a connection that never waits for the lock; if
another process holds it, the same work moves to a worker thread on a second connection
that waits for it (up to :data:`BUSY_TIMEOUT`), so a busy file never stalls this
process's other requests. ``synchronous=NORMAL``: a committed change survives a crashed
or killed process (what restarts need); only a power cut can lose the last ones.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..errors import StateUnavailableError
from ..upstream.rate_limit_headers import DEFAULT_MAX_BLOCK
from ..upstream.window import RateLimitState
from .store import SECRET_TTL, WINDOW_TTL, KeyClaim, KeyRecord, KeyStatus, decide_claim

if TYPE_CHECKING:
    from ..upstream.rate_limit_headers import RateLimitInfo

T = TypeVar("T")

BUSY_TIMEOUT = 5.0
"""Seconds a change waits for another process's transaction before the state counts as unusable."""
_PURGE_EVERY = 60.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    ns TEXT NOT NULL, fingerprint TEXT NOT NULL, key TEXT NOT NULL,
    first_used_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL,
    lease_until REAL NOT NULL, error TEXT,
    PRIMARY KEY (ns, fingerprint)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
CREATE TABLE IF NOT EXISTS used_tokens (
    ns TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (ns, token)
);
CREATE INDEX IF NOT EXISTS used_tokens_expiry ON used_tokens (expires_at);
CREATE TABLE IF NOT EXISTS approvals (
    ns TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE INDEX IF NOT EXISTS approvals_expiry ON approvals (expires_at);
CREATE TABLE IF NOT EXISTS rate_windows (ns TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (ns TEXT PRIMARY KEY, secret BLOB NOT NULL, expires_at REAL NOT NULL);
"""
_TABLES = ("idempotency_keys", "used_tokens", "approvals", "rate_windows", "secrets")
_RECORD_COLUMNS = "key, first_used_at, expires_at, status, lease_until, error"


class SqliteState:
    """:class:`~.store.StateStore` in a SQLite file shared by this machine's processes."""

    kind = "sqlite"

    def __init__(self, path: Path, namespace: str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.where = str(path)
        self.namespace = namespace
        self._clock = clock
        self._fast: sqlite3.Connection | None = None
        self._patient: sqlite3.Connection | None = None
        self._patient_lock = threading.Lock()
        self._purged_at = 0.0

    # -- opening -----------------------------------------------------------------------------

    def open(self) -> None:
        """Create the file (owner-only: it holds the token secret) and its tables."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self._patient = self._connect(BUSY_TIMEOUT)
            self._patient.execute("PRAGMA journal_mode=WAL")
            self._patient.executescript(_SCHEMA)
            self._fast = self._connect(0.0)
        except (OSError, sqlite3.Error) as exc:
            self._close()
            raise StateUnavailableError(self.where, _reason(exc)) from exc

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        for connection in (self._fast, self._patient):
            if connection is not None:
                connection.close()
        self._fast = self._patient = None

    # -- one transaction ---------------------------------------------------------------------

    async def _change(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction: on the loop if the lock is free, else in a thread."""
        if self._fast is None or self._patient is None:
            raise StateUnavailableError(self.where, "not open")
        try:
            return _transaction(self._fast, work)  # no await inside: atomic on this loop
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise StateUnavailableError(self.where, _reason(exc)) from exc
        except sqlite3.Error as exc:
            raise StateUnavailableError(self.where, _reason(exc)) from exc
        return await anyio.to_thread.run_sync(self._patiently, work)

    def _patiently(self, work: Callable[[sqlite3.Connection], T]) -> T:
        assert self._patient is not None
        with self._patient_lock:
            try:
                return _transaction(self._patient, work)
            except sqlite3.Error as exc:
                raise StateUnavailableError(self.where, _reason(exc)) from exc

    def _purge(self, connection: sqlite3.Connection, now: float) -> None:
        """Drop what has expired, at most once a minute per process (an indexed range delete)."""
        if now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        for table in _TABLES:
            connection.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

    # -- the store ---------------------------------------------------------------------------

    async def check(self) -> None:
        await self._change(lambda connection: connection.execute("SELECT 1").fetchone())

    async def signing_secret(self) -> bytes:
        now = self._clock()
        candidate = secrets.token_bytes(32)

        def work(connection: sqlite3.Connection) -> bytes:
            connection.execute(
                "INSERT INTO secrets (ns, secret, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (ns) DO UPDATE SET expires_at = excluded.expires_at",
                (self.namespace, candidate, now + SECRET_TTL),
            )
            row = connection.execute("SELECT secret FROM secrets WHERE ns = ?", (self.namespace,)).fetchone()
            return bytes(row[0])

        return await self._change(work)

    async def use_token(self, token: str, now: float, expires_at: float) -> bool:
        def work(connection: sqlite3.Connection) -> bool:
            self._purge(connection, now)
            connection.execute(
                "DELETE FROM used_tokens WHERE ns = ? AND token = ? AND expires_at <= ?",
                (self.namespace, token, now),
            )
            cursor = connection.execute(
                "INSERT OR IGNORE INTO used_tokens (ns, token, expires_at) VALUES (?, ?, ?)",
                (self.namespace, token, expires_at),
            )
            return cursor.rowcount == 1

        return await self._change(work)

    async def put_approval(self, key: str, record: str, now: float, expires_at: float) -> None:
        def work(connection: sqlite3.Connection) -> None:
            self._purge(connection, now)
            connection.execute(
                "INSERT OR REPLACE INTO approvals (ns, key, record, expires_at) VALUES (?, ?, ?, ?)",
                (self.namespace, key, record, expires_at),
            )

        await self._change(work)

    async def read_approval(self, key: str, now: float) -> str | None:
        def work(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(
                "SELECT record FROM approvals WHERE ns = ? AND key = ? AND expires_at > ?",
                (self.namespace, key, now),
            ).fetchone()
            return str(row[0]) if row else None

        return await self._change(work)

    async def claim_key(self, fingerprint: str, candidate: KeyRecord, now: float) -> KeyClaim:
        def work(connection: sqlite3.Connection) -> KeyClaim:
            self._purge(connection, now)
            claim = decide_claim(self._record(connection, fingerprint), candidate, now)
            if claim.owner:
                record = claim.record
                connection.execute(
                    f"INSERT OR REPLACE INTO idempotency_keys (ns, fingerprint, {_RECORD_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.namespace, fingerprint, *_record_values(record)),
                )
            return claim

        return await self._change(work)

    async def read_key(self, fingerprint: str) -> KeyRecord | None:
        return await self._change(lambda connection: self._record(connection, fingerprint))

    async def settle_key(self, fingerprint: str, key: str, status: KeyStatus, error: str | None) -> None:
        await self._change(
            lambda connection: connection.execute(
                "UPDATE idempotency_keys SET status = ?, error = ?, lease_until = 0 "
                "WHERE ns = ? AND fingerprint = ? AND key = ?",
                (status, error, self.namespace, fingerprint, key),
            )
        )

    async def renew_lease(self, fingerprint: str, key: str, lease_until: float) -> None:
        await self._change(
            lambda connection: connection.execute(
                "UPDATE idempotency_keys SET lease_until = ? "
                "WHERE ns = ? AND fingerprint = ? AND key = ? AND status = 'pending'",
                (lease_until, self.namespace, fingerprint, key),
            )
        )

    def _record(self, connection: sqlite3.Connection, fingerprint: str) -> KeyRecord | None:
        row = connection.execute(
            f"SELECT {_RECORD_COLUMNS} FROM idempotency_keys WHERE ns = ? AND fingerprint = ?",
            (self.namespace, fingerprint),
        ).fetchone()
        if row is None:
            return None
        key, first_used_at, expires_at, status, lease_until, error = row
        return KeyRecord(key, first_used_at, expires_at, status, lease_until, error)

    async def reserve_slot(self, now: float, max_block: float = DEFAULT_MAX_BLOCK) -> tuple[float, int]:
        def work(connection: sqlite3.Connection) -> tuple[float, int]:
            window = self._window(connection)
            wait = window.reserve(now, max_block)
            self._save_window(connection, window, now)
            return wait, window.generation

        return await self._change(work)

    async def observe_window(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None,
        max_block: float = DEFAULT_MAX_BLOCK,
    ) -> None:
        def work(connection: sqlite3.Connection) -> None:
            window = self._window(connection)
            window.observe(info, status, now, generation, max_block)
            self._save_window(connection, window, now)

        await self._change(work)

    def _window(self, connection: sqlite3.Connection) -> RateLimitState:
        row = connection.execute("SELECT state FROM rate_windows WHERE ns = ?", (self.namespace,)).fetchone()
        return RateLimitState.from_json(row[0]) if row else RateLimitState()

    def _save_window(self, connection: sqlite3.Connection, window: RateLimitState, now: float) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO rate_windows (ns, state, expires_at) VALUES (?, ?, ?)",
            (self.namespace, window.to_json(), now + WINDOW_TTL),
        )

    async def clear(self) -> int:
        def work(connection: sqlite3.Connection) -> int:
            return sum(
                connection.execute(f"DELETE FROM {table} WHERE ns = ?", (self.namespace,)).rowcount
                for table in _TABLES
            )

        return await self._change(work)

    async def summary(self) -> dict[str, Any]:
        def work(connection: sqlite3.Connection) -> dict[str, Any]:
            now = self._clock()
            keys = connection.execute(
                "SELECT COUNT(*) FROM idempotency_keys WHERE ns = ? AND expires_at > ?", (self.namespace, now)
            ).fetchone()[0]
            tokens = connection.execute(
                "SELECT COUNT(*) FROM used_tokens WHERE ns = ? AND expires_at > ?", (self.namespace, now)
            ).fetchone()[0]
            return {"idempotency_keys": keys, "used_tokens": tokens}

        return await self._change(work)


def _transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work`` and its commit, or nothing: a failure anywhere (a busy commit too) rolls back,
    so the same work can run again on the other connection."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    return result


def _record_values(record: KeyRecord) -> tuple[Any, ...]:
    values = asdict(record)
    return tuple(
        values[name] for name in ("key", "first_used_at", "expires_at", "status", "lease_until", "error")
    )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

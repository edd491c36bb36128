"""Programs waiting for a person's approval, kept until resumed or until the approval would expire.

A run that reaches a write needing approval on the token path stops before it, and the
worker's dump is kept here under a random id (``run_...``) that the result gives the model,
with the confirmation token. Resuming takes it out (a paused run resumes once). The dump
never leaves the server: Monty restores only dumps from a trusted producer, and a client
holds nothing but the id. The dumps live in this process's memory, bounded in number; a
resume that lands on another process (replicas) or after the approval's lifetime finds
nothing, and the model runs the program again, safely: an identical write repeated inside
the idempotency window reuses its key, so it is never done twice.
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .program_errors import Suspended

CAPACITY = 16
"""Paused runs kept per account; a seventeenth pushes out the oldest (a dump can be tens of MB)."""


@dataclass(frozen=True)
class _Kept:
    suspended: Suspended
    expires_at: float


class PausedRuns:
    """Suspended runs by id, each resumable once, until ``ttl`` seconds after it paused."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._runs: OrderedDict[str, _Kept] = OrderedDict()

    def keep(self, suspended: Suspended, key: str | None = None) -> str:
        """Keep a suspended run; its id (``key``, or a new random one)."""
        now = self._clock()
        for stale in [k for k, kept in self._runs.items() if kept.expires_at <= now]:
            del self._runs[stale]
        run_id = key or f"run_{secrets.token_urlsafe(12)}"
        self._runs[run_id] = _Kept(suspended, now + self.ttl)
        while len(self._runs) > CAPACITY:
            self._runs.popitem(last=False)
        return run_id

    def take(self, run_id: str) -> Suspended | None:
        """The run kept under ``run_id``, removed; ``None`` if unknown, taken already or expired."""
        kept = self._runs.pop(run_id, None)
        if kept is None or kept.expires_at <= self._clock():
            return None
        return kept.suspended


_by_host: weakref.WeakKeyDictionary[object, PausedRuns] = weakref.WeakKeyDictionary()


def paused_runs(host: object, ttl: float) -> PausedRuns:
    """The paused runs of one runner (one account): they go when the runner goes."""
    runs = _by_host.get(host)
    if runs is None:
        runs = _by_host[host] = PausedRuns(ttl)
    return runs

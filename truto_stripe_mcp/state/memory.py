"""State in this process's memory: ``--state memory``, and the default of a bare ``ToolRunner``.

Nothing outlives the process and nothing is shared with another one, so this keeps the
three promises only within one process: for tests, and for people who want no files.
Every method finishes without awaiting, which makes each one atomic on the event loop.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..upstream.rate_limit_headers import DEFAULT_MAX_BLOCK
from ..upstream.window import RateLimitState
from .store import KeyClaim, KeyRecord, KeyStatus, decide_claim

if TYPE_CHECKING:
    from ..upstream.rate_limit_headers import RateLimitInfo

_MAX_KEYS = 10_000
"""Bound on remembered mutations; the oldest go first (the window is minutes, not days)."""


class MemoryState:
    """:class:`~.store.StateStore` in one process's memory."""

    kind = "memory"
    where = "this process's memory"

    def __init__(self) -> None:
        self._secret: bytes | None = None
        self._tokens: dict[str, float] = {}
        self._approvals: dict[str, tuple[str, float]] = {}
        self._keys: OrderedDict[str, KeyRecord] = OrderedDict()
        self.window = RateLimitState()

    async def check(self) -> None:
        return None

    async def signing_secret(self) -> bytes:
        if self._secret is None:
            self._secret = secrets.token_bytes(32)
        return self._secret

    async def use_token(self, token: str, now: float, expires_at: float) -> bool:
        self._tokens = {used: until for used, until in self._tokens.items() if until > now}
        if token in self._tokens:
            return False
        self._tokens[token] = expires_at
        return True

    async def put_approval(self, key: str, record: str, now: float, expires_at: float) -> None:
        self._approvals = {name: kept for name, kept in self._approvals.items() if kept[1] > now}
        self._approvals[key] = (record, expires_at)

    async def read_approval(self, key: str, now: float) -> str | None:
        kept = self._approvals.get(key)
        return kept[0] if kept is not None and kept[1] > now else None

    async def claim_key(self, fingerprint: str, candidate: KeyRecord, now: float) -> KeyClaim:
        while self._keys and not next(iter(self._keys.values())).is_live(now):
            self._keys.popitem(last=False)  # expired first: records are kept in claim order
        claim = decide_claim(self._keys.get(fingerprint), candidate, now)
        if claim.owner:
            self._keys.pop(fingerprint, None)
            self._keys[fingerprint] = claim.record
            while len(self._keys) > _MAX_KEYS:
                self._keys.popitem(last=False)
        return claim

    async def read_key(self, fingerprint: str) -> KeyRecord | None:
        return self._keys.get(fingerprint)

    async def settle_key(self, fingerprint: str, key: str, status: KeyStatus, error: str | None) -> None:
        record = self._keys.get(fingerprint)
        if record is not None and record.key == key:
            self._keys[fingerprint] = replace(record, status=status, error=error, lease_until=0.0)

    async def renew_lease(self, fingerprint: str, key: str, lease_until: float) -> None:
        record = self._keys.get(fingerprint)
        if record is not None and record.key == key and record.status == "pending":
            self._keys[fingerprint] = replace(record, lease_until=lease_until)

    async def reserve_slot(self, now: float, max_block: float = DEFAULT_MAX_BLOCK) -> tuple[float, int]:
        wait = self.window.reserve(now, max_block)
        return wait, self.window.generation

    async def observe_window(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None,
        max_block: float = DEFAULT_MAX_BLOCK,
    ) -> None:
        self.window.observe(info, status, now, generation, max_block)

    async def clear(self) -> int:
        count = len(self._keys) + len(self._tokens) + len(self._approvals) + (self._secret is not None)
        self._secret = None
        self._tokens.clear()
        self._approvals.clear()
        self._keys.clear()
        self.window = RateLimitState()
        return count

    async def summary(self) -> dict[str, Any]:
        return {"idempotency_keys": len(self._keys), "used_tokens": len(self._tokens)}

    async def aclose(self) -> None:
        return None

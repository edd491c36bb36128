"""What must outlive one process, shared by every process serving one integrated account.

Claude Desktop restarts its servers; Claude Desktop and Cursor each run one against the
same account; hosted deployments run replicas. Three promises hold only if every one of
those processes keeps them in one place:

* the idempotency dedupe window: an identical mutation repeated within the window, on any
  process or after a restart, reuses the first Idempotency-Key, so Stripe replays instead
  of acting twice (and two identical mutations in flight at once make one);
* the rate-limit window: one budget per account, drawn from by every process;
* confirmation tokens: signed with one secret, so a token issued anywhere is redeemable
  anywhere, and only once;
* what a person answered on an approval page: the identical call repeated on another
  process (a sessionless replica) finds the answer, and runs once.

:class:`StateStore` is that place; ``memory``, ``sqlite`` and ``redis`` implement it
(:mod:`.open` picks one). Each store is bound to one account's namespace
(:func:`account_namespace`), so accounts never share keys, windows or secrets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..redaction import url_without_userinfo

if TYPE_CHECKING:
    from ..upstream.rate_limit_headers import RateLimitInfo

KeyStatus = Literal["pending", "settled", "failed"]
"""``pending``: its call is in flight; ``settled``: it ended in a way that may have acted
(success, or an answer lost), so a repeat reuses the key; ``failed``: Stripe definitely
refused it (a decline, a 400), so a repeat gets a fresh key."""

SECRET_TTL = 30 * 86_400.0
"""A signing secret unused for this long is dropped (every process start renews it)."""
WINDOW_TTL = 3_600.0
"""A rate-limit window nobody has touched for this long is forgotten (headers teach it again)."""


@dataclass(frozen=True)
class KeyRecord:
    """The dedupe window's memory of one mutation (one tool and its canonical arguments)."""

    key: str
    first_used_at: float
    """Epoch seconds: processes on one machine (or NTP-synced ones) agree on it."""
    expires_at: float
    """The end of the dedupe window: after this, the same call is a new one."""
    status: KeyStatus = "pending"
    lease_until: float = 0.0
    """While ``pending``: until when its caller is presumed alive. A caller whose process
    died leaves a pending record behind; after the lease, the next identical call takes it
    over, with the same key (Stripe replays if the dead caller's request went through)."""
    error: str | None = None
    """For ``failed``: what the agent was told, for the callers that waited on this one."""

    def is_live(self, now: float) -> bool:
        """Still within its window, and not a definite failure (which frees the call)."""
        return self.expires_at > now and self.status != "failed"


@dataclass(frozen=True)
class KeyClaim:
    """What a caller got from :meth:`StateStore.claim_key`."""

    record: KeyRecord
    owner: bool
    """True: this caller sends (a new key, or a pending one whose caller is gone). False: an
    identical call holds the key; wait while it is pending, reuse the key once settled."""
    taken_over: bool = False


def decide_claim(existing: KeyRecord | None, candidate: KeyRecord, now: float) -> KeyClaim:
    """The claim rule every backend applies atomically (the Redis one in Lua, the same rule).

    A live record wins: its key is reused. A pending record whose lease has run out is taken
    over, keeping its key. Anything else (none, expired, failed) gives way to the candidate.
    """
    if existing is None or not existing.is_live(now):
        return KeyClaim(candidate, owner=True)
    if existing.status == "pending" and existing.lease_until <= now:
        return KeyClaim(replace(existing, lease_until=candidate.lease_until), owner=True, taken_over=True)
    return KeyClaim(existing, owner=False)


def account_namespace(base_url: str, integrated_account_id: str) -> str:
    """The name one account's state lives under: the Truto deployment and the account.

    Who connects (a ``user:password@`` in the URL, the API key) is not part of it: two
    people's servers for one account share its rate limit and its idempotency window.
    """
    identity = f"{url_without_userinfo(base_url).rstrip('/')}\n{integrated_account_id}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


class StateStore(Protocol):
    """One account's shared state; every method raises
    :class:`~truto_stripe_mcp.errors.StateUnavailableError` when the backend cannot be used."""

    kind: str
    """``memory``, ``sqlite`` or ``redis``."""
    where: str
    """Where it lives, safe to print (no password)."""

    async def check(self) -> None:
        """Reach the backend now (start-up and ``doctor``)."""

    async def signing_secret(self) -> bytes:
        """The account's confirmation-token secret, made once by whichever process comes first."""

    async def use_token(self, token: str, now: float, expires_at: float) -> bool:
        """Mark a confirmation token used; False if it was already (anywhere)."""

    async def put_approval(self, key: str, record: str, now: float, expires_at: float) -> None:
        """Keep an approval page's record (JSON text) under ``key`` until ``expires_at``."""

    async def read_approval(self, key: str, now: float) -> str | None:
        """The record kept under ``key``; None if there is none or it has expired."""

    async def claim_key(self, fingerprint: str, candidate: KeyRecord, now: float) -> KeyClaim:
        """Atomically: the live record for this mutation, or ``candidate`` stored as its record."""

    async def read_key(self, fingerprint: str) -> KeyRecord | None:
        """The record as it is now (callers waiting on a pending one poll this)."""

    async def settle_key(self, fingerprint: str, key: str, status: KeyStatus, error: str | None) -> None:
        """Record how the call holding ``key`` ended (a record since replaced is left alone)."""

    async def renew_lease(self, fingerprint: str, key: str, lease_until: float) -> None:
        """Push the lease of the pending call holding ``key`` to ``lease_until`` (it is alive).

        Anything else (settled, failed, replaced, gone) is left alone."""

    async def reserve_slot(self, now: float, max_block: float = ...) -> tuple[float, int]:
        """Take a rate-limit slot: ``(0, window)`` or ``(seconds to wait, window)``; no wait is
        longer than ``max_block`` (:meth:`~truto_stripe_mcp.upstream.window.RateLimitState.reserve`)."""

    async def observe_window(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None,
        max_block: float = ...,
    ) -> None:
        """Fold one response's rate-limit headers into the shared window (blocks cut to ``max_block``)."""

    async def clear(self) -> int:
        """Forget this account's state (keys, tokens, approvals, window, secret); how many entries went."""

    async def summary(self) -> dict[str, Any]:
        """Counts for ``doctor`` and ``state show``."""

    async def aclose(self) -> None: ...

"""One-time, expiring tokens bound to one call, and where they must be, to one session.

Two kinds of token, one mechanism:

- ``ct``: a confirmation token, the agent-readable approval a person chose with
  ``--approval token`` (the agent can approve such a call itself);
- ``rs`` / ``ru``: the ``request_state`` of a 2026-07-28 input-required result, asked as
  a form (``rs``) or as a link to the approval page (``ru``). It is bound to the session
  that was asked (the *audience*), so another session replaying it is refused.

A token is an HMAC over its kind, the call's fingerprint (tool and arguments), its
audience, its expiry and a nonce, so it works for that exact call only, as that kind
only, in that session only; a redeemed token is remembered (in the shared state) until it
expires, so it works once, wherever it is redeemed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Collection

from ..errors import ToolError
from ..state.memory import MemoryState
from ..state.store import StateStore


class InvalidConfirmation(ToolError):
    """A token or request state that does not authorise this exact call."""


class ConfirmationTokens:
    """One-time, expiring HMAC tokens bound to one call's fingerprint and an audience.

    The secret and the used tokens live in the shared state: a token issued by any process
    serving the account is redeemable by any other (a replica behind a load balancer, the
    server after a restart), and only once. Nobody without the state can forge one.
    """

    def __init__(
        self, store: StateStore | None = None, ttl: float = 300.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.store: StateStore = store if store is not None else MemoryState()
        self.ttl = ttl
        self._clock = clock
        self._secret: bytes | None = None

    async def _mac(self, message: str, length: int) -> str:
        if self._secret is None:
            self._secret = await self.store.signing_secret()
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:length]

    async def _audience_tag(self, audience: str) -> str:
        """A short tag naming the session without revealing its id (an HTTP session id is a credential)."""
        return await self._mac(f"audience\n{audience}", 10)

    async def _sign(self, kind: str, fingerprint: str, expiry: int, nonce: str, tag: str) -> str:
        return await self._mac(f"{kind}.{fingerprint}.{expiry}.{nonce}.{tag}", 32)

    async def issue(self, fingerprint: str, kind: str = "ct", audience: str = "") -> str:
        """A token for this call, of this kind, redeemable only with the same ``audience``."""
        expiry = int(self._clock() + self.ttl)
        nonce = secrets.token_hex(6)
        tag = await self._audience_tag(audience)
        return f"{kind}_{expiry}_{nonce}_{tag}_{await self._sign(kind, fingerprint, expiry, nonce, tag)}"

    async def redeem(
        self, token: str, fingerprint: str, *, audience: str = "", kinds: Collection[str] = ("ct",)
    ) -> str:
        """Accept the token for this call once and return its kind, or say precisely why not."""
        now = self._clock()
        parts = token.split("_")
        if len(parts) != 5 or not parts[1].isdigit():
            raise InvalidConfirmation(
                "That confirmation token is malformed; call without it to get a new one."
            )
        kind, expiry_text, nonce, tag, signature = parts
        if kind not in kinds:
            raise InvalidConfirmation(
                "That token is not one this parameter takes; call without it to be asked again."
            )
        if not hmac.compare_digest(tag, await self._audience_tag(audience)):
            raise InvalidConfirmation(
                "That approval was asked in another session; only the session that was asked can "
                "answer it. Call without it to be asked in this one."
            )
        expiry = int(expiry_text)
        if not hmac.compare_digest(signature, await self._sign(kind, fingerprint, expiry, nonce, tag)):
            raise InvalidConfirmation(
                "That confirmation token was issued for a different call (other tool or arguments). "
                "Call without it to get a preview and a token for these exact arguments."
            )
        if expiry < now:
            raise InvalidConfirmation(
                "That confirmation token has expired; call without it to get a new one."
            )
        if not await self.store.use_token(token, now, float(expiry)):
            raise InvalidConfirmation("That confirmation token was already used; each token works once.")
        return kind

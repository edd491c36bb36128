"""One-time, expiring confirmation tokens: the approval path for clients that cannot ask a person.

A token is an HMAC over one call's fingerprint (tool and arguments) and its expiry, so it
works for that exact call only, and a redeemed token is remembered (in the shared state)
until it expires, so it works once, wherever it is redeemed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from ..errors import ToolError
from ..state.memory import MemoryState
from ..state.store import StateStore


class InvalidConfirmation(ToolError):
    """A token or request state that does not authorise this exact call."""


class ConfirmationTokens:
    """One-time, expiring HMAC tokens bound to one call's fingerprint.

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

    async def _sign(self, fingerprint: str, expiry: int, nonce: str) -> str:
        if self._secret is None:
            self._secret = await self.store.signing_secret()
        message = f"{fingerprint}.{expiry}.{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    async def issue(self, fingerprint: str, prefix: str = "ct") -> str:
        expiry = int(self._clock() + self.ttl)
        nonce = secrets.token_hex(6)
        return f"{prefix}_{expiry}_{nonce}_{await self._sign(fingerprint, expiry, nonce)}"

    async def redeem(self, token: str, fingerprint: str) -> None:
        """Accept the token for this call once, or say precisely why not."""
        now = self._clock()
        parts = token.split("_")
        if len(parts) != 4 or not parts[1].isdigit():
            raise InvalidConfirmation(
                "That confirmation token is malformed; call without it to get a new one."
            )
        _, expiry_text, nonce, signature = parts
        expiry = int(expiry_text)
        if not hmac.compare_digest(signature, await self._sign(fingerprint, expiry, nonce)):
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

"""One-time, expiring confirmation tokens: the approval path for clients that cannot ask a person.

A token is an HMAC over one call's fingerprint (tool and arguments) and its expiry, so it
works for that exact call only, and a redeemed token is remembered until it expires, so it
works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from ..errors import ToolError


class InvalidConfirmation(ToolError):
    """A token or request state that does not authorise this exact call."""


class ConfirmationTokens:
    """One-time, expiring HMAC tokens bound to one call's fingerprint.

    The secret lives only in this process, so a token cannot be forged or carried to
    another server; a redeemed token is remembered until it expires, so it works once.
    """

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._used: dict[str, float] = {}

    def _sign(self, fingerprint: str, expiry: int, nonce: str) -> str:
        message = f"{fingerprint}.{expiry}.{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, fingerprint: str, prefix: str = "ct") -> str:
        expiry = int(self._clock() + self.ttl)
        nonce = secrets.token_hex(6)
        return f"{prefix}_{expiry}_{nonce}_{self._sign(fingerprint, expiry, nonce)}"

    def redeem(self, token: str, fingerprint: str) -> None:
        """Accept the token for this call once, or say precisely why not."""
        now = self._clock()
        self._used = {key: until for key, until in self._used.items() if until > now}
        parts = token.split("_")
        if len(parts) != 4 or not parts[1].isdigit():
            raise InvalidConfirmation(
                "That confirmation token is malformed; call without it to get a new one."
            )
        _, expiry_text, nonce, signature = parts
        expiry = int(expiry_text)
        if not hmac.compare_digest(signature, self._sign(fingerprint, expiry, nonce)):
            raise InvalidConfirmation(
                "That confirmation token was issued for a different call (other tool or arguments). "
                "Call without it to get a preview and a token for these exact arguments."
            )
        if expiry < now:
            raise InvalidConfirmation(
                "That confirmation token has expired; call without it to get a new one."
            )
        if token in self._used:
            raise InvalidConfirmation("That confirmation token was already used; each token works once.")
        self._used[token] = float(expiry)

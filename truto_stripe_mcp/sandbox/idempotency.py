"""Stripe's Idempotency-Key semantics for mutations.

The first completed response for a key is stored and replayed (with
`Idempotent-Replayed: true`) for the same method, path and body; reusing the key for a
different request is a 400 `idempotency_error`, and reusing it while the first request
is still running is a 409. This is what lets a client safely retry a POST whose
response was lost (see the `drop_after_commit` fault).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, stripe_error


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


def fingerprint(method: str, path: str, body: Any) -> str:
    """Identity of a request for replay purposes (key order in the body does not matter)."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyCache:
    """Bounded LRU of stored responses plus the keys currently in flight."""

    def __init__(self, max_keys: int) -> None:
        self._lock = threading.Lock()
        self._max = max_keys
        self._done: OrderedDict[str, StoredResponse] = OrderedDict()
        self._in_flight: dict[str, str] = {}

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
            self._in_flight.clear()

    def begin(self, key: str, print_: str) -> StoredResponse | None:
        """Return a stored response to replay, or claim the key (raises on conflicts)."""
        with self._lock:
            stored = self._done.get(key)
            if stored is not None:
                if stored.fingerprint != print_:
                    raise _mismatch(key)
                self._done.move_to_end(key)
                return stored
            if key in self._in_flight:
                raise stripe_error(
                    409,
                    "There is currently another in-progress request using this Idempotent Key (that probably "
                    f"means you submitted twice, and the other request is still going through): {key}. "
                    "Please try again later.",
                    error_type="idempotency_error",
                    code="idempotency_key_in_use",
                )
            self._in_flight[key] = print_
            return None

    def finish(self, key: str, response: StoredResponse | None) -> None:
        """Release the key, storing the response when the request actually executed."""
        with self._lock:
            self._in_flight.pop(key, None)
            if response is not None:
                self._done[key] = response
                while len(self._done) > self._max:
                    self._done.popitem(last=False)


def _mismatch(key: str) -> ApiError:
    return stripe_error(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        f"Try using a key other than '{key}' if you meant to execute a different request.",
        error_type="idempotency_error",
    )

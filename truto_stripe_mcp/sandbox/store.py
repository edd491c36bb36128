"""The in-memory object store: Stripe objects indexed by id and kept in creation order.

Reads are the hot path (benchmarks hammer list/get), so every collection keeps a dict by
id plus an ascending list of `(created, id)` keys; a page is a bisect plus a short walk
backwards (Stripe lists newest first, ties broken by id descending). Nothing is copied
except when `expand` has to substitute nested objects.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from typing import Any

from .errors import invalid, missing, truto_error

StripeObject = dict[str, Any]
Key = tuple[int, str]

COLLECTIONS: dict[str, tuple[str, str]] = {
    # collection -> (id prefix, Stripe "object" value)
    "customers": ("cus", "customer"),
    "charges": ("ch", "charge"),
    "refunds": ("re", "refund"),
    "disputes": ("dp", "dispute"),
    "payment_intents": ("pi", "payment_intent"),
    "tax_ids": ("txi", "tax_id"),
    "subscriptions": ("sub", "subscription"),
    "invoices": ("in", "invoice"),
    "products": ("prod", "product"),
    "prices": ("price", "price"),
    "payment_links": ("plink", "payment_link"),
}
ALIASES = {"customer_subscriptions": "subscriptions", "customer_tax_ids": "tax_ids"}
EXPANDABLE = {
    "customer": "customers",
    "charge": "charges",
    "payment_intent": "payment_intents",
    "subscription": "subscriptions",
    "latest_invoice": "invoices",
    "latest_charge": "charges",
    "invoice": "invoices",
    "product": "products",
    "default_price": "prices",
}
_ID_CHARS = string.ascii_letters + string.digits
_MAX_KEY_ID = "\U0010ffff"


class Collection:
    """One kind of object. `order` holds `(created, id)` ascending for bisecting."""

    def __init__(self, name: str, prefix: str, object_name: str) -> None:
        self.name = name
        self.prefix = prefix
        self.object_name = object_name
        self.by_id: dict[str, StripeObject] = {}
        self.keys: dict[str, Key] = {}
        self.order: list[Key] = []
        self.deleted: dict[str, StripeObject] = {}

    def add(self, obj: StripeObject, created: int) -> StripeObject:
        key = (created, obj["id"])
        self.by_id[obj["id"]] = obj
        self.keys[obj["id"]] = key
        if not self.order or key > self.order[-1]:
            self.order.append(key)  # the common case: seeding in order, or a new object
        else:
            insort(self.order, key)
        return obj

    def remove(self, object_id: str) -> StripeObject:
        obj = self.by_id.pop(object_id)
        key = self.keys.pop(object_id)
        del self.order[bisect_left(self.order, key)]
        self.deleted[object_id] = {"id": object_id, "object": self.object_name, "deleted": True}
        return obj

    def iter_desc(self, before: Key | None, low: int | None, high: int | None) -> Iterator[StripeObject]:
        """Objects newest first, strictly older than `before`, with low <= created <= high."""
        end = len(self.order)
        if before is not None:
            end = bisect_left(self.order, before)
        if high is not None:
            end = min(end, bisect_right(self.order, (high, _MAX_KEY_ID)))
        for i in range(end - 1, -1, -1):
            created, object_id = self.order[i]
            if low is not None and created < low:
                return
            yield self.by_id[object_id]


class Store:
    """All collections plus id generation and the sandbox clock.

    A lock guards mutations because tests poke the store from their own thread while the
    server thread serves requests.
    """

    def __init__(self, seed: int, now: float) -> None:
        self.lock = threading.RLock()
        self.anchor = now
        self._started = time.monotonic()
        self._ids = random.Random(f"runtime-ids-{seed}")
        self.collections = {name: Collection(name, p, o) for name, (p, o) in COLLECTIONS.items()}

    # -- identity and time -------------------------------------------------------------
    def clock(self) -> int:
        """Now for new objects: real time, but never before the seeded data's anchor."""
        return int(max(time.time(), self.anchor + (time.monotonic() - self._started)))

    def token(self, prefix: str, rng: random.Random | None = None, length: int = 14) -> str:
        """A random id for sub-objects that live inside others (si_, il_, txn_, ...)."""
        return f"{prefix}_{''.join((rng or self._ids).choices(_ID_CHARS, k=length))}"

    def collection(self, name: str) -> Collection:
        return self.collections[ALIASES.get(name, name)]

    def new_id(self, name: str, rng: random.Random | None = None) -> str:
        """A Stripe-looking id (`cus_` + 14 alphanumerics), unique in its collection."""
        coll = self.collection(name)
        source = rng or self._ids
        while True:
            candidate = f"{coll.prefix}_{''.join(source.choices(_ID_CHARS, k=14))}"
            if candidate not in coll.by_id and candidate not in coll.deleted:
                return candidate

    # -- writes --------------------------------------------------------------------------
    def add(self, name: str, obj: StripeObject, created: int | None = None) -> StripeObject:
        with self.lock:
            when = created if created is not None else int(obj.get("created") or self.clock())
            return self.collection(name).add(obj, when)

    def remove(self, name: str, object_id: str) -> StripeObject:
        with self.lock:
            return self.collection(name).remove(object_id)

    # -- reads ---------------------------------------------------------------------------
    def get(self, name: str, object_id: str) -> StripeObject | None:
        """The live object (do not mutate it outside the store's operations)."""
        return self.collection(name).by_id.get(object_id)

    def require(self, name: str, object_id: str, param: str = "id") -> StripeObject:
        """The object, or Stripe's 404 `No such <object>: '<id>'`."""
        obj = self.collection(name).by_id.get(object_id)
        if obj is None:
            raise missing(self.collection(name).object_name, object_id, param)
        return obj

    def list(self, name: str, **filters: Any) -> list[StripeObject]:
        """Every object matching top-level equality filters, newest first (a test helper)."""
        with self.lock:
            coll = self.collection(name)
            return [
                obj
                for obj in coll.iter_desc(None, None, None)
                if all(obj.get(k) == v for k, v in filters.items())
            ]

    def count(self, name: str, **filters: Any) -> int:
        return len(self.list(name, **filters))

    def page(
        self,
        name: str,
        *,
        limit: int,
        cursor: str | None,
        predicate: Callable[[StripeObject], bool] | None = None,
        created_low: int | None = None,
        created_high: int | None = None,
    ) -> tuple[list[StripeObject], str | None]:
        """One page, newest first, and the opaque cursor for the next one (or None)."""
        with self.lock:
            coll = self.collection(name)
            before = decode_cursor(cursor, coll.name) if cursor else None
            found: list[StripeObject] = []
            for obj in coll.iter_desc(before, created_low, created_high):
                if predicate is None or predicate(obj):
                    if len(found) == limit:
                        return found, encode_cursor(coll.name, coll.keys[found[-1]["id"]])
                    found.append(obj)
            return found, None

    def expand(self, obj: StripeObject, paths: list[str]) -> StripeObject:
        """A shallow copy with the named id fields replaced by their objects (`a.b` nests)."""
        if not paths:
            return obj
        out = dict(obj)
        for path in paths:
            head, _, rest = path.partition(".")
            target = EXPANDABLE.get(head)
            if target is None or head not in out:
                raise _cannot_expand(path)
            value = out[head]
            if isinstance(value, str):
                coll = self.collection(target)
                value = coll.by_id.get(value) or coll.deleted.get(value) or value
            if rest and isinstance(value, dict):
                value = self.expand(value, [rest])
            out[head] = value
        return out


def _cannot_expand(path: str) -> Exception:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")


def encode_cursor(collection: str, key: Key) -> str:
    """Opaque to clients: base64 of the last returned key, so inserts never shift pages."""
    raw = json.dumps({"r": collection, "c": key[0], "i": key[1]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, collection: str) -> Key:
    """Inverse of `encode_cursor`; a cursor that is garbled or from another list is a 400."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        data = json.loads(raw)
        key = (int(data["c"]), str(data["i"]))
        same = data["r"] == collection
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise truto_error(400, "Invalid next_cursor: it must be a value returned by a previous call") from exc
    if not same:
        raise truto_error(400, "Invalid next_cursor: it belongs to a different list")
    return key


def encode_offset(offset: int) -> str:
    """An opaque cursor for lists that are not collections (an invoice's lines)."""
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_offset(cursor: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise truto_error(400, "Invalid next_cursor: it must be a value returned by a previous call") from exc
    if not isinstance(offset, int) or offset < 0:
        raise truto_error(400, "Invalid next_cursor: it must be a value returned by a previous call")
    return offset

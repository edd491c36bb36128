"""Reading the objects a call is about, for its approval: the question and the pre-checks.

A :data:`Reader` is the runner's: it reads one object through the same pipeline a tool
call takes (a read, never a write). It answers ``None`` when the object could not be read
(a timeout, a tool the catalog lacks), and raises :class:`ObjectMissing` only when Stripe
said the object does not exist: the one answer that proves a call on it cannot work.

:class:`ReadOnce` wraps it for one call, so the pre-checks and the question read each
object once between them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Reader = Callable[[str, str, Mapping[str, Any]], Awaitable[Mapping[str, Any] | None]]
"""``(resource, id, extra query) -> object or None``: reads upstream for the description.

``extra`` may hold more than the object's getter takes (a call's other arguments, for a
nested resource's parent): the reader keeps only what the getter accepts."""


class ObjectMissing(LookupError):
    """Stripe answered that the object does not exist (404 ``resource_missing`` naming it)."""

    def __init__(self, resource: str, object_id: str, said: str) -> None:
        super().__init__(said)
        self.resource = resource
        self.object_id = object_id
        self.said = said


@dataclass
class ReadOnce:
    """A :data:`Reader` for one call: each object is read once, its absence remembered."""

    read: Reader
    _seen: dict[str, Mapping[str, Any] | ObjectMissing | None] = field(default_factory=dict)

    async def lookup(
        self, resource: str, object_id: str, extra: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The object, ``None`` when it could not be read; raises :class:`ObjectMissing`."""
        key = json.dumps([resource, object_id, extra], sort_keys=True, default=str)
        if key not in self._seen:
            try:
                self._seen[key] = await self.read(resource, object_id, extra)
            except ObjectMissing as missing:
                self._seen[key] = missing
        found = self._seen[key]
        if isinstance(found, ObjectMissing):
            raise found
        return found

    async def __call__(
        self, resource: str, object_id: str, extra: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """A plain :data:`Reader` for the question: a missing object reads as ``None``."""
        try:
            return await self.lookup(resource, object_id, extra)
        except ObjectMissing:
            return None

"""JSON-schema building blocks and the per-resource specification type.

The catalog the sandbox serves and the validation of incoming calls are both derived
from these specs, so a parameter the catalog advertises is exactly one the proxy accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]
Props = dict[str, Schema]

_MISSING = object()
MISSING: Any = _MISSING
"""Sentinel for a schema that must be absent from the tool (the key is not emitted)."""


def string(description: str, **extra: Any) -> Schema:
    """A string property."""
    return {"type": "string", "description": description, **extra}


def integer(description: str, **extra: Any) -> Schema:
    """An integer property (amounts are integers in the currency's minor unit)."""
    return {"type": "integer", "description": description, **extra}


def boolean(description: str) -> Schema:
    """A boolean property."""
    return {"type": "boolean", "description": description}


def enum(description: str, values: list[str]) -> Schema:
    """A string restricted to Stripe's documented values."""
    return {"type": "string", "description": description, "enum": values}


def obj(description: str, properties: Props, required: list[str] | None = None) -> Schema:
    """A nested hash such as `recurring` or `evidence`."""
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = required
    return schema


def array(description: str, items: Schema) -> Schema:
    """An array property such as `items` or `line_items`."""
    return {"type": "array", "description": description, "items": items}


def metadata() -> Schema:
    """Stripe's metadata hash: string keys to string values; an empty value unsets a key."""
    return {
        "type": "object",
        "description": "Set of key-value pairs that you can attach to an object. Useful for storing "
        "additional information in a structured format. Individual keys can be unset by posting an "
        "empty value to them.",
        "additionalProperties": {"type": "string"},
    }


def timestamp_filter(description: str) -> Schema:
    """Stripe's range filter: a bare epoch second (exact match) or a gt/gte/lt/lte hash."""
    bound = {"type": "integer"}
    return {
        "type": ["integer", "object"],
        "description": description
        + " Either a Unix timestamp (exact match) or a hash with gt, gte, lt or lte (Unix seconds).",
        "properties": {
            "gt": {**bound, "description": "Return results where the value is after this timestamp."},
            "gte": {**bound, "description": "Return results where the value is at or after this timestamp."},
            "lt": {**bound, "description": "Return results where the value is before this timestamp."},
            "lte": {**bound, "description": "Return results where the value is at or before this timestamp."},
        },
    }


def expand() -> Schema:
    """`expand[]`: fields whose ids should be replaced by the full objects."""
    return array(
        "Specifies which fields in the response should be expanded, e.g. customer.", {"type": "string"}
    )


LIMIT: Schema = integer(
    "A limit on the number of objects to be returned. Limit can range between 1 and 100, and the "
    "default is 10.",
    minimum=1,
    maximum=100,
)
NEXT_CURSOR: Schema = string(
    "The cursor to fetch the next page of results. Pass the next_cursor value from the previous response."
)


def created_filter(noun: str) -> Schema:
    """The ubiquitous `created` filter."""
    return timestamp_filter(f"Only return {noun} that were created during the given date interval.")


CUSTOM_ID_DESCRIPTION = "The identifier of the {singular} to act on."


@dataclass(frozen=True)
class CustomMethod:
    """A non-CRUD method (`POST /proxy/{resource}/{method}` with the object id in the body)."""

    description: str
    body: Props = field(default_factory=dict)
    required: tuple[str, ...] = ()
    query_schema: Any = None  # None -> emitted as null (one of the shapes clients must accept)


@dataclass(frozen=True)
class ResourceSpec:
    """Everything the sandbox knows about one Truto resource of the Stripe integration.

    `collection` is the store collection holding the objects (nested resources share their
    parent's collection, e.g. customer_subscriptions -> subscriptions). `parent` names the
    query parameter that must carry the parent id (e.g. "customer").
    """

    name: str
    singular: str
    collection: str
    noun: str  # human-readable singular for messages: "customer", "tax ID"
    tags: tuple[str, ...]
    descriptions: dict[str, str]
    filters: Props = field(default_factory=dict)
    create: Props | None = None
    create_required: tuple[str, ...] = ()
    update: Props | None = None
    deletable: bool = False
    custom: dict[str, CustomMethod] = field(default_factory=dict)
    parent: str | None = None
    # Schema-shape variations so clients meet every form the contract allows.
    get_body_schema: Any = MISSING
    create_query_schema: Any = MISSING
    delete_body_schema: Any = None

    @property
    def methods(self) -> list[str]:
        """CRUD methods first, then custom ones, in a stable order."""
        found = ["list", "get"]
        if self.create is not None:
            found.append("create")
        if self.update is not None:
            found.append("update")
        if self.deletable:
            found.append("delete")
        return found + list(self.custom)

    def parent_props(self) -> Props:
        """The query property carrying the parent id, for nested resources."""
        if self.parent is None:
            return {}
        return {self.parent: string(f"The identifier of the {self.parent} the {self.noun} belongs to.")}

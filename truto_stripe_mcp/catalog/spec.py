"""The tool catalog: Truto's tool descriptions turned into MCP-ready tool specs.

Truto describes each Stripe operation with a ``query_schema`` and a ``body_schema``;
an MCP tool has one ``inputSchema``. :class:`ToolSpec` keeps both views: the merged
schema agents see, and which schema owns each property so arguments can be split back
into path id, query and body exactly as Truto expects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import CatalogFormatError
from ..time_arguments import TimeParameter, time_parameters
from .compact_schema import compact_property, compact_schema, has_nested_fields, plain_sentence

logger = logging.getLogger(__name__)

CRUD_METHODS = ("list", "get", "create", "update", "delete")
READ_METHODS = frozenset({"list", "get"})
WRITE_METHODS = frozenset({"create", "update", "delete"})
ID_METHODS = frozenset({"get", "update", "delete"})
READ_ACTIONS = frozenset({"search", "retrieve", "find", "preview", "upcoming"})
"""Custom methods that only read (Stripe's GET actions: ``/charges/search``, ``/invoices/upcoming``,
``/balance``). Truto's catalog does not say which HTTP verb a custom method uses, so a custom
method counts as a read only when it is named so AND takes no body parameters: a write can
never pass for a read and skip approval or its Idempotency-Key."""

LIST_HINT = "Paged by `next_cursor`."
NESTED_HINT = "Nested fields: describe_tool."
TIME_FILTER_DESCRIPTION = "Epoch, ISO date, phrase or {gt,gte,lt,lte}."
CONFIRMATION_TOKEN_PROPERTY = {
    "type": "string",
    "description": "Only when a previous call asked for confirmation: the token it returned.",
}
FIELDS_PROPERTY = {
    "type": "string",
    "description": "Optional comma-separated dotted paths to keep in each object, e.g. "
    "`id,email,created,metadata.plan`. `id` and `object` are always kept.",
}
IDEMPOTENCY_KEY_PROPERTY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "description": "Optional. Reuse the same key when retrying this exact call yourself; "
    "Stripe then returns the first result instead of acting twice.",
}
SHARED_PROPERTIES: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer"},
    "next_cursor": {"type": "string"},
    "expand": {"type": "array"},
    "fields": {"type": "string"},
    "idempotency_key": {"type": "string"},
    "confirmation_token": {"type": "string"},
}
"""How tools/list shows the conventions every tool shares (explained once, in the server's
instructions): their type, no repeated prose. Each is a loosening of the full property."""

# Annotations per kind, from the MCP spec's meaning of each hint.
_READ_ANNOTATIONS = {"readOnlyHint": True, "idempotentHint": True, "destructiveHint": False}
_ANNOTATIONS: dict[str, dict[str, bool]] = {
    "list": _READ_ANNOTATIONS,
    "get": _READ_ANNOTATIONS,
    "create": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False},
    "update": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True},
    "delete": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True},
}
_CUSTOM_ANNOTATIONS = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False}


class SkippedTool(ValueError):
    """A catalog entry that names a tool but cannot be called (no method): skipped, with a warning."""


def _schema_properties(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    props = schema.get("properties")
    return dict(props) if isinstance(props, Mapping) else {}


def _accept_iso(schema: Any) -> Any:
    """The same schema, with every integer also allowed as a string (an ISO date).

    The server converts ISO values to epochs before sending, so the widened schema
    tells agents the truth without loosening what reaches Stripe.
    """
    if isinstance(schema, list):
        return [_accept_iso(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {key: _accept_iso(value) for key, value in schema.items()}
    kind = schema.get("type")
    if kind == "integer":
        out["type"] = ["integer", "string"]
    elif isinstance(kind, list) and "integer" in kind and "string" not in kind:
        out["type"] = [*kind, "string"]
    return out


def singular(resource: str) -> str:
    """``customer_tax_ids`` -> ``customer tax id``: good enough for titles, not grammar."""
    words = resource.replace("-", "_").split("_")
    last = words[-1]
    if last.endswith("ies") and len(last) > 3:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "ches", "shes", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


@dataclass(frozen=True)
class ToolSpec:
    """One Truto tool, with everything derived from it that the server needs."""

    name: str
    description: str
    resource: str
    method: str
    query_schema: dict[str, Any] = field(default_factory=dict)
    body_schema: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``list``/``get``/``create``/``update``/``delete`` or ``custom``."""
        return self.method if self.method in CRUD_METHODS else "custom"

    @cached_property
    def is_read(self) -> bool:
        """Only reads: list, get, and custom read actions such as ``search`` (see READ_ACTIONS)."""
        if self.method in READ_METHODS:
            return True
        action = self.method.split("_", 1)[0]
        return self.kind == "custom" and action in READ_ACTIONS and not (self.body_params - {"expand"})

    @property
    def takes_path_id(self) -> bool:
        return self.method in ID_METHODS

    @cached_property
    def query_params(self) -> frozenset[str]:
        names = set(_schema_properties(self.query_schema))
        if self.method == "list":
            names |= {"limit", "next_cursor"}
        return frozenset(names)

    @cached_property
    def body_params(self) -> frozenset[str]:
        return frozenset(_schema_properties(self.body_schema))

    @cached_property
    def title(self) -> str:
        noun = singular(self.resource)
        if self.method == "list":
            return f"List Stripe {self.resource.replace('_', ' ')}"
        verb = {"get": "Get", "create": "Create", "update": "Update", "delete": "Delete"}.get(
            self.method, self.method.replace("_", " ").capitalize()
        )
        return f"{verb} a Stripe {noun}"

    @cached_property
    def annotations(self) -> dict[str, Any]:
        base = _READ_ANNOTATIONS if self.is_read else _ANNOTATIONS.get(self.method, _CUSTOM_ANNOTATIONS)
        return {"title": self.title, **base, "openWorldHint": True}

    @cached_property
    def time_params(self) -> dict[str, TimeParameter]:
        """Arguments that are times (range filters or instants), read from the schemas."""
        return time_parameters(self.query_schema, self.body_schema)

    @property
    def takes_fields(self) -> bool:
        return self.is_read

    @cached_property
    def agent_description(self) -> str:
        """The first sentence of Truto's description, whole, plus the hint a list needs."""
        text = plain_sentence(self.description) or f"{self.title}."
        if text[-1] not in ".!?":
            text += "."
        return f"{text} {LIST_HINT}" if self.method == "list" else text

    @cached_property
    def listed_description(self) -> str:
        """The description tools/list shows: it points at describe_tool when fields are folded away."""
        ranges = {name for name, param in self.time_params.items() if param.kind == "range"}
        folded = any(
            has_nested_fields(prop)
            for name, prop in self.input_schema["properties"].items()
            if name not in ranges and name not in SHARED_PROPERTIES
        )
        return f"{self.agent_description} {NESTED_HINT}" if folded else self.agent_description

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        """Query and body properties merged into one flat object schema.

        A property named by both schemas is shown once (the body's wins, as for Truto's
        own LangChain toolset) and sent in both places. Unknown properties are refused:
        an agent's typo (``emial``) must be an error, not a silently ignored filter that
        returns everything.
        """
        properties: dict[str, Any] = {}
        properties.update(_schema_properties(self.query_schema))
        properties.update(_schema_properties(self.body_schema))
        for name in self.time_params:
            properties[name] = _accept_iso(properties[name])
        required = list(self.required)
        if self.method == "list" or "limit" in properties:
            # Stripe's page size is 1 to 100 whatever the catalog's schema states (Stripe's own
            # states no bounds): checked here, not after a round trip.
            given = properties.get("limit") if isinstance(properties.get("limit"), Mapping) else {}
            properties["limit"] = {
                "description": "Page size (1-100).",
                **given,
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
            }
        if self.method == "list":
            properties.setdefault(
                "next_cursor",
                {"type": "string", "description": "Cursor from the previous page's `next_cursor`."},
            )
        if self.takes_path_id:
            given = properties.get("id")
            noun = singular(self.resource)
            described = given.get("description") if isinstance(given, Mapping) else None
            properties["id"] = {
                "type": "string",
                "minLength": 1,
                "description": described or f"The Stripe {noun} id.",
            }
            if "id" not in required:
                required.insert(0, "id")
        if self.takes_fields:
            properties.setdefault("fields", FIELDS_PROPERTY)
        if not self.is_read:
            properties.setdefault("idempotency_key", IDEMPOTENCY_KEY_PROPERTY)
            properties.setdefault("confirmation_token", CONFIRMATION_TOKEN_PROPERTY)
        for name in required:
            properties.setdefault(name, {})
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = list(dict.fromkeys(required))
        schema["additionalProperties"] = False
        return schema

    @cached_property
    def listed_schema(self) -> dict[str, Any]:
        """The input schema as tools/list shows it (see :mod:`~truto_stripe_mcp.catalog.compact_schema`).

        The shared conventions (``limit``, ``next_cursor``, ``expand``, ``fields``,
        ``idempotency_key``, ``confirmation_token``) are listed by type only; a range
        filter says in one sentence of ours which forms it takes.
        """
        overrides: dict[str, Mapping[str, Any]] = {}
        properties = self.input_schema["properties"]
        for name in properties:
            if name in SHARED_PROPERTIES:
                overrides[name] = SHARED_PROPERTIES[name]
            elif name == "id" and self.takes_path_id:
                overrides[name] = {"type": "string"}
        for name, param in self.time_params.items():
            if param.kind == "range" and name in properties:
                loose = compact_property(properties[name], describe=False)
                overrides[name] = {"description": TIME_FILTER_DESCRIPTION, **loose}
        return compact_schema(self.input_schema, overrides)

    def split_arguments(
        self, arguments: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
        """Arguments back into (path id, query, body), by which schema names each one.

        A name in both schemas goes to both, as Truto's own toolset sends it. A name in
        neither (only possible through ``required``) goes where a request of this method
        carries its parameters: the query for reads, the body otherwise.
        """
        path_id: str | None = None
        query: dict[str, Any] = {}
        body: dict[str, Any] = {}
        body_names = self.body_params
        query_names = self.query_params
        for name, value in arguments.items():
            if name == "id" and self.takes_path_id:
                path_id = str(value)
                continue
            in_body, in_query = name in body_names, name in query_names
            if in_body:
                body[name] = value
            if in_query or (not in_body and self.is_read):
                query[name] = value
            elif not in_body:
                body[name] = value
        return path_id, query, body


def parse_tool(raw: Mapping[str, Any]) -> ToolSpec:
    """One entry of the tools endpoint; missing or null schemas become empty ones."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogFormatError(f"tool without a name: {dict(raw)!r:.200}")
    method = str(raw.get("method") or "").strip().lower()
    if not method:
        raise SkippedTool(f"tool {name!r} has no method, so it cannot be called")
    resource = str(raw.get("resource") or "").strip()
    if not resource:
        raise CatalogFormatError(f"tool {name!r} has no resource")
    query_schema = raw.get("query_schema") if isinstance(raw.get("query_schema"), Mapping) else {}
    body_schema = raw.get("body_schema") if isinstance(raw.get("body_schema"), Mapping) else {}
    required = raw.get("required") if isinstance(raw.get("required"), list) else []
    tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
    return ToolSpec(
        name=name,
        description=str(raw.get("description") or ""),
        resource=resource,
        method=method,
        query_schema=dict(query_schema),
        body_schema=dict(body_schema),
        required=tuple(str(item) for item in required),
        tags=tuple(str(tag) for tag in tags),
    )


@dataclass(frozen=True)
class Catalog:
    """Every tool the upstream catalog returned, sorted by name for a stable listing."""

    specs: tuple[ToolSpec, ...]
    _index: dict[str, ToolSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {spec.name: spec for spec in self.specs})

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]]) -> Catalog:
        by_name: dict[str, ToolSpec] = {}
        for entry in entries:
            try:
                spec = parse_tool(entry)
            except SkippedTool as exc:
                logger.warning("skipping a catalog entry: %s", exc)
                continue
            by_name.setdefault(spec.name, spec)
        return cls(tuple(sorted(by_name.values(), key=lambda spec: spec.name)))

    def get(self, name: str) -> ToolSpec | None:
        return self._index.get(name)

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

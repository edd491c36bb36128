"""The tool catalog served at `GET /integrated-account/{id}/tools`.

Every Stripe operation is one tool (see :mod:`.stripe_spec`); the same records drive
request validation, so whatever a client learns from the catalog is exactly what the proxy
routes accept. Truto's filters apply here: `methods`, `tags` (combined as AND) and
`has_description` (by default only documented tools are listed, as Truto does).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .store import decode_offset, encode_offset
from .stripe_spec import load_spec

CRUD_METHODS = ("list", "get", "create", "update", "delete")
READ_METHODS = frozenset({"list", "get"})
WRITE_METHODS = frozenset({"create", "update", "delete"})


EMPTY_SCHEMA_FORMS: tuple[Any, ...] = (_ABSENT := object(), None, {}, {"type": "object", "properties": {}})
"""The forms the contract allows for a schema without properties: absent, null, empty, or an
empty object schema. The served catalog uses each of them, so clients meet them all."""


def _served(tool: dict[str, Any], index: int) -> dict[str, Any]:
    """A tool as the endpoint serves it: empty schemas take one of the contract's forms."""
    out = dict(tool)
    for offset, key in enumerate(("query_schema", "body_schema")):
        if (tool.get(key) or {}).get("properties"):
            continue
        form = EMPTY_SCHEMA_FORMS[(index + offset) % len(EMPTY_SCHEMA_FORMS)]
        if form is _ABSENT:
            del out[key]
        else:
            out[key] = form if form is None else dict(form)
    return out


@cache
def all_tools() -> tuple[dict[str, Any], ...]:
    """Every tool of the catalog, documented or not, in a stable order."""
    return tuple(_served(tool, index) for index, tool in enumerate(load_spec().tools))


def _method_matches(method: str, wanted: set[str]) -> bool:
    if method in wanted:
        return True
    if "read" in wanted and method in READ_METHODS:
        return True
    if "write" in wanted and method in WRITE_METHODS:
        return True
    return "custom" in wanted and method not in CRUD_METHODS


def _split(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def filter_tools(
    methods: str | None = None, tags: str | None = None, has_description: str | None = None
) -> list[dict[str, Any]]:
    """Apply Truto's `methods` and `tags` filters (comma lists; the two combine as AND).

    `has_description=false` also returns the tools that have no description; without it
    (or with `true`) only documented tools are listed, as Truto's endpoint does.
    """
    wanted_methods, wanted_tags = _split(methods), _split(tags)
    undocumented = (has_description or "").strip().lower() == "false"
    selected = []
    for tool in all_tools():
        if not undocumented and not tool["description"]:
            continue
        if wanted_methods and not _method_matches(tool["method"], wanted_methods):
            continue
        if wanted_tags and not wanted_tags.intersection(tool["tags"]):
            continue
        selected.append(tool)
    return selected


def catalog_body(
    tools: list[dict[str, Any]], shape: str, page_size: int | None, cursor: str | None
) -> dict[str, Any] | list[dict[str, Any]]:
    """Wrap the tools in the configured shape, paginating when a page size is set.

    A bare array cannot carry a cursor, so the "bare" shape always returns everything.
    """
    if shape == "bare":
        return tools
    key = "results" if shape == "results" else "result"
    if page_size is None:
        return {key: tools}
    start = decode_offset(cursor) if cursor else 0
    page = tools[start : start + page_size]
    more = start + page_size < len(tools)
    return {key: page, "next_cursor": encode_offset(start + page_size) if more else None}


TOOLS: list[dict[str, Any]] = filter_tools()
"""The tools the endpoint lists by default (the documented ones), in a stable order."""

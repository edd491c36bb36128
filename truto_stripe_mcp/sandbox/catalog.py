"""The tool catalog served at `GET /integrated-account/{id}/tools`.

Built once from the resource specs; the same tool records drive request validation, so
whatever a client learns from the catalog is exactly what the proxy routes accept.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .errors import truto_error
from .schemas import (
    CUSTOM_ID_DESCRIPTION,
    LIMIT,
    MISSING,
    NEXT_CURSOR,
    Props,
    ResourceSpec,
    Schema,
    expand,
    string,
)
from .specs_billing import BILLING_SPECS
from .specs_payments import PAYMENT_SPECS

CRUD_METHODS = ("list", "get", "create", "update", "delete")
READ_METHODS = frozenset({"list", "get"})
WRITE_METHODS = frozenset({"create", "update", "delete"})

SPECS: dict[str, ResourceSpec] = {spec.name: spec for spec in (*PAYMENT_SPECS, *BILLING_SPECS)}
"""Resource name -> spec, in catalog order."""


def tool_name(spec: ResourceSpec, method: str) -> str:
    """Truto's naming scheme; custom methods read as `<method>_a_stripe_<singular>`."""
    match method:
        case "list":
            return f"list_all_stripe_{spec.name}"
        case "get":
            return f"get_single_stripe_{spec.singular}_by_id"
        case "create":
            return f"create_a_stripe_{spec.singular}"
        case "update":
            return f"update_a_stripe_{spec.singular}_by_id"
        case "delete":
            return f"delete_a_stripe_{spec.singular}_by_id"
        case _:
            return f"{method}_a_stripe_{spec.singular}"


def _object(props: Props) -> Schema:
    return {"type": "object", "properties": dict(props)}


def _id_prop(spec: ResourceSpec, verb: str) -> Props:
    return {"id": string(f"The identifier of the {spec.noun} to {verb}.")}


def _schemas(spec: ResourceSpec, method: str) -> tuple[Any, Any, list[str]]:
    """(query_schema, body_schema, required) for one tool; MISSING means "key absent"."""
    parent = spec.parent_props()
    parent_required = [spec.parent] if spec.parent else []
    if method == "list":
        props = {**parent, "limit": LIMIT, "next_cursor": NEXT_CURSOR, **spec.filters, "expand": expand()}
        return _object(props), _object({}), parent_required
    if method == "get":
        query = _object({**_id_prop(spec, "retrieve"), **parent, "expand": expand()})
        return query, spec.get_body_schema, ["id", *parent_required]
    if method == "create":
        query = _object(parent) if spec.parent else spec.create_query_schema
        return query, _object(spec.create or {}), [*spec.create_required, *parent_required]
    if method == "update":
        query = _object({**_id_prop(spec, "update"), **parent, "expand": expand()})
        return query, _object(spec.update or {}), ["id", *parent_required]
    if method == "delete":
        verb = "cancel" if spec.collection == "subscriptions" else "delete"
        return _object({**_id_prop(spec, verb), **parent}), spec.delete_body_schema, ["id", *parent_required]
    custom = spec.custom[method]
    body = {"id": string(CUSTOM_ID_DESCRIPTION.format(singular=spec.noun)), **custom.body}
    return custom.query_schema, _object(body), list(custom.required)


def build_tool(spec: ResourceSpec, method: str) -> dict[str, Any]:
    """One catalog record in the contract's shape."""
    query, body, required = _schemas(spec, method)
    description = spec.descriptions.get(method) or spec.custom[method].description
    tool: dict[str, Any] = {
        "name": tool_name(spec, method),
        "description": description,
        "resource": spec.name,
        "method": method,
    }
    if query is not MISSING:
        tool["query_schema"] = query
    if body is not MISSING:
        tool["body_schema"] = body
    tool["required"] = required
    tool["tags"] = list(spec.tags)
    return tool


TOOLS: list[dict[str, Any]] = [build_tool(spec, m) for spec in SPECS.values() for m in spec.methods]
"""The full catalog, in a stable order."""

TOOL_INDEX: dict[tuple[str, str], dict[str, Any]] = {(t["resource"], t["method"]): t for t in TOOLS}


def _method_matches(method: str, wanted: set[str]) -> bool:
    if method in wanted:
        return True
    if "read" in wanted and method in READ_METHODS:
        return True
    if "write" in wanted and method in WRITE_METHODS:
        return True
    return "custom" in wanted and method not in CRUD_METHODS


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def filter_tools(methods: str | None = None, tags: str | None = None) -> list[dict[str, Any]]:
    """Apply Truto's `methods` and `tags` filters (comma lists; the two combine as AND)."""
    wanted_methods, wanted_tags = _split(methods), _split(tags)
    selected = []
    for tool in TOOLS:
        if wanted_methods and not _method_matches(tool["method"], wanted_methods):
            continue
        if wanted_tags and not wanted_tags.intersection(tool["tags"]):
            continue
        selected.append(tool)
    return selected


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_offset(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise truto_error(400, "Invalid next_cursor") from exc
    if not isinstance(offset, int) or offset < 0:
        raise truto_error(400, "Invalid next_cursor")
    return offset


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
    start = _decode_offset(cursor) if cursor else 0
    page = tools[start : start + page_size]
    more = start + page_size < len(tools)
    return {key: page, "next_cursor": _encode_offset(start + page_size) if more else None}

"""MCP resources: timestamps and whole lists by URI, for clients that surface resources.

``truto-stripe://timestamp/{value}`` converts one value or phrase;
``truto-stripe://list/{tool}{?query*}`` returns the same auto-paginated result as the
``auto_paginate`` tool (without the tool-result budget: a resource is read on purpose).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InvalidArgumentsError
from .auto_paginate import paginate
from .convert_timestamp import convert_values, describe_range
from .pagination import MAX_ITEMS_LIMIT
from .tools import CallContext, ToolHost

if TYPE_CHECKING:
    from ..catalog.spec import ToolSpec

SCHEME = "truto-stripe"
TIMESTAMP_TEMPLATE = f"{SCHEME}://timestamp/{{value}}"
LIST_TEMPLATE = f"{SCHEME}://list/{{tool}}{{?query*}}"
MAIN_LISTS = ("customers", "charges", "subscriptions", "invoices", "refunds", "disputes", "payment_links")
_BRACKET = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")


class ResourceError(ValueError):
    """A resource URI this server does not serve, with the reason."""


def templates() -> list[dict[str, str]]:
    return [
        {
            "uriTemplate": TIMESTAMP_TEMPLATE,
            "name": "timestamp",
            "description": "Convert an epoch, an ISO date or a phrase ('last 7 days') to epoch and ISO.",
        },
        {
            "uriTemplate": LIST_TEMPLATE,
            "name": "list",
            "description": "Every page of a Stripe list tool as one JSON document (max_items defaults to 1000).",
        },
    ]


def listed(specs: list[ToolSpec]) -> list[dict[str, str]]:
    """A resource per main list tool that this configuration exposes."""
    out = []
    for spec in specs:
        if spec.method == "list" and spec.resource in MAIN_LISTS:
            out.append(
                {
                    "uri": f"{SCHEME}://list/{spec.name}",
                    "name": spec.name,
                    "description": f"All Stripe {spec.resource.replace('_', ' ')} (auto-paginated).",
                }
            )
    return out


def decode_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``created[gte]=1`` and ``expand[]=a`` back into nested values (strings)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = _BRACKET.match(key)
        if not match:
            out[key] = value
            continue
        parts = re.findall(r"\[([^\[\]]*)\]", match.group(2))
        target: Any = out
        path = [match.group(1), *parts]
        for index, part in enumerate(path[:-1]):
            following = path[index + 1]
            default: Any = [] if following == "" else {}
            if isinstance(target, dict):
                target = target.setdefault(part, default)
        last = path[-1]
        if isinstance(target, list):
            target.append(value)
        elif isinstance(target, dict):
            target[last] = value
    return out


def _coerce(value: Any, schema: Any) -> Any:
    """Query strings are text; give the schema's integers and booleans their types back."""
    if isinstance(value, dict):
        props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        return {key: _coerce(item, props.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {}) if isinstance(schema, Mapping) else {}
        return [_coerce(item, items) for item in value]
    kinds = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "boolean" in kinds and value in {"true", "false"}:
        return value == "true"
    return value


async def read(host: ToolHost, uri: str) -> Any:
    """The JSON document a resource URI names."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        raise ResourceError(f"unknown resource {uri!r}: this server serves {SCHEME}:// URIs")
    if parts.netloc == "timestamp":
        value = unquote(parts.path.lstrip("/"))
        if not value:
            raise ResourceError(
                "truto-stripe://timestamp/ needs a value, e.g. truto-stripe://timestamp/1672531199"
            )
        converted = convert_values([value])[0]
        if "error" not in converted:
            return converted
        try:
            return describe_range(value)
        except InvalidArgumentsError:
            return converted
    if parts.netloc == "list":
        tool = unquote(parts.path.lstrip("/"))
        spec = await host.resolve(tool)
        query = decode_query(parse_qsl(parts.query, keep_blank_values=True))
        raw_max = query.pop("max_items", "1000")
        max_items = int(raw_max) if isinstance(raw_max, str) and raw_max.isdigit() else 0
        if not 1 <= max_items <= MAX_ITEMS_LIMIT:
            raise ResourceError(f"max_items must be from 1 to {MAX_ITEMS_LIMIT}")
        arguments = _coerce(query, spec.input_schema)
        walked = await paginate(
            host, tool, arguments, max_items=max_items, max_pages=1000, budget_chars=None, ctx=CallContext()
        )
        return walked.as_result(tool)
    raise ResourceError(f"unknown resource {uri!r}; templates: {TIMESTAMP_TEMPLATE}, {LIST_TEMPLATE}")


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

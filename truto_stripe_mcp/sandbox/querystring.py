"""Parse Stripe-style bracketed query strings into nested dicts and lists.

`created[gte]=1&expand[]=customer&items[0][price]=p` becomes
`{"created": {"gte": "1"}, "expand": ["customer"], "items": [{"price": "p"}]}`.
Values stay strings; the validator coerces them against the tool's schema, which is the
only place that knows whether `limit` is an integer.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import stripe_error

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class _AppendList(list):  # type: ignore[type-arg]
    """Marks a list built from `[]` keys so later `[]` keys append to it."""


def _conflict(key: str) -> Exception:
    return stripe_error(400, f"Invalid hash or array for parameter: {key}", code="parameter_invalid_object")


def parse_query(query_string: str) -> dict[str, Any]:
    """Decode once (percent and `+`), then nest by brackets. Raises ApiError on conflicts."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            root[key] = value
            continue
        parts = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _insert(root, parts, value, key)
    return _listify(root)


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt = None if last else parts[i + 1]
        if part == "":
            raise _conflict(key)  # `[]` handled by the parent step below
        if last:
            if isinstance(node.get(part), dict | list):
                raise _conflict(key)
            node[part] = value
            return
        if nxt == "":
            existing = node.setdefault(part, _AppendList())
            if not isinstance(existing, _AppendList):
                raise _conflict(key)
            if i + 1 == len(parts) - 1:
                existing.append(value)
                return
            child: dict[str, Any] = {}
            existing.append(child)
            _insert(child, parts[i + 2 :], value, key)
            return
        existing = node.setdefault(part, {})
        if not isinstance(existing, dict):
            raise _conflict(key)
        node = existing


def _listify(value: Any) -> Any:
    """Turn dicts whose keys are all indices (`items[0]`, `items[1]`) into ordered lists."""
    if isinstance(value, list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value

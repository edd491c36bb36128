"""Validate and coerce call parameters against a tool's schemas, failing like Stripe.

The schemas are Stripe's own (``anyOf`` alternatives, ``enum: [""]`` unsets, nested
hashes, arrays of hashes). Query values arrive as strings (form style), body values as
JSON; both are coerced to the schema's types so handlers never re-check. Unknown
parameters are rejected (``parameter_unknown``) as Stripe does, which catches clients that
put a body parameter in the query string or vice versa.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError, invalid

_INT = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
ALWAYS_ALLOWED_QUERY = frozenset({"integrated_account_id"})
_EXPAND = {"type": "array", "items": {"type": "string"}}


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return []
    return [kind] if isinstance(kind, str) else list(kind)


def _bad(param: str, kind: str, value: Any) -> ApiError:
    return invalid(f"Invalid {kind}: {value!r}", code=f"parameter_invalid_{kind}", param=param)


def coerce(schema: dict[str, Any], value: Any, param: str) -> Any:
    """Return `value` converted to the schema's type, or raise a Stripe 400."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return _coerce_any(branches, value, param)
    types = _types(schema)
    if "enum" in schema and not types:
        types = ["string"]
    if "object" in types and isinstance(value, dict):
        return _coerce_object(schema, value, param)
    if "array" in types and not (isinstance(value, str) and value == "" and "string" in types):
        return _coerce_array(schema, value, param)
    if "integer" in types:
        return _coerce_integer(schema, value, param)
    if "number" in types:
        return _coerce_number(value, param)
    if "boolean" in types:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(param, "boolean", value)
    if "object" in types:
        if value == "":  # Stripe: posting an empty string unsets a hash
            return {}
        raise _bad(param, "object", value)
    if "string" in types:
        return _coerce_string(schema, value, param)
    return value


def _coerce_any(branches: list[Any], value: Any, param: str) -> Any:
    """The first alternative that accepts the value (Stripe's ``anyOf``), or the first one's error.

    Alternatives are tried in order, so ``anyOf [range hash, integer]`` takes ``{"gte": ...}``
    as a hash and ``"1700000000"`` as an integer, and ``anyOf [hash, enum [""]]`` takes ``""``
    as the unset it is.
    """
    first: ApiError | None = None
    for branch in sorted(branches, key=lambda b: _preference(b, value)):
        try:
            return coerce(branch if isinstance(branch, dict) else {}, value, param)
        except ApiError as error:
            first = first or error
    raise first or _bad(param, "value", value)


def _preference(branch: Any, value: Any) -> int:
    """Try the alternative whose type matches the value's JSON type first."""
    types = _types(branch) if isinstance(branch, dict) else []
    if isinstance(value, dict):
        return 0 if "object" in types else 1
    if isinstance(value, list):
        return 0 if "array" in types else 1
    if isinstance(value, str) and value == "":
        return 0 if branch.get("enum") == [""] else 1
    return 1 if "object" in types or "array" in types else 0


def _coerce_integer(schema: dict[str, Any], value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise _bad(param, "integer", value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise _bad(param, "integer", value)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and value < low:
        raise invalid(
            f"Invalid {param}: must be greater than or equal to {low}",
            code="parameter_invalid_integer",
            param=param,
        )
    if high is not None and value > high:
        raise invalid(
            f"Invalid {param}: must be less than or equal to {high}",
            code="parameter_invalid_integer",
            param=param,
        )
    return value


def _coerce_number(value: Any, param: str) -> float | int:
    if isinstance(value, bool):
        raise _bad(param, "number", value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value.strip())
    raise _bad(param, "number", value)


def _coerce_string(schema: dict[str, Any], value: Any, param: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(param, "string", value)
    text = value if isinstance(value, str) else str(value)
    allowed = schema.get("enum")
    if allowed is not None and text not in allowed:
        shown = ", ".join(repr(item) if item == "" else str(item) for item in allowed)
        raise invalid(f"Invalid {param}: must be one of {shown}", code="parameter_invalid_enum", param=param)
    return text


def _coerce_array(schema: dict[str, Any], value: Any, param: str) -> list[Any]:
    item_schema = schema.get("items", {})
    if isinstance(value, str) and "string" in _types(item_schema):
        value = [value]  # `expand=customer` without brackets: be forgiving like Stripe
    if isinstance(value, dict) and value and all(key.isdigit() for key in value):
        value = [value[key] for key in sorted(value, key=int)]  # items[0][price]=... from a form
    if not isinstance(value, list):
        raise _bad(param, "array", value)
    return [coerce(item_schema, item, f"{param}[{i}]") for i, item in enumerate(value)]


def _coerce_object(schema: dict[str, Any], value: dict[str, Any], param: str) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{param}[{key}]"
        if key in props:
            if item is not None:
                out[key] = coerce(props[key], item, name)
        elif isinstance(extra, dict):
            out[key] = "" if item is None else coerce(extra, item, name)
        elif not props and extra is not False:
            out[key] = item  # a free-form hash
        else:
            raise invalid(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    for key in schema.get("required", []):
        if key not in out:
            raise invalid(
                f"Missing required param: {param}[{key}].", code="parameter_missing", param=f"{param}[{key}]"
            )
    return out


def _properties(schema: Any) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema.get("properties") or {}
    return {}


def validate_call(
    tool: dict[str, Any], query: dict[str, Any], body: dict[str, Any] | None, *, path_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Coerce the query and body of a proxy call to the tool's schemas.

    `id` may also appear in the query (Truto's own toolset sends every query-schema
    property, and `id` is one of them); the path id is what counts.
    """
    query_props = _properties(tool.get("query_schema"))
    body_props = _properties(tool.get("body_schema"))
    if tool.get("method") == "delete":
        # Truto's DELETE route has no body: a delete's body parameters travel in the query.
        query_props = {**body_props, **query_props}
    clean_query: dict[str, Any] = {}
    for key, value in query.items():
        if key in ALWAYS_ALLOWED_QUERY or key.startswith("truto_") or (key == "id" and path_id is not None):
            continue
        if key in query_props:
            clean_query[key] = coerce(query_props[key], value, key)
        elif key == "expand":
            clean_query[key] = coerce(_EXPAND, value, key)
        else:
            raise invalid(f"Received unknown parameter: {key}", code="parameter_unknown", param=key)
    clean_body: dict[str, Any] = {}
    for key, value in (body or {}).items():
        if value is None:
            continue  # JSON null from an LLM means "not given"
        if key in body_props:
            clean_body[key] = coerce(body_props[key], value, key)
        elif key == "expand":
            clean_body[key] = coerce(_EXPAND, value, key)
        else:
            raise invalid(f"Received unknown parameter: {key}", code="parameter_unknown", param=key)
    for name in tool.get("required") or []:
        if name == "id" and path_id is not None:
            continue
        present = clean_query.get(name, clean_body.get(name))
        if (
            present is None
            or present == []
            or (present == "" and not _allows_empty(query_props, body_props, name))
        ):
            raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return clean_query, clean_body


def _allows_empty(query_props: dict[str, Any], body_props: dict[str, Any], name: str) -> bool:
    """Whether ``""`` is a value of this parameter (Stripe's ``enum: [""]`` unset), not an absence."""
    schema = body_props.get(name) or query_props.get(name) or {}
    return any(branch.get("enum") == [""] for branch in schema.get("anyOf") or () if isinstance(branch, dict))

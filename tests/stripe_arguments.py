"""Arguments that satisfy a tool's required parameters: enough to call any tool of the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def minimal(schema: Any) -> Any:
    """The smallest value a schema accepts (first alternative, required fields only)."""
    if not isinstance(schema, Mapping):
        return "x"
    if schema.get("anyOf"):
        return minimal(schema["anyOf"][0])
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: minimal(props.get(name)) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema.get("items"))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return "x"


def required_arguments(
    properties: Mapping[str, Any], required: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """A value for every required parameter, from the tool's own schemas."""
    return {name: minimal(properties.get(name)) for name in required}

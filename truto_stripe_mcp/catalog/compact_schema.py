"""The compact form of a tool's input schema that tools/list shows.

Stripe's schemas are large (updating a subscription is 18 KB of JSON Schema), and a model
pays for every byte of every listed tool on every turn. The listed form keeps what an
agent needs to make a first call and never says anything the server does not mean:

- every property the server accepts is listed (``expand`` too), top-level ``required``
  and ``additionalProperties: false`` stay, so the listed schema is never stricter than
  the server's and never hides a parameter;
- it may only loosen: nested hashes become ``{"type": "object"}``, arrays of hashes
  ``{"type": "array", "items": {"type": "object"}}``, ``anyOf`` alternatives of plain
  types merge into one ``type`` list, long enums and length limits go (``describe_tool``
  returns the full schema);
- a property keeps the whole first sentence of its description (markdown links reduced to
  their text) when that sentence is short, and no description otherwise: never a sentence
  cut mid-phrase.

The result is always valid JSON Schema 2020-12 (no ``"type": null``). Pure; no imports
from the package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DESCRIPTION_LIMIT = 60
"""Longest first sentence a listed property keeps (characters); longer ones are left out whole."""
ENUM_LIMIT = 12
"""Enums with more values than this are listed as their plain type (a loosening)."""

_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<!\bvs\.)(?<=[.!?])\s")
_KEEP_KEYS = frozenset({"type", "enum", "format", "minimum", "maximum", "items", "properties", "required"})
_PLAIN_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")


def plain_sentence(text: Any) -> str:
    """The first sentence of a description, whole, with markdown links reduced to their text."""
    if not isinstance(text, str):
        return ""
    cleaned = " ".join(_LINK.sub(r"\1", text).split())
    return _SENTENCE_END.split(cleaned, maxsplit=1)[0].strip()


def short_description(text: Any, limit: int = DESCRIPTION_LIMIT) -> str | None:
    """The whole first sentence when it is at most ``limit`` characters, else ``None`` (left out)."""
    sentence = plain_sentence(text)
    return sentence if sentence and len(sentence) <= limit else None


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [item for item in kind if isinstance(item, str)]
    if "properties" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    if "enum" in schema:
        return sorted({_json_type(value) for value in schema["enum"]})
    return []


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else "object"


def _nested(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema below the top level: its plain type(s) only (hashes and arrays of hashes collapsed)."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list):
        types = sorted(
            {kind for branch in branches if isinstance(branch, Mapping) for kind in _types_of(branch)}
        )
        return _typed(types)
    types = _types_of(schema)
    if types == ["array"]:
        items = schema.get("items")
        if isinstance(items, Mapping) and _types_of(items):
            return {"type": "array", "items": _nested(items)}
        return {"type": "array"}
    return _typed(types)


def _typed(types: list[str]) -> dict[str, Any]:
    kinds = [kind for kind in _PLAIN_TYPES if kind in types]
    if not kinds:
        return {}
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def compact_property(schema: Any, *, describe: bool = True) -> dict[str, Any]:
    """One top-level property as listed: loosened, valid, with a whole short sentence or none."""
    if not isinstance(schema, Mapping):
        return {}
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list):
        out = _nested(schema)
    else:
        out = {}
        for key, value in schema.items():
            if key not in _KEEP_KEYS or key in ("properties", "required"):
                continue
            if key == "items":
                if isinstance(value, Mapping):
                    out["items"] = _nested(value)
                continue
            if key == "enum" and (not isinstance(value, list) or len(value) > ENUM_LIMIT):
                continue
            out[key] = value
        types = _types_of(schema)
        if "object" in types:
            out = {**_typed(types), **({"format": out["format"]} if "format" in out else {})}
        elif "type" not in out and types:
            out = {**_typed(types), **out}
    if describe:
        sentence = short_description(schema.get("description"))
        if sentence:
            out = {"description": sentence, **out}
    return out


def compact_schema(
    schema: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The listed form of an object input schema; ``overrides`` replaces chosen properties as given."""
    overrides = overrides or {}
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: dict(overrides[name]) if name in overrides else compact_property(prop)
            for name, prop in properties.items()
        },
    }
    if schema.get("required"):
        out["required"] = list(schema["required"])
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], Mapping):
        out["additionalProperties"] = schema["additionalProperties"]
    return out


def has_nested_fields(schema: Any) -> bool:
    """Whether the listed form hides fields of this property (a hash, or an array of hashes)."""
    if not isinstance(schema, Mapping):
        return False
    if isinstance(schema.get("properties"), Mapping) and schema["properties"]:
        return True
    items = schema.get("items")
    if isinstance(items, Mapping) and has_nested_fields(items):
        return True
    branches = schema.get("anyOf") or schema.get("oneOf") or ()
    return any(has_nested_fields(branch) for branch in branches)

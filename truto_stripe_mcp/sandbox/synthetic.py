"""Answers for the operations the sandbox does not model with state, shaped by Stripe's schemas.

Stripe has some 470 operations; the sandbox keeps state for the billing core (customers,
charges, refunds, subscriptions, invoices ...). Every other operation still answers the
way Stripe would shape it: the operation's response schema, filled deterministically
(the same call always gets the same object), with ids carrying the object's real prefix,
epoch timestamps, the id and parent ids the call named, the scalar parameters it sent
echoed into fields of the same name, and Truto's list envelope for lists.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Mapping
from typing import Any

from .stripe_spec import StripeRoute, StripeSpec

_ID_CHARS = string.ascii_letters + string.digits
_MAX_DEPTH = 3
_LIST_SIZE = 3
_MONTH = 30 * 86_400
_REF = "#/components/schemas/"


class Synthesizer:
    """Builds Stripe-shaped objects from response schemas; pure apart from its inputs."""

    def __init__(self, spec: StripeSpec, now: int) -> None:
        self.spec = spec
        self.now = now

    def answer(
        self,
        tool: Mapping[str, Any],
        route: StripeRoute,
        *,
        path_id: str | None,
        query: Mapping[str, Any],
        body: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The response to one call: Truto's envelope for lists, the object otherwise."""
        arguments = {**query, **body}
        seed = json.dumps([tool["name"], path_id, arguments], sort_keys=True, default=str)
        rng = random.Random(hashlib.sha256(seed.encode()).hexdigest())
        method = tool["method"]
        if route.is_list:
            item_schema = route.response.get("properties", {}).get("data", {}).get("items", {})
            size = min(int(query.get("limit") or 10), _LIST_SIZE)
            items = [self._object(item_schema, rng, arguments) for _ in range(size)]
            return {
                "result": items,
                "next_cursor": None,
                "prev_cursor": None,
                "result_count": len(items),
                "is_partial_response": False,
            }
        schema = self._top_schema(route.response, deleted=method == "delete")
        target = path_id if path_id is not None else body.get("id") if route.id_param else None
        if target is not None and route.id_param and route.id_param != "id":
            # A nested singleton is addressed by its parent's id: it names the parent field.
            arguments = {route.id_param: target, **arguments}
        return self._object(schema, rng, arguments, object_id=str(target) if target is not None else None)

    def _top_schema(self, schema: Mapping[str, Any], *, deleted: bool) -> Mapping[str, Any]:
        """Pick the object a top-level ``anyOf`` answers with: ``deleted_*`` for a delete."""
        branches = schema.get("anyOf")
        if not branches:
            return schema
        names = [str(branch.get("$ref", "")).removeprefix(_REF) for branch in branches]
        for branch, name in zip(branches, names, strict=True):
            if name.startswith("deleted_") == deleted:
                return branch
        return branches[0]

    def _object(
        self,
        schema: Mapping[str, Any],
        rng: random.Random,
        arguments: Mapping[str, Any],
        *,
        object_id: str | None = None,
    ) -> dict[str, Any]:
        resolved = self._resolve(schema)
        value = self._value(resolved, "", rng, 0)
        if not isinstance(value, dict):
            return {"object": "unknown", "value": value}
        properties = resolved.get("properties", {})
        if object_id is not None and "id" in properties:
            value["id"] = object_id
        for name, given in arguments.items():
            if name in properties and name not in ("id", "object") and _is_scalar(given):
                value[name] = given
        return value

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.spec.objects.get(ref.removeprefix(_REF), {})
        return schema

    def _value(self, schema: Mapping[str, Any], key: str, rng: random.Random, depth: int) -> Any:
        schema = self._resolve(schema)
        branches = schema.get("anyOf")
        if branches:
            return self._choice(branches, key, rng, depth)
        if schema.get("nullable") and depth > 0:
            return None
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if depth >= _MAX_DEPTH:
                return {}
            properties = schema.get("properties", {})
            obj = {name: self._value(sub, name, rng, depth + 1) for name, sub in properties.items()}
            if "id" in properties and isinstance(obj.get("id"), str):
                obj["id"] = self._id(obj.get("object"), rng)
            return obj
        if kind == "array":
            return []
        if kind == "integer":
            if schema.get("format") == "unix-time":
                return self.now - rng.randrange(_MONTH)
            return 1000 if "amount" in key else 0
        if kind == "number":
            return 0.0
        if kind == "boolean":
            return False
        if kind == "string":
            return _string_for(key)
        return None

    def _choice(self, branches: list[Any], key: str, rng: random.Random, depth: int) -> Any:
        """An expandable field (``anyOf [id string, object]``) answers with the object's id."""
        refs = [branch for branch in branches if "$ref" in branch]
        plain = [branch for branch in branches if "$ref" not in branch and branch.get("enum") != [""]]
        if refs and any(branch.get("type") == "string" for branch in plain):
            target = self._resolve(refs[0])
            kind = target.get("properties", {}).get("object", {}).get("enum", [None])[0]
            return self._id(kind, rng)
        return self._value((plain or refs)[0], key, rng, depth)

    def _id(self, object_type: Any, rng: random.Random) -> str:
        prefix = self.spec.id_prefixes.get(str(object_type)) if object_type else None
        if prefix is None:
            words = str(object_type or "obj").replace(".", "_").split("_")
            prefix = "".join(word[:2] for word in words if word)
        suffix = "".join(rng.choices(_ID_CHARS, k=14))
        return f"{prefix}_{suffix}" if prefix else suffix


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _string_for(key: str) -> str:
    """A plausible string for a field Stripe types only as ``string``."""
    if key == "currency" or key.endswith("_currency"):
        return "usd"
    if key == "country":
        return "US"
    if "email" in key:
        return "jane@example.com"
    if key == "url" or key.endswith("_url"):
        return "https://example.com/sandbox"
    return ""

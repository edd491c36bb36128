"""Stage: a tool call's arguments checked against its input schema, the server's own set aside.

The low-level MCP server of SDK 2.x does not validate tool input, and Stripe's own
errors arrive only after a round trip (and sometimes after a side effect). Checking
here gives the agent every problem at once, each naming the field, before anything is
sent. The arguments that are the server's, not Stripe's (``fields``,
``idempotency_key``, ``confirmation_token``), leave the arguments here for the stages
that use them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentsError
from ..shaping import parse_fields
from .call import CallOutcome, Next, ToolCall

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_MAX_PROBLEMS = 8
_MAX_CACHED_SCHEMAS = 1024
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,255}")

_by_identity: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}
"""Compiled validators by schema object. A tool's schema is built once per catalog load
and then passed on every call, so its identity finds the validator without serialising
the schema (a few microseconds per call, more for large list schemas). The entry keeps
the schema alive, so its ``id`` cannot be reused by another object while cached."""


@lru_cache(maxsize=_MAX_CACHED_SCHEMAS)
def _compile(schema_json: str) -> Draft202012Validator:
    """One validator per distinct schema content: equal schemas from a refreshed catalog share it.

    jsonschema (with referencing and attrs) is imported here, at the first tool call, not
    at start-up: it is about 30 ms of imports that ``initialize`` and ``tools/list`` do not need.
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """The compiled validator for ``schema``; schemas are treated as immutable once built."""
    cached = _by_identity.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = _compile(json.dumps(schema, sort_keys=True))
    if len(_by_identity) >= _MAX_CACHED_SCHEMAS:
        del _by_identity[next(iter(_by_identity))]  # the oldest: catalogs are replaced whole
    _by_identity[id(schema)] = (schema, validator)
    return validator


def _field_path(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return path or "(arguments)"


def _describe(error: ValidationError, schema: Mapping[str, Any]) -> str:
    validator = error.validator
    where = _field_path(error)
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        prefix = f"{where}." if where != "(arguments)" else ""
        return f"missing required `{prefix}{missing}`"
    if validator == "additionalProperties" and not error.absolute_path:
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        names = ", ".join(f"`{name}`" for name in extra) or "unexpected fields"
        return f"unknown argument {names} (valid: {', '.join(known) or 'none'})"
    if validator == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"`{where}` must be {expected_text}, got {_short(error.instance)}"
    if validator == "enum":
        options = ", ".join(json.dumps(option) for option in error.validator_value)
        return f"`{where}` must be one of {options}, got {_short(error.instance)}"
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 60 and shown in message:  # "'xxxx…' is too long": keep the reason, not 100 kB of value
        message = message.replace(shown, _short(error.instance))
    return f"`{where}`: {message[:200]}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    kind = type(value).__name__
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def validate_arguments(
    tool: str,
    schema: Mapping[str, Any],
    arguments: Mapping[str, Any] | None,
    *,
    max_bytes: int,
) -> dict[str, Any]:
    """Arguments that match ``schema``, or an :class:`InvalidArgumentsError` listing all problems."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InvalidArgumentsError(tool, ["arguments must be a JSON object"])
    size = len(json.dumps(arguments, ensure_ascii=False, default=str))
    if size > max_bytes:
        raise InvalidArgumentsError(
            tool, [f"arguments are {size:,} bytes, more than the {max_bytes:,}-byte limit of this server"]
        )
    validator = _validator(schema)
    errors = sorted(validator.iter_errors(dict(arguments)), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        problems = list(dict.fromkeys(_describe(error, schema) for error in errors))
        if len(problems) > _MAX_PROBLEMS:
            problems = [*problems[:_MAX_PROBLEMS], f"and {len(problems) - _MAX_PROBLEMS} more"]
        raise InvalidArgumentsError(tool, problems)
    return dict(arguments)


@dataclass(frozen=True)
class CheckArguments:
    """Stage: refuse arguments the schema rejects; set `fields`, the agent's key and token aside."""

    max_bytes: int

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        spec = call.spec
        checked = validate_arguments(spec.name, spec.input_schema, call.arguments, max_bytes=self.max_bytes)
        fields = _fields_argument(spec.name, checked.pop("fields", None))
        key = token = None
        if not spec.is_read:
            key = _idempotency_key(spec.name, checked.pop("idempotency_key", None))
            token = checked.pop("confirmation_token", None)
        checked_call = replace(
            call, arguments=checked, fields=fields, idempotency_key=key, confirmation_token=token
        )
        return await call_next(checked_call)


def _fields_argument(tool: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    try:
        return tuple(parse_fields(raw))
    except ValueError as exc:
        raise InvalidArgumentsError(tool, [f"`fields`: {exc}"]) from None


def _idempotency_key(tool: str, key: str | None) -> str | None:
    """An agent's own key goes into an HTTP header: Stripe allows up to 255 characters, and a
    header cannot carry control or non-ASCII characters (httpx would fail mid-request)."""
    if key is None or _HEADER_SAFE.fullmatch(key):
        return key
    raise InvalidArgumentsError(
        tool,
        [
            "`idempotency_key`: use 1 to 255 printable ASCII characters (letters, digits, '-' and '_' are safest)"
        ],
    )

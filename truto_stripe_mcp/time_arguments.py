"""Which arguments of a tool are times, read from Stripe's schemas, and converting them.

Stripe takes times in two shapes, and treating one as the other sends the wrong request:

- a **range filter** (``created`` on a list): an epoch for an exact second, or a hash with
  ``gt``/``gte``/``lt``/``lte``. A bare date or a phrase ("last 7 days") becomes a range;
- an **instant** (``effective_at`` of a credit note, ``trial_end`` of a subscription,
  ``subscription_cancel_at`` of an upcoming invoice): exactly one epoch. An ISO date or
  datetime becomes that one epoch; a phrase, which names a span, is refused.

A string the schema itself takes as it is (Stripe's ``""`` unset of ``anyOf [integer,
enum [""]]``, ``"now"`` for ``trial_end``) passes through untouched. Detection reads the
schema (a range hash, ``format: unix-time``); a plain integer counts only when its name is
a known Stripe timestamp field. Pure; the current time is an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .timestamps import TimestampError, convert_time_filters, is_timestamp_field, parse_time

_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_DEPTH = 4


@dataclass(frozen=True)
class TimeParameter:
    """One time argument of a tool and the strings its schema takes verbatim."""

    name: str
    kind: Literal["range", "instant"]
    verbatim: frozenset[str] = frozenset()


def _branches(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key) or ():
            if isinstance(branch, Mapping):
                found.append(branch)
    return found


def _kind(name: str, schema: Any, depth: int = 0) -> Literal["range", "instant"] | None:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    kinds: set[str] = set()
    for branch in _branches(schema):
        props = branch.get("properties")
        if isinstance(props, Mapping) and _OPERATORS & props.keys():
            kinds.add("range")
            continue
        types = branch.get("type")
        types = types if isinstance(types, list) else [types]
        numeric = "integer" in types or "number" in types
        if branch.get("format") == "unix-time" or (numeric and is_timestamp_field(name)):
            kinds.add("instant")
        elif branch is not schema and (nested := _kind(name, branch, depth + 1)):
            kinds.add(nested)
    if "range" in kinds:
        return "range"
    return "instant" if kinds else None


def _verbatim(schema: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        value for branch in _branches(schema) for value in branch.get("enum") or () if isinstance(value, str)
    )


def time_parameters(*schemas: Mapping[str, Any] | None) -> dict[str, TimeParameter]:
    """The time arguments among the top-level properties of ``schemas`` (query, then body)."""
    found: dict[str, TimeParameter] = {}
    for schema in schemas:
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        if not isinstance(properties, Mapping):
            continue
        for name, prop in properties.items():
            kind = _kind(name, prop) if isinstance(name, str) else None
            if kind is not None and name not in found:
                found[name] = TimeParameter(name, kind, _verbatim(prop))
    return found


def convert_time_arguments(
    arguments: Mapping[str, Any], parameters: Mapping[str, TimeParameter], *, now: datetime
) -> dict[str, Any]:
    """``arguments`` with ISO dates and phrases turned into Stripe's epochs, by each parameter's shape.

    Raises :class:`~truto_stripe_mcp.timestamps.TimestampError` naming the parameter.
    """
    present = [parameters[name] for name in arguments if name in parameters]
    if not present:
        return dict(arguments)
    out = dict(arguments)
    for param in present:
        value = out[param.name]
        if value is None or (isinstance(value, str) and value in param.verbatim):
            continue
        if param.kind == "range":
            if isinstance(value, str) and _BARE_DATE.match(value.strip()):
                value = {"gte": value.strip(), "lte": value.strip()}  # that whole day
            out[param.name] = convert_time_filters({param.name: value}, {param.name}, now=now)[param.name]
        else:
            out[param.name] = _instant(param, value)
    return out


def _instant(param: TimeParameter, value: Any) -> Any:
    if isinstance(value, Mapping | list | bool):
        return value  # not a time at all: the schema check names the problem
    try:
        return parse_time(value)
    except TimestampError:
        allowed = ", ".join(repr(item) for item in sorted(param.verbatim))
        extra = f", or one of {allowed}" if allowed else ""
        raise TimestampError(
            f"`{param.name}` takes one point in time: Unix epoch seconds or an ISO date or datetime "
            f"(2024-05-01, 2024-05-01T12:00:00Z){extra}; got {value!r}."
        ) from None

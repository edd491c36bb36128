"""Stripe's search query language, over stored objects (pure: parse, then match).

``email:'jane@example.com'``, ``name~'jane'`` (substring), ``amount>1000``,
``metadata['plan']:'business'``, ``-status:'canceled'`` (negation), ``customer:null``,
clauses joined by ``AND`` or by ``OR`` (not both, as at Stripe). Enough for what agents
ask of ``/v1/<resource>/search``; a query this cannot parse is Stripe's 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import invalid

Matcher = Callable[[dict[str, Any]], bool]

_CLAUSE = re.compile(
    r"""^(?P<neg>-)?(?P<field>[A-Za-z_][\w.]*(?:\[['"][^'"]+['"]\])?)\s*"""
    r"""(?P<op>:|~|>=|<=|>|<)\s*(?P<value>'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?|null)$"""
)
_JOIN = re.compile(r"\s+(AND|OR)\s+")


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: Any
    negated: bool

    def matches(self, obj: dict[str, Any]) -> bool:
        found = _lookup(obj, self.field)
        return _compare(found, self.op, self.value) != self.negated


def _lookup(obj: dict[str, Any], field: str) -> Any:
    """``metadata['plan']`` and dotted paths (``payment_method_details.card.last4``)."""
    if "[" in field:
        head, key = field.split("[", 1)
        container = obj.get(head)
        return container.get(key.strip("]'\"")) if isinstance(container, dict) else None
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _compare(found: Any, op: str, value: Any) -> bool:
    if op == ":":
        if isinstance(found, str) and isinstance(value, str):
            return found.lower() == value.lower()
        return found == value
    if op == "~":
        return isinstance(found, str) and isinstance(value, str) and value.lower() in found.lower()
    if not isinstance(found, int | float) or isinstance(found, bool) or not isinstance(value, int | float):
        return False
    return {">": found > value, "<": found < value, ">=": found >= value, "<=": found <= value}[op]


def _value(text: str) -> Any:
    if text == "null":
        return None
    if text[0] in "'\"":
        return text[1:-1]
    return float(text) if "." in text else int(text)


def parse(query: str) -> Matcher:
    """A predicate for ``query``, or Stripe's 400 naming what could not be read."""
    text = query.strip()
    if not text:
        raise invalid("Search query is empty.", param="query")
    joins = set(_JOIN.findall(text))
    if len(joins) > 1:
        raise invalid("Search queries cannot mix AND and OR.", param="query")
    clauses = []
    for part in _JOIN.split(text)[::2]:
        match = _CLAUSE.match(part.strip())
        if match is None:
            raise invalid(
                f"Could not parse the search query clause {part.strip()!r}; use field:'value', field~'text', "
                "field>number or metadata['key']:'value'.",
                param="query",
            )
        clauses.append(
            Clause(match["field"], match["op"], _value(match["value"]), negated=bool(match["neg"]))
        )
    if joins == {"OR"}:
        return lambda obj: any(clause.matches(obj) for clause in clauses)
    return lambda obj: all(clause.matches(obj) for clause in clauses)

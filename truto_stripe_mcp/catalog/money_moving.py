"""Does this call move money? The rule table of :mod:`.money_rules`, evaluated on a call.

:func:`money_moving` answers for one call (a tool and its arguments): the approval gate
asks a person whenever it does, whatever the tool's MCP annotations say.
:func:`classify` answers for a tool whatever its arguments: the documentation's table and
the test over the whole catalog are built from it.

A write the table does not know (a tool Truto added since) counts as money-moving: it is
asked until someone classifies it, never let through because nobody looked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

from .money_rules import MONEY_RULES, NOT_MONEY, MoneyRule, NotMoney
from .spec import ToolSpec

UNCLASSIFIED_EFFECT = "a write this server has not classified, asked in case it moves money"


@dataclass(frozen=True)
class MoneyVerdict:
    """Why a call counts as money-moving, and which of its arguments make it so."""

    effect: str
    arguments: frozenset[str] = frozenset()
    """The top-level arguments a condition named (empty when the call always moves money)."""


@dataclass(frozen=True)
class Classification:
    """What the table says about one write tool, whatever its arguments."""

    tool: str
    rule: MoneyRule | None
    not_money: NotMoney | None

    @property
    def kind(self) -> str:
        """``always``, ``conditional``, ``no`` or ``unclassified``."""
        if self.rule is not None:
            return "conditional" if self.rule.when else "always"
        return "no" if self.not_money is not None else "unclassified"


def _resource(spec: ToolSpec) -> str:
    return spec.resource.strip().lower().replace("-", "_")


@cache
def _entries(resource: str, method: str) -> tuple[MoneyRule | None, NotMoney | None]:
    """The table's rule for a resource and method, or else its no-money entry: looked up once
    per pair (the approval stage and the gate ask on every write)."""
    rule = next((rule for rule in MONEY_RULES if resource in rule.resources and method in rule.methods), None)
    if rule is not None:
        return rule, None
    for entry in NOT_MONEY:
        if entry.methods and method not in entry.methods:
            continue
        if any(fnmatchcase(resource, pattern) for pattern in entry.resources):
            return None, entry
    return None, None


def classify(spec: ToolSpec) -> Classification | None:
    """The table's entry for a write tool; ``None`` for a read."""
    if spec.is_read:
        return None
    rule, not_money = _entries(_resource(spec), spec.method)
    return Classification(spec.name, rule, not_money)


def money_moving(spec: ToolSpec, arguments: Mapping[str, Any] | None = None) -> MoneyVerdict | None:
    """Why this call moves money, or ``None`` when it does not.

    ``arguments`` ``None`` asks whether the tool can move money with some arguments.
    """
    found = classify(spec)
    if found is None:
        return None
    rule = found.rule
    if rule is None:
        return MoneyVerdict(UNCLASSIFIED_EFFECT) if found.not_money is None else None
    if not rule.when:
        return MoneyVerdict(rule.effect)
    if arguments is None:
        return MoneyVerdict(rule.effect)
    names: set[str] = set()
    for condition in rule.when:
        names |= condition.names(arguments)
    return MoneyVerdict(rule.effect, frozenset(names)) if names else None


def rules_table() -> str:
    """The rule table as Markdown, for docs/safety.md (a test keeps the two equal)."""
    lines = ["| resource | method | money-moving when | what it does |", "| --- | --- | --- | --- |"]
    for rule in MONEY_RULES:
        lines.append(
            f"| {', '.join(f'`{r}`' for r in rule.resources)} | {', '.join(rule.methods)} "
            f"| {rule.words()} | {rule.effect} |"
        )
    return "\n".join(lines)


def not_money_table() -> str:
    """The writes that move no money, and why, as Markdown for docs/safety.md."""
    lines = ["| resources | why no money moves |", "| --- | --- |"]
    for entry in NOT_MONEY:
        resources = entry.shown_as or ", ".join(f"`{r}`" for r in entry.resources)
        lines.append(f"| {resources} | {entry.reason} |")
    return "\n".join(lines)

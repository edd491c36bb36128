"""Which writes move money, over the whole catalog the sandbox derives from Stripe's OpenAPI
description (every tool, undocumented ones included): each write is classified, the
money-moving ones are a reviewed list, and under `--confirm destructive` each of them is asked.

Regenerate the list after a reviewed change to the rule table:
UPDATE_SNAPSHOTS=1 python -m pytest tests/test_money_moving.py
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from truto_stripe_mcp.catalog.money_moving import classify, money_moving, not_money_table, rules_table
from truto_stripe_mcp.catalog.money_rules import BOOKKEEPING, MONEY_RULES, NOT_MONEY, AnyBut, Condition, Given
from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec
from truto_stripe_mcp.pipeline.approval_gate import needs_confirmation
from truto_stripe_mcp.sandbox.catalog import all_tools

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "tests" / "snapshots" / "money_moving_tools.txt"
SPECS = Catalog.from_entries(list(all_tools())).specs
WRITES = [spec for spec in SPECS if not spec.is_read]


def money_moving_list() -> str:
    """``tool: when`` for every tool that can move money, one a line, sorted by name."""
    lines = []
    for spec in WRITES:
        found = classify(spec)
        assert found is not None
        if found.rule is not None:
            lines.append(f"{spec.name}: {found.rule.words()}")
    return "\n".join(lines) + "\n"


def test_every_write_of_the_catalog_is_classified() -> None:
    assert len(SPECS) >= 463 and len(WRITES) > 240
    unclassified = [spec.name for spec in WRITES if classify(spec).kind == "unclassified"]  # type: ignore[union-attr]
    assert unclassified == [], "classify each in catalog/money_rules.py (MONEY_RULES or NOT_MONEY)"


def test_the_money_moving_tools_are_the_reviewed_list() -> None:
    """A change to which tools move money is a reviewed diff of tests/snapshots/money_moving_tools.txt."""
    current = money_moving_list()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        EXPECTED.write_text(current)
    assert current == EXPECTED.read_text()
    listed = {line.split(":")[0] for line in current.splitlines()}
    for tool in (
        "create_a_stripe_refund",
        "create_a_stripe_charge",
        "capture_a_stripe_payment_intent",
        "confirm_a_stripe_payment_intent",
        "create_a_stripe_payment_intent",
        "create_a_stripe_subscription",
        "update_a_stripe_subscription_by_id",
        "create_a_stripe_subscription_schedule",
        "pay_a_stripe_invoice",
        "finalize_a_stripe_invoice",
        "send_a_stripe_invoice",
        "create_a_stripe_payout",
        "create_a_stripe_transfer",
        "create_a_stripe_credit_note",
        "create_a_stripe_topup",
        "accept_a_stripe_quote",
        "create_a_stripe_treasury_outbound_payment",
        "create_a_stripe_issuing_card",
    ):
        assert tool in listed, tool


def test_the_table_names_only_tools_of_the_catalog() -> None:
    """No dead rule (a typo would leave a tool unprotected) and no rule shadowing another."""
    present = {(spec.resource, spec.method) for spec in SPECS}
    named = [
        (resource, method) for rule in MONEY_RULES for resource in rule.resources for method in rule.methods
    ]
    assert [pair for pair in named if pair not in present] == []
    assert len(named) == len(set(named)), "a (resource, method) in two rules: only the first would count"
    resources = {resource for resource, _ in present}
    for entry in NOT_MONEY:
        for pattern in entry.resources:
            assert any(fnmatchcase(resource, pattern) for resource in resources), pattern


def triggering(spec: ToolSpec, condition: Condition) -> dict[str, Any]:
    """Arguments that make ``condition`` hold for this tool."""
    if isinstance(condition, AnyBut):
        name = next(
            name
            for name in spec.input_schema["properties"]
            if name not in condition.harmless and name not in BOOKKEEPING
        )
        return {name: "x"}
    path = condition.paths[0].split(".")
    arguments: dict[str, Any] = {path[-1]: True if not isinstance(condition, Given) else "x"}
    for part in reversed(path[:-1]):
        arguments = {part: arguments}
    return arguments


@pytest.mark.parametrize("spec", WRITES, ids=lambda spec: spec.name)
def test_under_destructive_every_money_moving_call_is_asked(spec: ToolSpec) -> None:
    found = classify(spec)
    assert found is not None
    if found.rule is None:
        assert money_moving(spec, {}) is None
        return
    if not found.rule.when:
        assert needs_confirmation(spec, "destructive", {"id": "x"})
        return
    for condition in found.rule.when:
        arguments = triggering(spec, condition)
        assert money_moving(spec, arguments) is not None, arguments
        assert needs_confirmation(spec, "destructive", arguments), arguments
    if spec.method == "create":
        assert not needs_confirmation(spec, "destructive", {}), "a create that moves no money is not asked"


def test_a_write_the_table_does_not_know_is_asked() -> None:
    """A tool Truto adds later is asked until someone classifies it."""
    new = ToolSpec(
        name="create_a_stripe_v2_money_movement", description="", resource="v2_movements", method="create"
    )
    verdict = money_moving(new, {})
    assert verdict is not None and "not classified" in verdict.effect
    assert needs_confirmation(new, "destructive", {}) and not needs_confirmation(new, "none", {})


def test_the_arguments_that_make_a_call_money_moving() -> None:
    by_name = {spec.name: spec for spec in SPECS}
    update = by_name["update_a_stripe_subscription_by_id"]
    assert money_moving(update, {"id": "sub_1", "metadata": {"note": "x"}, "description": "d"}) is None
    seats = money_moving(update, {"id": "sub_1", "metadata": {}, "items": [{"id": "si_1", "quantity": 50}]})
    assert seats is not None and seats.arguments == {"items"}
    session = by_name["create_a_stripe_checkout_session"]
    assert money_moving(session, {"mode": "payment", "line_items": [{"price": "p"}]}) is None
    routed = {"payment_intent_data": {"transfer_data": {"destination": "acct_1"}}}
    assert money_moving(session, routed) is not None
    intent = by_name["create_a_stripe_payment_intent"]
    assert money_moving(intent, {"amount": 100, "currency": "usd", "confirm": False}) is None
    assert money_moving(intent, {"amount": 100, "currency": "usd", "confirm": "true"}) is not None


def test_the_documented_table_is_the_rule_table() -> None:
    """docs/safety.md shows the table the code evaluates, and the writes that move no money."""
    safety = (ROOT / "docs" / "safety.md").read_text()
    assert rules_table() in safety
    assert not_money_table() in safety

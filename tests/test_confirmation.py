"""Approval for money-moving and destructive calls: the token path, elicitation in both
protocol eras through the real SDK client, and no upstream mutation before approval."""

from __future__ import annotations

import re
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import runner_for, server_env, spawn_server
from truto_stripe_mcp.catalog.spec import Catalog
from truto_stripe_mcp.pipeline.action_words import format_money
from truto_stripe_mcp.pipeline.approval_gate import (
    ApprovalGate,
    ApprovalNeeded,
    ConfirmationRequired,
    needs_confirmation,
)
from truto_stripe_mcp.pipeline.approval_tokens import ConfirmationTokens, InvalidConfirmation
from truto_stripe_mcp.sandbox import TOOLS, SandboxServer

pytestmark = pytest.mark.anyio
JANE_CHARGE = "ch_sandbox_jane_1"
SPECS = {spec.name: spec for spec in Catalog.from_entries(TOOLS).specs}


def refunds_of(sandbox: SandboxServer) -> int:
    return len(sandbox.sandbox.store.list("refunds", charge=JANE_CHARGE))


def mutations(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.method != "GET"]


PAYMENT = {"amount": 4_999_900, "currency": "usd", "customer": "cus_1", "payment_method": "pm_card_visa"}


@pytest.mark.parametrize(
    ("tool", "arguments", "none", "destructive", "writes"),
    [
        ("list_all_stripe_charges", {}, False, False, False),
        ("create_a_stripe_customer", {"email": "a@b.co"}, False, False, True),
        ("create_a_stripe_customer", {"email": "a@b.co", "balance": -500}, False, True, True),
        ("create_a_stripe_refund", {"charge": "ch_1"}, False, True, True),
        ("create_a_stripe_payment_intent", PAYMENT, False, False, True),
        ("create_a_stripe_payment_intent", {**PAYMENT, "confirm": True}, False, True, True),
        (
            "create_a_stripe_subscription",
            {"customer": "cus_1", "items": [{"price": "price_1"}]},
            False,
            True,
            True,
        ),
        ("delete_a_stripe_subscription_by_id", {"id": "sub_1"}, False, True, True),
        ("update_a_stripe_customer_by_id", {"id": "cus_1", "name": "J"}, False, True, True),
        ("void_a_stripe_invoice", {"id": "in_1"}, False, True, True),
    ],
)
def test_which_calls_need_approval(
    tool: str, arguments: dict[str, Any], none: bool, destructive: bool, writes: bool
) -> None:
    spec = SPECS[tool]
    asked = [needs_confirmation(spec, mode, arguments) for mode in ("none", "destructive", "writes")]
    assert asked == [none, destructive, writes]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (150000, "usd", "$1,500.00 USD"),
        (5, "eur", "€0.05 EUR"),
        (1200, "jpy", "¥1,200 JPY"),
        (99, "chf", "0.99 CHF"),
    ],
)
def test_money_in_plain_words(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


async def test_token_path_previews_then_runs_once(sandbox: SandboxServer) -> None:
    arguments = {"charge": JANE_CHARGE, "amount": 50_000}
    async with runner_for(sandbox, approval="token") as runner:
        with pytest.raises(ConfirmationRequired) as asked:
            await runner.call("create_a_stripe_refund", arguments)
        assert (
            "Refund $500.00 USD of charge ch_sandbox_jane_1 to jane@example.com?"
            in asked.value.agent_message()
        )
        assert refunds_of(sandbox) == 0 and mutations(sandbox) == [], "nothing may be sent before approval"
        token = asked.value.token

        with pytest.raises(InvalidConfirmation, match="different call"):
            await runner.call(
                "create_a_stripe_refund", {**arguments, "amount": 90_000, "confirmation_token": token}
            )
        with pytest.raises(InvalidConfirmation, match="different call"):
            other_refund = sandbox.sandbox.store.list("refunds")[0]["id"]
            await runner.call(
                "update_a_stripe_refund_by_id", {"id": other_refund, "confirmation_token": token}
            )
        assert mutations(sandbox) == []

        done = await runner.call("create_a_stripe_refund", {**arguments, "confirmation_token": token})
        assert done.data["object"] == "refund" and done.data["amount"] == 50_000
        assert refunds_of(sandbox) == 1
        with pytest.raises(InvalidConfirmation, match="already used"):
            await runner.call("create_a_stripe_refund", {**arguments, "confirmation_token": token})
        assert refunds_of(sandbox) == 1


async def test_token_expires() -> None:
    now = [1_000.0]
    tokens = ConfirmationTokens(ttl=300, clock=lambda: now[0])
    token = await tokens.issue("fp")
    now[0] += 301
    with pytest.raises(InvalidConfirmation, match="expired"):
        await tokens.redeem(token, "fp")
    with pytest.raises(InvalidConfirmation, match="malformed"):
        await tokens.redeem("ct_nope", "fp")


async def test_a_tampered_request_state_is_refused() -> None:
    tokens = ConfirmationTokens()
    state = await tokens.issue("fingerprint-of-a-small-refund", "rs")
    gate = ApprovalGate(tokens, "destructive", answer="accept", request_state=state)

    async def read(*_: Any) -> None:
        return None

    with pytest.raises(InvalidConfirmation):
        await gate.approve(
            SPECS["create_a_stripe_refund"], {"charge": "ch_1"}, "fingerprint-of-a-big-refund", None, read
        )


async def test_a_request_state_works_only_in_its_session_and_as_its_kind() -> None:
    tokens = ConfirmationTokens()
    state = await tokens.issue("fingerprint", "rs", audience="session-a")
    with pytest.raises(InvalidConfirmation, match="asked in another session"):
        await tokens.redeem(state, "fingerprint", audience="session-b", kinds=("rs",))
    with pytest.raises(InvalidConfirmation, match="not one this parameter takes"):
        await tokens.redeem(state, "fingerprint", audience="session-a")  # as a confirmation_token
    forged = state.replace("rs_", "ct_", 1)  # the kind is signed with the call
    with pytest.raises(InvalidConfirmation, match="different call"):
        await tokens.redeem(forged, "fingerprint", audience="session-a")
    assert await tokens.redeem(state, "fingerprint", audience="session-a", kinds=("rs",)) == "rs"


async def test_confirm_none_and_writes_modes(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox, confirm="none") as runner:
        await runner.call("create_a_stripe_refund", {"charge": JANE_CHARGE, "amount": 100})
    assert refunds_of(sandbox) == 1
    async with runner_for(sandbox, confirm="writes") as runner:
        with pytest.raises(ApprovalNeeded, match=re.escape("Create a customer with email=a@b.co?")):
            await runner.call("create_a_stripe_customer", {"email": "a@b.co"})


async def test_destructive_descriptions_use_upstream_data(sandbox: SandboxServer) -> None:
    subscription = sandbox.sandbox.store.list("subscriptions", status="active")[0]
    async with runner_for(sandbox) as runner:
        with pytest.raises(ApprovalNeeded) as asked:
            await runner.call("delete_a_stripe_subscription_by_id", {"id": subscription["id"]})
    customer = sandbox.sandbox.store.get("customers", subscription["customer"])
    assert asked.value.description == f"Cancel subscription {subscription['id']} ({customer['email']})?"


def elicitation_answer(action: str, seen: list[str]) -> Any:
    async def callback(ctx: Any, params: Any) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # type: ignore[arg-type]

    return callback


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("action", ["accept", "decline", "cancel"])
async def test_elicitation_in_both_eras(sandbox: SandboxServer, mode: str, action: str) -> None:
    seen: list[str] = []
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive")
    async with spawn_server(env, mode=mode, elicitation_callback=elicitation_answer(action, seen)) as spawned:
        result = await spawned.client.call_tool(
            "create_a_stripe_refund", {"charge": JANE_CHARGE, "amount": 2500}
        )
    assert seen == ["Refund $25.00 USD of charge ch_sandbox_jane_1 to jane@example.com?"]
    text = result.content[0].text  # type: ignore[union-attr]
    if action == "accept":
        assert not result.is_error and refunds_of(sandbox) == 1
    else:
        said = {"decline": "The user declined", "cancel": "The user cancelled"}[action]
        assert result.is_error and text.startswith(said) and "not performed" in text
        assert refunds_of(sandbox) == 0 and mutations(sandbox) == []


async def test_with_approval_token_the_agent_can_approve_a_call_itself(sandbox: SandboxServer) -> None:
    """``--approval token``, chosen by a person: the result carries a token the agent passes back."""
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive", TRUTO_MCP_APPROVAL="token")
    async with spawn_server(env, mode="legacy") as spawned:
        arguments = {"charge": JANE_CHARGE, "amount": 700}
        first = await spawned.client.call_tool("create_a_stripe_refund", arguments)
        assert first.is_error and first.structured_content["error"]["confirmation_required"] is True
        assert refunds_of(sandbox) == 0
        token = first.structured_content["error"]["confirmation_token"]
        second = await spawned.client.call_tool(
            "create_a_stripe_refund", {**arguments, "confirmation_token": token}
        )
        assert not second.is_error and refunds_of(sandbox) == 1

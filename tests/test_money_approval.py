"""Money moves only with a person's approval, through the real server process (stdio, the SDK
client with an elicitation callback) against the loopback sandbox:

- every money-moving call is asked, a create included (a confirmed payment intent, a
  subscription), and calls that move no money are not;
- the question shows every money-relevant value first and whole, whatever else is long;
- a call that cannot work is answered with the reason: no question, nothing sent.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.catalog.spec import Catalog
from truto_stripe_mcp.pipeline.action_words import describe_action
from truto_stripe_mcp.pipeline.preview_terms import OTHER_ARGUMENTS_BUDGET, preview_terms
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, TOOLS, SandboxServer

pytestmark = pytest.mark.anyio
SPECS = Catalog.from_entries(TOOLS).specs
PAYMENT = {
    "amount": 4_999_900,
    "currency": "usd",
    "customer": JANE_CUSTOMER_ID,
    "payment_method": "pm_card_visa",
}


def declining(seen: list[str]) -> Any:
    """An elicitation callback standing for a person who reads the question and says no."""

    async def callback(ctx: Any, params: Any) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action="decline")

    return callback


def writes(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.route == "proxy" and r.method != "GET"]


def text_of(result: Any) -> str:
    return result.content[0].text  # type: ignore[no-any-return]


def recurring_price(sandbox: SandboxServer) -> str:
    return next(p["id"] for p in sandbox.sandbox.store.list("prices") if p.get("recurring") and p["active"])


# -- 8: coverage ---------------------------------------------------------------------------------


async def test_money_moving_creates_are_asked_and_the_others_are_not(sandbox: SandboxServer) -> None:
    """Under the default `--confirm destructive`: a confirmed payment intent and a new
    subscription (which bills at once) wait for the person; an unconfirmed payment intent and
    a customer move no money and are not asked."""
    store = sandbox.sandbox.store
    intents_before, subscriptions_before = store.count("payment_intents"), store.count("subscriptions")
    seen: list[str] = []
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive")
    async with spawn_server(env, mode="legacy", elicitation_callback=declining(seen)) as spawned:
        charged = await spawned.client.call_tool(
            "create_a_stripe_payment_intent", {**PAYMENT, "confirm": True}
        )
        subscribed = await spawned.client.call_tool(
            "create_a_stripe_subscription",
            {"customer": JANE_CUSTOMER_ID, "items": [{"price": recurring_price(sandbox), "quantity": 100}]},
        )
        assert charged.is_error and subscribed.is_error
        assert "declined" in text_of(charged) and "declined" in text_of(subscribed)
        assert len(seen) == 2, seen
        assert writes(sandbox) == [], "nothing may reach Stripe before the person approves"
        assert store.count("payment_intents") == intents_before
        assert store.count("subscriptions") == subscriptions_before

        unconfirmed = await spawned.client.call_tool("create_a_stripe_payment_intent", PAYMENT)
        customer = await spawned.client.call_tool("create_a_stripe_customer", {"email": "new@example.com"})
        assert not unconfirmed.is_error and not customer.is_error
        assert unconfirmed.structured_content["status"] == "requires_confirmation"
        assert len(seen) == 2, "a call that moves no money is not put to the person"


# -- 9: previews hide nothing that matters --------------------------------------------------------


async def test_the_question_shows_every_money_value_whatever_else_is_long(sandbox: SandboxServer) -> None:
    """A long metadata note once pushed a change to 50 seats out of the 200-character preview."""
    subscription = sandbox.sandbox.store.list("subscriptions", status="active")[0]
    item = subscription["items"]["data"][0]["id"]
    note = "Customer asked on the phone to keep the invoice address; see ticket. " * 20
    seen: list[str] = []
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive")
    async with spawn_server(env, mode="legacy", elicitation_callback=declining(seen)) as spawned:
        await spawned.client.call_tool(
            "update_a_stripe_subscription_by_id",
            {"id": subscription["id"], "metadata": {"note": note}, "items": [{"id": item, "quantity": 50}]},
        )
        (seats,) = seen
        assert seats.startswith(f"Update subscription {subscription['id']} (")
        assert f"items: (id {item}, quantity 50)" in seats
        assert seats.index("quantity 50") < seats.index("other arguments: metadata=")
        assert "more characters not shown]" in seats and len(seats) < len(note)

        await spawned.client.call_tool(
            "create_a_stripe_payment_intent",
            {"description": note[:400], **PAYMENT, "confirm": True, "metadata": {"note": note}},
        )
    payment = seen[-1]
    assert payment.startswith("Create a payment intent with amount: $49,999.00 USD; ")
    assert "confirm: yes" in payment and "payment method: pm_card_visa" in payment
    assert f"customer: {JANE_CUSTOMER_ID} (jane@example.com)" in payment
    assert payment.index("pm_card_visa") < payment.index("other arguments: description=")
    assert writes(sandbox) == []


# -- 10: no approval for a call that cannot work -------------------------------------------------


async def test_a_call_that_cannot_work_is_answered_without_a_question(sandbox: SandboxServer) -> None:
    store = sandbox.sandbox.store
    refunded = next(c for c in store.list("charges", status="succeeded") if c["refunded"])
    jane = store.get("charges", JANE_CHARGE_ID)
    cannot_work = {
        "neither charge nor payment intent": ("create_a_stripe_refund", {"amount": 500}, "neither `charge`"),
        "no such charge": ("create_a_stripe_refund", {"charge": "ch_nope"}, "No such charge: 'ch_nope'"),
        "no such payment intent": (
            "create_a_stripe_refund",
            {"payment_intent": "pi_nope"},
            "No such payment_intent: 'pi_nope'",
        ),
        "already refunded": (
            "create_a_stripe_refund",
            {"charge": refunded["id"]},
            f"Charge {refunded['id']} has already been refunded in full",
        ),
        "above what is refundable": (
            "refund_a_stripe_charge",
            {"id": JANE_CHARGE_ID, "amount": jane["amount"] + 1},
            "is more than the $1,500.00 USD left to refund",
        ),
        "no such subscription": (
            "delete_a_stripe_subscription_by_id",
            {"id": "sub_nope"},
            "No such subscription: 'sub_nope'",
        ),
    }
    seen: list[str] = []
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive")
    async with spawn_server(env, mode="legacy", elicitation_callback=declining(seen)) as spawned:
        for case, (tool, arguments, said) in cannot_work.items():
            result = await spawned.client.call_tool(tool, arguments)
            text = text_of(result)
            assert result.is_error and said in text, (case, text)
            assert text.endswith("no approval was asked and nothing was sent to Stripe."), (case, text)
            assert result.structured_content["error"]["cannot_work"] is True
        assert seen == [], "no question for a call that cannot work"
        assert writes(sandbox) == []

        refundable = await spawned.client.call_tool("create_a_stripe_refund", {"charge": JANE_CHARGE_ID})
        assert seen == ["Refund $1,500.00 USD of charge ch_sandbox_jane_1 to jane@example.com?"]
        assert refundable.is_error and "declined" in text_of(refundable)
    reads = sandbox.sandbox.requests_to("charges", "GET", "get")
    assert [r.resource_id for r in reads].count(JANE_CHARGE_ID) == 2, (
        "one read per check and question of each call"
    )


async def test_without_approval_nothing_is_read_first(sandbox: SandboxServer) -> None:
    """`--confirm none`: no question, so no pre-check and no extra read; Stripe answers."""
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="none")
    async with spawn_server(env) as spawned:
        result = await spawned.client.call_tool("create_a_stripe_refund", {"charge": "ch_nope"})
    assert result.is_error and "Stripe returned HTTP 404" in text_of(result)
    assert sandbox.sandbox.requests_to("charges", "GET") == []
    assert [r.action for r in writes(sandbox)] == ["create"]


def test_money_terms_come_first_whole_and_the_rest_is_shortened() -> None:
    """The words alone: 60 items are all said, the note is cut with a marker that counts."""
    items = [{"price": f"price_{n}", "quantity": n + 1} for n in range(60)]
    note = "n" * 1_000
    terms = preview_terms(
        {"metadata": {"note": note}, "items": items, "application_fee_amount": 250, "currency": "eur"},
        money_names={"items"},
    )
    said = terms.sentence()
    assert said.startswith("application fee amount: €2.50 EUR; items: (price price_0, quantity 1), ")
    assert all(f"(price price_{n}, quantity {n + 1})" in said for n in range(60))
    shown = said.split("other arguments: ")[1]
    assert shown.startswith('metadata={"note": "nnn') and shown.endswith(" more characters not shown]")
    left_out = int(shown.rsplit("[", 1)[1].split(" ")[0].replace(",", ""))
    assert left_out == len(f'metadata={{"note": "{note}"}}') - OTHER_ARGUMENTS_BUDGET
    assert preview_terms({"email": "a@b.co"}).sentence() == "email=a@b.co"
    assert preview_terms({"amount": 1200}).sentence() == "amount: 1,200 (smallest currency unit)"


async def test_a_create_reads_as_a_sentence() -> None:
    async def nothing(*_: Any) -> None:
        return None

    item = next(spec for spec in SPECS if spec.name == "create_a_stripe_invoiceitem")
    said = await describe_action(item, {"customer": "cus_1", "amount": 500, "currency": "usd"}, nothing)
    assert said == "Create an invoiceitem with amount: $5.00 USD; customer: cus_1?"

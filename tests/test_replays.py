"""A stored error is not replayed after its cause was fixed, and a replayed answer says it is one.

A PaymentIntent confirm declined (402), its payment method updated, the identical confirm
repeated: a definite refusal does not pin the dedupe window's key, so the repeat is sent afresh
and succeeds. Where Stripe does replay a stored decline (the agent reused its own
`idempotency_key`, or a retry after a lost answer), the error says it is a replay and how to
really try again. Real server processes over stdio against the loopback sandbox.
"""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_types import CallToolResult

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer

pytestmark = pytest.mark.anyio

CREATE = "create_a_stripe_payment_intent"
UPDATE = "update_a_stripe_payment_intent_by_id"
CONFIRM = "confirm_a_stripe_payment_intent"
DECLINING = "pm_card_chargeDeclined"
GOOD_CARD = "pm_card_visa"


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def confirms(sandbox: SandboxServer) -> list[RecordedRequest]:
    return [
        r for r in sandbox.sandbox.requests_to("payment_intents", "POST", "confirm") if r.route == "proxy"
    ]


async def _declining_intent(client: Client) -> str:
    created = await client.call_tool(
        CREATE,
        {"amount": 4_900, "currency": "usd", "customer": JANE_CUSTOMER_ID, "payment_method": DECLINING},
    )
    assert not created.is_error, text_of(created)
    return str(created.structured_content["id"])


async def _fix_the_card(client: Client, intent: str) -> None:
    updated = await client.call_tool(UPDATE, {"id": intent, "payment_method": GOOD_CARD})
    assert not updated.is_error, text_of(updated)


async def test_a_declined_confirm_repeated_after_the_card_was_fixed_succeeds(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        intent = await _declining_intent(client)
        declined = await client.call_tool(CONFIRM, {"id": intent})
        await _fix_the_card(client, intent)
        again = await client.call_tool(CONFIRM, {"id": intent})
    assert declined.is_error and "Your card was declined." in text_of(declined)
    assert "Replay" not in text_of(declined)
    assert not again.is_error, text_of(again)
    assert again.structured_content["status"] == "succeeded"
    assert "Replay" not in text_of(again), "sent afresh: nothing was replayed"
    keys = [r.headers["idempotency-key"] for r in confirms(sandbox)]
    assert len(keys) == 2 and keys[0] != keys[1], "the refusal did not pin the key"


async def test_a_decline_replayed_for_the_agents_own_key_says_it_is_a_replay(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        intent = await _declining_intent(client)
        arguments = {"id": intent, "idempotency_key": "agent-confirm-1"}
        declined = await client.call_tool(CONFIRM, arguments)
        await _fix_the_card(client, intent)
        replayed = await client.call_tool(CONFIRM, arguments)
        fresh = await client.call_tool(CONFIRM, {**arguments, "idempotency_key": "agent-confirm-2"})
    assert declined.is_error and "Replay" not in text_of(declined)
    text = text_of(replayed)
    assert replayed.is_error and "Your card was declined." in text
    assert "Replay: Your `idempotency_key` had been used before" in text
    assert "this is a replay, nothing was tried again" in text
    assert "To try again after fixing the cause, call with a new `idempotency_key`." in text
    assert replayed.structured_content["error"]["replayed"] is True
    assert not fresh.is_error and fresh.structured_content["status"] == "succeeded", text_of(fresh)
    assert [r.headers["idempotency-key"] for r in confirms(sandbox)] == [
        "agent-confirm-1",
        "agent-confirm-1",
        "agent-confirm-2",
    ]


async def test_a_decline_replayed_after_a_lost_answer_says_so_and_frees_the_repeat(
    sandbox: SandboxServer,
) -> None:
    """The decline's answer is lost; the retry with the same key gets Stripe's stored decline.
    The error says it is a replay; once the card is fixed, the identical confirm goes through."""
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        intent = await _declining_intent(client)
        sandbox.sandbox.faults.inject(
            Fault(method="POST", path="/proxy/payment_intents/confirm", drop_after_commit=True)
        )
        declined = await client.call_tool(CONFIRM, {"id": intent})
        await _fix_the_card(client, intent)
        again = await client.call_tool(CONFIRM, {"id": intent})
    text = text_of(declined)
    assert declined.is_error and "Your card was declined." in text
    assert (
        "Replay: An earlier attempt of this call (its answer was lost) used the same Idempotency-Key." in text
    )
    assert "this is a replay, nothing was tried again" in text
    assert "the next identical call is sent afresh with a new Idempotency-Key" in text
    assert declined.structured_content["error"]["replayed"] is True
    assert not again.is_error and again.structured_content["status"] == "succeeded", text_of(again)
    keys = [r.headers["idempotency-key"] for r in confirms(sandbox)]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]

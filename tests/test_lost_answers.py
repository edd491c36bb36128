"""A write whose outcome is not known says so, and how to repeat it safely; the deadline bounds
the attempt in flight; Stripe's 409 ``idempotency_key_in_use`` is waited out with the same key.

Real server processes over stdio (the MCP SDK's client), or a real runner and client in-process,
against the loopback sandbox's fault injection: ``drop_after_commit`` for an answer lost after
the refund happened, ``delay`` for a late answer (a delayed write holds its Idempotency-Key, as
Stripe does while processing, so a request with the same key meanwhile gets the 409).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp_types import CallToolResult

from tests.conftest import runner_for, sandbox_config, server_env, spawn_server
from truto_stripe_mcp.errors import TransportError
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer

pytestmark = pytest.mark.anyio

REFUND = "create_a_stripe_refund"
GET_CUSTOMER = "get_single_stripe_customer_by_id"


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def refunds(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.sandbox.store.list("refunds", charge=JANE_CHARGE_ID)


def posts(sandbox: SandboxServer, resource: str = "refunds") -> list[RecordedRequest]:
    return [r for r in sandbox.sandbox.requests_to(resource, "POST") if r.route == "proxy"]


async def _until_refunded(sandbox: SandboxServer, count: int) -> None:
    """Until the sandbox has run the refund a late answer was abandoned for (bounded)."""
    with anyio.fail_after(20):
        while len(refunds(sandbox)) < count:
            await anyio.sleep(0.05)


# -- a lost answer after the write happened ----------------------------------------------------


async def test_a_refund_whose_answer_is_lost_after_commit_says_it_may_have_happened(
    sandbox: SandboxServer,
) -> None:
    """Every attempt's answer is lost after the refund was made: the error says the refund may
    have happened and that repeating the identical call is safe; the repeat returns that refund."""
    before = len(refunds(sandbox))
    arguments = {"charge": JANE_CHARGE_ID, "amount": 800}
    async with spawn_server(server_env(sandbox, TRUTO_MCP_MAX_ATTEMPTS="2")) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="POST", path="/proxy/refunds", drop_after_commit=True, times=None)
        )
        lost = await client.call_tool(REFUND, arguments)
        made = refunds(sandbox)
        sandbox.sandbox.faults.clear()
        again = await client.call_tool(REFUND, arguments)
    text = text_of(lost)
    assert lost.is_error
    assert "broke before its answer arrived" in text
    assert "The create_a_stripe_refund request may have been carried out." in text
    assert "Repeating the identical call within" in text and "is safe" in text
    assert "instead of doing it twice" in text
    assert "Could not reach Truto" not in text and "in a minute" not in text
    assert lost.structured_content["error"]["may_have_been_carried_out"] is True
    assert len(made) == before + 1, "the first attempt made the refund"
    assert not again.is_error, text_of(again)
    assert again.structured_content["id"] == made[-1]["id"], "the repeat returns that refund"
    assert "Replay:" in text_of(again)
    assert len(refunds(sandbox)) == before + 1, "and makes no second one"
    assert len({p.headers["idempotency-key"] for p in posts(sandbox)}) == 1


async def test_a_read_whose_answer_is_lost_keeps_a_plain_message(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox, TRUTO_MCP_MAX_ATTEMPTS="2")) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="GET", path="/proxy/customers", drop_after_commit=True, times=None)
        )
        result = await spawned.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = text_of(result)
    assert result.is_error
    assert text.startswith("The connection to Truto at http://127.0.0.1:")
    assert "Connection error: gave up after 2 attempts." in text
    assert text.endswith("The upstream looks unhealthy; retry the call in a minute or so.")
    assert "carried out" not in text and "Idempotency-Key" not in text
    assert result.structured_content["error"]["may_have_been_carried_out"] is False


async def test_a_write_that_never_reached_truto_says_nothing_was_sent() -> None:
    """Truto gone (connection refused): nothing can have happened, and the error says so."""
    with SandboxServer(sandbox_config()) as server:
        async with runner_for(server, confirm="none", max_attempts=2) as runner:
            await runner.selected_tools()
            server.stop()
            with pytest.raises(TransportError) as caught:
                await runner.call(REFUND, {"charge": JANE_CHARGE_ID, "amount": 100})
    text = caught.value.agent_message()
    assert text.startswith("Could not reach Truto at http://127.0.0.1:")
    assert "nothing was sent" in text and "carried out" not in text
    assert caught.value.details()["may_have_been_carried_out"] is False


# -- the deadline bounds the attempt in flight ------------------------------------------------


async def test_the_deadline_ends_a_read_whose_answer_is_late(sandbox: SandboxServer) -> None:
    """A 1 s deadline with a 5 s request timeout: an answer 2.5 s late is not waited for."""
    env = server_env(sandbox, TRUTO_MCP_TIMEOUT="5", TRUTO_MCP_DEADLINE="1")
    async with spawn_server(env) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(Fault(method="GET", path="/proxy/customers", delay=2.5))
        result = await spawned.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = text_of(result)
    assert result.is_error, text
    assert text.startswith(
        "Truto had not answered the get_single_stripe_customer_by_id request when this call's 1 s "
        "deadline came, so the call stopped waiting."
    )
    assert result.structured_content["error"]["may_have_been_carried_out"] is False
    gets = [r for r in sandbox.sandbox.requests_to("customers", "GET") if r.route == "proxy"]
    assert len(gets) == 1, "no retry past the deadline"


async def test_the_deadline_ends_a_late_refund_which_then_may_be_repeated_safely(
    sandbox: SandboxServer,
) -> None:
    before = len(refunds(sandbox))
    arguments = {"charge": JANE_CHARGE_ID, "amount": 650}
    env = server_env(sandbox, TRUTO_MCP_TIMEOUT="5", TRUTO_MCP_DEADLINE="1")
    async with spawn_server(env) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", delay=2.0))
        late = await client.call_tool(REFUND, arguments)
        await _until_refunded(sandbox, before + 1)  # the sandbox finishes it after the call ended
        again = await client.call_tool(REFUND, arguments)
    text = text_of(late)
    assert late.is_error, text
    assert "when this call's 1 s deadline came, so the call stopped waiting." in text
    assert "The create_a_stripe_refund request may have been carried out." in text
    assert "Repeating the identical call within" in text
    assert late.structured_content["error"]["may_have_been_carried_out"] is True
    assert not again.is_error, text_of(again)
    assert again.structured_content["id"] == refunds(sandbox)[-1]["id"]
    assert "Replay:" in text_of(again)
    assert len(refunds(sandbox)) == before + 1
    assert len({p.headers["idempotency-key"] for p in posts(sandbox)}) == 1


# -- Stripe still processing the key (409 idempotency_key_in_use) -----------------------------


async def test_our_retry_racing_the_first_attempt_gets_its_outcome(sandbox: SandboxServer) -> None:
    """The first attempt times out while Stripe still processes it; the retries with its key are
    answered 409 until it is done, then with its result: the caller gets the refund, made once."""
    before = len(refunds(sandbox))
    env = server_env(sandbox, TRUTO_MCP_TIMEOUT="0.5", TRUTO_MCP_DEADLINE="15")
    async with spawn_server(env) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", delay=1.5))
        result = await spawned.client.call_tool(REFUND, {"charge": JANE_CHARGE_ID, "amount": 725})
    assert not result.is_error, text_of(result)
    statuses = [p.status for p in posts(sandbox)]
    assert 409 in statuses, f"the race was not exercised: {statuses}"
    assert statuses[-1] == 200 and 3 <= len(statuses) <= 15
    made = refunds(sandbox)
    assert len(made) == before + 1 and result.structured_content["id"] == made[-1]["id"]
    assert result.structured_content["amount"] == 725
    assert "Replay: Stripe returned a stored result for this Idempotency-Key" in text_of(result)
    assert len({p.headers["idempotency-key"] for p in posts(sandbox)}) == 1


async def test_two_calls_with_one_idempotency_key_at_once_both_get_the_one_refund(
    sandbox: SandboxServer,
) -> None:
    before = len(refunds(sandbox))
    arguments = {"charge": JANE_CHARGE_ID, "amount": 310, "idempotency_key": "agent-key-310"}
    results: list[CallToolResult] = []
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", delay=1.0))

        async def refund() -> None:
            results.append(await client.call_tool(REFUND, arguments))

        async with anyio.create_task_group() as group:
            group.start_soon(refund)
            group.start_soon(refund)
    assert all(not r.is_error for r in results), [text_of(r) for r in results]
    assert 409 in [p.status for p in posts(sandbox)], "the second call met the key in use"
    made = refunds(sandbox)
    assert len(made) == before + 1
    assert {r.structured_content["id"] for r in results} == {made[-1]["id"]}

"""Stripe failing (a 5xx with ``truto_is_remote_error``) is retried with backoff, a write with
the same Idempotency-Key; Truto's 503 for a blocked integrated account is not, and says so.

Real runner and client against the sandbox on loopback; the agent's view over stdio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import runner_for, server_env, spawn_server
from truto_stripe_mcp.errors import UpstreamError
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer

pytestmark = pytest.mark.anyio

CREATE_REFUND = "create_a_stripe_refund"
GET_CUSTOMER = "get_single_stripe_customer_by_id"


@asynccontextmanager
async def quick_runner(sandbox: SandboxServer, **settings: Any) -> AsyncIterator[ToolRunner]:
    """A runner with its catalog loaded and short backoff (the policy's shape is unit-tested)."""
    async with runner_for(sandbox, confirm="none", **settings) as runner:
        runner.sender.policy = replace(runner.sender.policy, base_backoff=0.02, max_backoff=0.1)
        await runner.selected_tools()
        sandbox.sandbox.reset_requests()
        yield runner


def proxy(sandbox: SandboxServer, method: str | None = None) -> list[RecordedRequest]:
    return [r for r in sandbox.sandbox.requests_to(method=method) if r.route == "proxy"]


@pytest.mark.parametrize("status", [500, 503])
async def test_a_refund_stripe_failed_is_retried_with_its_idempotency_key(
    sandbox: SandboxServer, status: int
) -> None:
    before = sandbox.sandbox.store.count("refunds", charge=JANE_CHARGE_ID)
    async with quick_runner(sandbox) as runner:
        sandbox.sandbox.faults.inject(
            Fault(method="POST", path="/proxy/refunds", status=status, remote=True, times=2)
        )
        outcome = await runner.call(CREATE_REFUND, {"charge": JANE_CHARGE_ID, "amount": 300})
    posts = proxy(sandbox, "POST")
    assert [p.status for p in posts] == [status, status, 200]
    keys = {p.headers.get("idempotency-key") for p in posts}
    assert len(keys) == 1 and None not in keys, "every attempt carries the first attempt's key"
    assert sandbox.sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == before + 1
    assert outcome.data["amount"] == 300


async def test_a_failing_stripe_is_retried_only_up_to_max_attempts(sandbox: SandboxServer) -> None:
    async with quick_runner(sandbox, max_attempts=3) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=500, remote=True, times=None))
        with pytest.raises(UpstreamError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert len(proxy(sandbox)) == 3
    text = caught.value.agent_message()
    assert text.startswith("Stripe returned HTTP 500 (api_error)")
    assert "HTTP 500 from Stripe: gave up after 3 attempts." in text


async def test_truto_503_for_a_blocked_account_is_not_retried(sandbox: SandboxServer) -> None:
    async with quick_runner(sandbox) as runner:
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=503, message="Integrated account is blocked", times=None)
        )
        with pytest.raises(UpstreamError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert len(proxy(sandbox)) == 1
    text = caught.value.agent_message()
    assert "Truto reports this integrated account as blocked" in text
    assert "The call was not retried: retrying will not help until the account is unblocked." in text


async def test_over_stdio_stripe_503_recovers_and_truto_503_explains(sandbox: SandboxServer) -> None:
    faults = sandbox.sandbox.faults
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.reset_requests()
        faults.inject(Fault(path="/proxy/customers", status=503, remote=True, times=2))
        recovered = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        assert [r.status for r in proxy(sandbox)] == [503, 503, 200]
        faults.inject(Fault(path="/proxy/customers", status=503, times=None))
        blocked = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        log = spawned.stderr()
    assert not recovered.is_error
    assert f"{GET_CUSTOMER}: HTTP 503 from Stripe, retrying in" in log
    assert blocked.is_error and len(proxy(sandbox)) == 4, "the blocked account's 503 is sent once"
    text = blocked.content[0].text  # type: ignore[union-attr]
    assert "blocked" in text and "retrying will not help" in text

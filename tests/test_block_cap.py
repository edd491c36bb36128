"""One absurd wait from a server (``Retry-After: 1000000000``, a ``ratelimit-reset`` read as 31
years) holds calls back for at most ``TRUTO_MCP_MAX_BLOCK``; after it the server is asked again.

A real server process over stdio against the loopback sandbox, whose fault injection sends the
headers; the rate-limit window lives in the test's own SQLite state, as by default. The cap is
set to 1 s so the test sees "after the cap" without waiting a minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp_types import CallToolResult

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, Fault, SandboxServer

pytestmark = pytest.mark.anyio

GET_CUSTOMER = "get_single_stripe_customer_by_id"
THIRTY_ONE_YEARS = "999999999"
"""Just under the epoch threshold, so a ``ratelimit-reset`` of this is a delay: about 31.7 years."""


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def customer_gets(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests_to("customers", "GET") if r.route == "proxy"]


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "1000000000"}, {"ratelimit-reset": THIRTY_ONE_YEARS, "ratelimit-remaining": "0"}],
    ids=["retry-after-1e9", "ratelimit-reset-31-years"],
)
async def test_a_429_asking_for_decades_is_asked_again_after_the_cap(
    sandbox: SandboxServer, headers: dict[str, str]
) -> None:
    env = server_env(sandbox, TRUTO_MCP_MAX_BLOCK="1")
    async with spawn_server(env) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="GET", path="/proxy/customers", status=429, headers=headers)
        )
        first = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        later = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert not first.is_error, text_of(first)
    assert not later.is_error, text_of(later)
    assert first.structured_content["id"] == later.structured_content["id"] == JANE_CUSTOMER_ID
    assert [r.status for r in customer_gets(sandbox)] == [429, 200, 200]


async def test_a_window_said_to_reset_in_31_years_is_asked_again_after_the_cap(
    sandbox: SandboxServer,
) -> None:
    """A success saying the budget is spent until a reset 31 years away: the next call waits
    the cap, not the 31 years, then goes out."""
    spent = {"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": THIRTY_ONE_YEARS}
    env = server_env(sandbox, TRUTO_MCP_MAX_BLOCK="1")
    async with spawn_server(env) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(
                method="GET",
                path="/proxy/customers",
                status=200,
                body={"id": JANE_CUSTOMER_ID, "object": "customer"},
                headers=spent,
            )
        )
        first = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        later = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert not first.is_error and not later.is_error, text_of(later)
    assert len(customer_gets(sandbox)) == 2


async def test_with_the_default_cap_a_decades_long_wait_is_told_as_the_cap(sandbox: SandboxServer) -> None:
    """Default cap (60 s) over the 30 s longest wait: the call stops at once and tells the agent
    when this server asks again, not a date 31 years away."""
    async with spawn_server(server_env(sandbox)) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="GET", path="/proxy/customers", status=429, headers={"retry-after": "1000000000"})
        )
        result = await spawned.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = text_of(result)
    assert result.is_error
    assert "the server asked to wait about 32 years; this server asks again after at most 60 s" in text
    retry_after = datetime.fromisoformat(result.structured_content["error"]["retry_after"])
    assert retry_after < datetime.now(UTC) + timedelta(hours=1), retry_after

"""The rate-limit window every server of an account shares (a SQLite file, a Redis database
through the Lua script) holds a server's absurd wait for at most ``TRUTO_MCP_MAX_BLOCK`` too:
another server is not blocked for decades by one ``Retry-After: 1000000000``."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import CallToolResult

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, SandboxServer
from truto_stripe_mcp.sandbox.faults import Fault

pytestmark = pytest.mark.anyio

GET_CUSTOMER = "get_single_stripe_customer_by_id"


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def customer_gets(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests_to("customers", "GET") if r.route == "proxy"]


async def test_one_servers_decades_long_429_blocks_the_others_only_for_the_cap(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state, TRUTO_MCP_MAX_BLOCK="1")
    async with spawn_server(env) as first, spawn_server(env) as second:
        await first.client.list_tools()
        await second.client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="GET", path="/proxy/customers", status=429, headers={"retry-after": "1000000000"})
        )
        limited = await first.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        other = await second.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert not limited.is_error, text_of(limited)
    assert not other.is_error, text_of(other)
    assert [r.status for r in customer_gets(sandbox)] == [429, 200, 200]

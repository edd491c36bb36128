"""Discovery mode over MCP: a small listing, search-then-call reaching the whole
selection, and no way around read-only, exclusions or approval through call_tool."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio
META = {"search_tools", "describe_tool", "call_tool"}
REFUND_TOOLS = {"create_a_stripe_refund", "refund_a_stripe_charge", "create_a_stripe_charge_refund"}
"""Stripe's three ways to refund a charge: each is a right answer to "refund a charge"."""


def text(result: types.CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


def data(result: types.CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))


def mutations(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.method != "GET"]


async def test_discovery_lists_little_and_reaches_everything(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox), ["--discovery"]) as spawned:
        client = spawned.client
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names >= META and len(names) <= 10
        assert "create_a_stripe_refund" not in names

        refund = data(await client.call_tool("search_tools", {"query": "refund a charge"}))
        assert refund["results"][0]["name"] in REFUND_TOOLS
        links = data(await client.call_tool("search_tools", {"query": "checkout link"}))
        assert links["results"][0]["name"] in {
            "create_a_stripe_payment_link",
            "list_all_stripe_payment_links",
        }
        assert {hit["name"] for hit in links["results"][:2]} >= {"create_a_stripe_payment_link"}
        nothing = data(await client.call_tool("search_tools", {"query": "weather in Paris"}))
        assert nothing["results"] == []
        assert nothing["note"].startswith("No tool matched 'weather in Paris'")

        described = data(await client.call_tool("describe_tool", {"name": "create_a_stripe_refund"}))
        assert "charge" in described["inputSchema"]["properties"]
        full = described["inputSchema"]["properties"]
        assert full["amount"]["description"] == "A positive integer representing how much to refund."
        assert "anyOf" in full["metadata"], "the full schema, not the listed one"

        created = data(
            await client.call_tool(
                "call_tool",
                {
                    "name": "create_a_stripe_refund",
                    "arguments": {"charge": "ch_sandbox_jane_1", "amount": 100},
                },
            )
        )
        assert created["object"] == "refund"
        bad = await client.call_tool(
            "call_tool", {"name": "create_a_stripe_refund", "arguments": {"amount": "x"}}
        )
        assert bad.is_error and "`amount` must be integer" in text(bad)
        unknown = await client.call_tool("call_tool", {"name": "refund_everything"})
        assert unknown.is_error and "search_tools" in text(unknown)
        nested = await client.call_tool("call_tool", {"name": "call_tool", "arguments": {}})
        assert nested.is_error


async def test_search_and_call_exist_only_in_discovery_mode(sandbox: SandboxServer) -> None:
    """describe_tool is always there (tools/list folds nested fields away); search and call are not."""
    async with spawn_server(server_env(sandbox, TRUTO_MCP_TOOLSETS="core")) as spawned:
        names = {tool.name for tool in (await spawned.client.list_tools()).tools}
        assert META & names == {"describe_tool"}
        result = await spawned.client.call_tool("search_tools", {"query": "refund"})
        assert result.is_error and "Unknown tool" in text(result)
        described = data(
            await spawned.client.call_tool("describe_tool", {"name": "update_a_stripe_subscription_by_id"})
        )
        items = described["inputSchema"]["properties"]["items"]["items"]["properties"]
        assert {"price", "quantity", "deleted"} <= set(items), "the fields tools/list folds into `object`"


async def test_call_tool_cannot_bypass_read_only_or_exclusions(sandbox: SandboxServer) -> None:
    env = server_env(sandbox, TRUTO_MCP_EXCLUDE_TOOLS="list_all_stripe_charges")
    async with spawn_server(env, ["--discovery", "--read-only"]) as spawned:
        client = spawned.client
        write = await client.call_tool(
            "call_tool", {"name": "create_a_stripe_refund", "arguments": {"charge": "ch_sandbox_jane_1"}}
        )
        assert write.is_error and "read-only" in text(write)
        excluded = await client.call_tool("call_tool", {"name": "list_all_stripe_charges", "arguments": {}})
        assert excluded.is_error and "excluded" in text(excluded)
        hidden = await client.call_tool("describe_tool", {"name": "create_a_stripe_refund"})
        assert hidden.is_error
        found = data(await client.call_tool("search_tools", {"query": "refund"}))
        assert all(hit["method"] in {"list", "get"} for hit in found["results"]), (
            "search shows only callable tools"
        )
    assert mutations(sandbox) == []


async def test_call_tool_cannot_bypass_approval(sandbox: SandboxServer) -> None:
    env = server_env(sandbox, TRUTO_MCP_CONFIRM="destructive")
    asked: list[str] = []

    async def decline(ctx: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    async with spawn_server(env, ["--discovery"], mode="legacy", elicitation_callback=decline) as spawned:
        result = await spawned.client.call_tool(
            "call_tool",
            {"name": "create_a_stripe_refund", "arguments": {"charge": "ch_sandbox_jane_1", "amount": 100}},
        )
    assert result.is_error and "declined" in text(result)
    assert asked and "Refund $1.00 USD" in asked[0]
    assert mutations(sandbox) == []

    with_tokens = {**env, "TRUTO_MCP_APPROVAL": "token"}  # the agent-readable token path, opted into
    async with spawn_server(with_tokens, ["--discovery"], mode="legacy") as spawned:
        first = await spawned.client.call_tool(
            "call_tool",
            {"name": "create_a_stripe_refund", "arguments": {"charge": "ch_sandbox_jane_1", "amount": 100}},
        )
        token = first.structured_content["error"]["confirmation_token"]
        changed = await spawned.client.call_tool(
            "call_tool",
            {
                "name": "create_a_stripe_refund",
                "arguments": {"charge": "ch_sandbox_jane_1", "amount": 100_000, "confirmation_token": token},
            },
        )
        assert changed.is_error and "different call" in text(changed)
    assert mutations(sandbox) == []


async def test_too_large_a_selection_switches_to_discovery(sandbox: SandboxServer) -> None:
    env = server_env(sandbox, TRUTO_MCP_DISCOVERY_THRESHOLD="30")
    async with spawn_server(env, ["--toolsets", "billing"]) as spawned:  # over 30 tools
        names = {tool.name for tool in (await spawned.client.list_tools()).tools}
    assert names >= META and len(names) <= 10

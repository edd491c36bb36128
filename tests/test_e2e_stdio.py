"""End to end: the SDK client spawns ``python -m truto_stripe_mcp`` over stdio, pointed at
the sandbox on a loopback port; every assertion is on what the agent and Stripe saw."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import mcp_types as types
import pytest

from tests.conftest import ACCOUNT_ID, assert_no_leak, server_env, spawn_server

pytestmark = pytest.mark.anyio

OWN_TOOLS = {"auto_paginate", "convert_timestamp", "describe_tool"}


def payload(result: types.CallToolResult) -> Any:
    """What the agent reads: the text block, which must be valid JSON on success."""
    text = result.content[0].text  # type: ignore[union-attr]
    assert_no_leak(text, json.dumps(result.structured_content))
    return text if result.is_error else json.loads(text)


def proxy_requests(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.path.startswith("/proxy/")]


def query_pairs(request: Any) -> list[tuple[str, str]]:
    return parse_qsl(request.query_string, keep_blank_values=True)


async def test_tools_list_shape(sandbox: Any) -> None:
    env = server_env(sandbox, TRUTO_MCP_DISCOVERY_THRESHOLD="100000", TRUTO_MCP_TOOLS_PAGE_SIZE="0")
    async with spawn_server(env) as spawned:
        tools = (await spawned.client.list_tools()).tools
    names = [tool.name for tool in tools]
    catalog_names, own = names[:-3], names[-3:]
    assert len(catalog_names) == 463, "the whole catalog, listed"
    assert catalog_names == sorted(catalog_names), "tools/list order must be deterministic"
    assert own == ["auto_paginate", "convert_timestamp", "describe_tool"], "the server's own tools come last"
    by_name = {tool.name: tool for tool in tools}
    listing = by_name["list_all_stripe_customers"]
    assert listing.annotations.read_only_hint is True and listing.annotations.destructive_hint is False
    assert listing.annotations.idempotent_hint is None, "meaningless for a read: left to the default"
    assert {"limit", "next_cursor", "email", "expand"} <= set(listing.input_schema["properties"])
    assert "next_cursor" in (listing.description or "")
    assert listing.title == "List Stripe customers"
    refund = by_name["create_a_stripe_refund"]
    assert refund.annotations.read_only_hint is False and refund.annotations.destructive_hint is False
    get = by_name["get_single_stripe_customer_by_id"]
    assert get.input_schema["required"][0] == "id"
    delete = by_name["delete_a_stripe_customer_by_id"]
    assert delete.annotations.destructive_hint is True and delete.annotations.idempotent_hint is True
    search = by_name["search_a_stripe_customer"]
    assert search.annotations.read_only_hint is True, "a custom read action is a read"
    assert all(tool.annotations.open_world_hint is None for tool in tools if tool.name not in OWN_TOOLS)
    assert by_name["convert_timestamp"].annotations.open_world_hint is False


async def test_list_get_create_update_delete_and_custom(sandbox: Any) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        # list with a filter: the agent gets Truto's envelope, Stripe saw the filter.
        found = await client.call_tool("list_all_stripe_customers", {"email": "jane@example.com", "limit": 5})
        assert not found.is_error, payload(found)
        page = payload(found)
        assert [c["email"] for c in page["result"]] == ["jane@example.com"]
        assert "next_cursor" in page and found.structured_content == page
        seen = proxy_requests(sandbox)[-1]
        assert (seen.method, seen.path) == ("GET", "/proxy/customers")
        assert ("integrated_account_id", ACCOUNT_ID) in query_pairs(seen)
        assert ("email", "jane@example.com") in query_pairs(seen) and ("limit", "5") in query_pairs(seen)
        jane = page["result"][0]

        got = payload(await client.call_tool("get_single_stripe_customer_by_id", {"id": jane["id"]}))
        assert got["id"] == jane["id"] and got["object"] == "customer"
        assert proxy_requests(sandbox)[-1].path == f"/proxy/customers/{jane['id']}"

        created = payload(
            await client.call_tool(
                "create_a_stripe_customer",
                {"email": "new@example.com", "name": "New Person", "metadata": {"k": "v"}},
            )
        )
        assert created["id"].startswith("cus_") and created["email"] == "new@example.com"
        seen = proxy_requests(sandbox)[-1]
        assert (seen.method, seen.path) == ("POST", "/proxy/customers")
        assert seen.json == {"email": "new@example.com", "name": "New Person", "metadata": {"k": "v"}}

        updated = payload(
            await client.call_tool("update_a_stripe_customer_by_id", {"id": created["id"], "name": "Renamed"})
        )
        assert updated["name"] == "Renamed"
        seen = proxy_requests(sandbox)[-1]
        assert (seen.method, seen.path, seen.json) == (
            "PATCH",
            f"/proxy/customers/{created['id']}",
            {"name": "Renamed"},
        )

        deleted = payload(await client.call_tool("delete_a_stripe_customer_by_id", {"id": created["id"]}))
        assert deleted == {"id": created["id"], "object": "customer", "deleted": True}
        assert proxy_requests(sandbox)[-1].method == "DELETE"

        # a custom method: POST /proxy/{resource}/{method} with the id in the body.
        disputes = payload(await client.call_tool("list_all_stripe_disputes", {"limit": 100}))
        open_dispute = next(
            d for d in disputes["result"] if d["status"] in {"needs_response", "warning_needs_response"}
        )
        closed = payload(await client.call_tool("close_a_stripe_dispute", {"id": open_dispute["id"]}))
        expected = "lost" if open_dispute["status"] == "needs_response" else "warning_closed"
        assert closed["status"] == expected
        seen = proxy_requests(sandbox)[-1]
        assert (seen.method, seen.path, seen.json) == (
            "POST",
            "/proxy/disputes/close",
            {"id": open_dispute["id"]},
        )


async def test_nested_resource_and_bracket_query(sandbox: Any) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        subs = payload(
            await spawned.client.call_tool(
                "list_all_stripe_subscriptions", {"status": "active", "limit": 3, "expand": ["customer"]}
            )
        )
        customer = subs["result"][0]["customer"]
        customer_id = customer["id"] if isinstance(customer, dict) else customer
        seen = proxy_requests(sandbox)[-1]
        assert ("expand[]", "customer") in query_pairs(seen)
        nested = await spawned.client.call_tool(
            "list_all_stripe_customer_subscriptions", {"customer": customer_id}
        )
        assert not nested.is_error, payload(nested)
        seen = proxy_requests(sandbox)[-1]
        assert seen.path == "/proxy/customer_subscriptions"
        assert ("customer", customer_id) in query_pairs(seen)
        assert all(s["customer"] == customer_id for s in payload(nested)["result"])
        ranged = await spawned.client.call_tool(
            "list_all_stripe_charges", {"customer": customer_id, "created": {"gte": 1_600_000_000}}
        )
        assert not ranged.is_error, payload(ranged)
        assert ("created[gte]", "1600000000") in query_pairs(proxy_requests(sandbox)[-1])


async def test_stripe_errors_reach_the_agent(sandbox: Any) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        result = await spawned.client.call_tool(
            "create_a_stripe_refund", {"charge": "ch_sandbox_jane_1", "amount": 10_000_000}
        )
        assert result.is_error
        text = payload(result)
        assert "HTTP 400" in text and "Stripe" in text and "amount" in text
        error = result.structured_content["error"]
        assert error["status"] == 400 and error["stripe_error"]["type"] == "invalid_request_error"

        missing = await spawned.client.call_tool(
            "get_single_stripe_customer_by_id", {"id": "cus_does_not_exist"}
        )
        assert missing.is_error and "404" in payload(missing)


async def test_bad_input_is_a_tool_error_and_the_server_stays_up(sandbox: Any) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        before = len(proxy_requests(sandbox))

        wrong_type = await client.call_tool("list_all_stripe_customers", {"limit": "ten"})
        assert wrong_type.is_error and "`limit` must be integer" in payload(wrong_type)

        missing = await client.call_tool("update_a_stripe_customer_by_id", {"name": "No Id"})
        assert missing.is_error and "missing required `id`" in payload(missing)

        typo = await client.call_tool("list_all_stripe_customers", {"emial": "x@y.z"})
        assert typo.is_error and "unknown argument `emial`" in payload(typo)

        unknown = await client.call_tool("refund_everything", {})
        assert unknown.is_error and "Unknown tool" in payload(unknown)

        huge = await client.call_tool("create_a_stripe_customer", {"description": "x" * 10_000_000})
        assert huge.is_error and "byte limit" in payload(huge)

        assert len(proxy_requests(sandbox)) == before, "bad input must not reach Stripe"

        for evil in ["../customers", "cus_1/../../tools", "a/b", "x?integrated_account_id=other", "#x", ".."]:
            result = await client.call_tool("get_single_stripe_customer_by_id", {"id": evil})
            assert result.is_error
        for request in proxy_requests(sandbox)[before:]:
            assert request.path.startswith("/proxy/customers/"), request.path
            assert request.path.count("/") == 3, request.path
            assert [v for k, v in query_pairs(request) if k == "integrated_account_id"] == [ACCOUNT_ID]

        still_up = await client.call_tool("list_all_stripe_customers", {"limit": 1})
        assert not still_up.is_error and len(payload(still_up)["result"]) == 1


async def test_read_only_refuses_writes_without_calling_upstream(sandbox: Any) -> None:
    async with spawn_server(server_env(sandbox, TRUTO_MCP_TOOLSETS="support"), ["--read-only"]) as spawned:
        names = {tool.name for tool in (await spawned.client.list_tools()).tools}
        assert "list_all_stripe_customers" in names and "create_a_stripe_refund" not in names
        assert all(n.startswith(("list_", "get_")) for n in names - OWN_TOOLS)
        before = len(proxy_requests(sandbox))
        refused = await spawned.client.call_tool("create_a_stripe_refund", {"charge": "ch_sandbox_jane_1"})
        assert refused.is_error and "read-only" in payload(refused)
        assert len(proxy_requests(sandbox)) == before


async def test_filters_from_env_and_flags(sandbox: Any) -> None:
    env = server_env(sandbox, TRUTO_MCP_METHODS="list", TRUTO_MCP_EXCLUDE_TOOLS="list_all_stripe_charges")
    async with spawn_server(env, ["--tags", "payments,customers"]) as spawned:
        names = {tool.name for tool in (await spawned.client.list_tools()).tools}
        assert names and all(name.startswith("list_all_stripe_") for name in names - OWN_TOOLS)
        assert "list_all_stripe_charges" not in names and "list_all_stripe_customers" in names
        excluded = await spawned.client.call_tool("list_all_stripe_charges", {})
        assert excluded.is_error and "excluded" in payload(excluded)
    tools_query = [r for r in sandbox.sandbox.requests if r.path.endswith("/tools")][-1]
    assert ("methods", "list") in query_pairs(tools_query) and ("tags", "payments,customers") in query_pairs(
        tools_query
    )

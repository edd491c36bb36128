"""Agent-friendly data through the real runner and the sandbox on loopback: ISO
timestamps, time filters, `fields`, the result budget, auto-pagination and resources."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

import mcp_types as types
import pytest

from tests.conftest import runner_for, server_env, spawn_server
from truto_stripe_mcp.errors import InvalidArgumentsError, ToolRefusedError, UpstreamError
from truto_stripe_mcp.pipeline.call import CallOutcome
from truto_stripe_mcp.sandbox import Fault, SandboxServer
from truto_stripe_mcp.shaping import compact_json

pytestmark = pytest.mark.anyio


def last_proxy_query(sandbox: SandboxServer) -> list[tuple[str, str]]:
    request = [r for r in sandbox.sandbox.requests if r.path.startswith("/proxy/")][-1]
    return parse_qsl(request.query_string, keep_blank_values=True)


async def test_results_get_iso_siblings_and_the_off_switch(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        sub = (await runner.call("list_all_stripe_subscriptions", {"limit": 1})).data["result"][0]
    assert sub["created_iso"].endswith("Z") and "current_period_end_iso" in sub
    keys = list(sub)
    assert keys[keys.index("created") + 1] == "created_iso", "the sibling sits next to its field"
    assert "quantity_iso" not in sub["items"]["data"][0] and "created_iso" in sub["items"]["data"][0]
    async with runner_for(sandbox, iso_timestamps=False) as runner:
        plain = (await runner.call("list_all_stripe_subscriptions", {"limit": 1})).data["result"][0]
    assert not any(key.endswith("_iso") for key in json.dumps(plain).split('"'))


async def test_iso_and_phrase_time_filters_become_epochs(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        await runner.call(
            "list_all_stripe_charges", {"created": {"gte": "2025-06-01", "lt": "2025-07-01T00:00:00Z"}}
        )
        assert ("created[gte]", "1748736000") in last_proxy_query(sandbox)
        assert ("created[lt]", "1751328000") in last_proxy_query(sandbox)
        await runner.call("list_all_stripe_charges", {"created": "2025-06-01"})
        query = dict(last_proxy_query(sandbox))
        assert query["created[gte]"] == "1748736000" and query["created[lte]"] == "1748822399"
        await runner.call("list_all_stripe_charges", {"created": 1748736000})
        assert ("created", "1748736000") in last_proxy_query(sandbox), "epochs pass unchanged"
        before = time.time()
        await runner.call("list_all_stripe_charges", {"created": "last 7 days"})
        query = dict(last_proxy_query(sandbox))
        assert (
            abs(int(query["created[lte]"]) - before) < 5
            and abs(int(query["created[gte]"]) - (before - 7 * 86400)) < 5
        )
        with pytest.raises(InvalidArgumentsError, match="created"):
            await runner.call("list_all_stripe_charges", {"created": "the other day"})


async def test_instants_get_one_epoch_and_unsets_pass_through(sandbox: SandboxServer) -> None:
    """Stripe's schema decides: an instant is one epoch, never a range; ``""`` and ``"now"`` stay."""
    async with runner_for(sandbox, confirm="none") as runner:
        invoice = (await runner.call("list_all_stripe_invoices", {"status": "open", "limit": 1})).data[
            "result"
        ][0]
        await runner.call(
            "preview_a_stripe_credit_note", {"invoice": invoice["id"], "effective_at": "2024-01-01"}
        )
        query = last_proxy_query(sandbox)
        assert ("effective_at", "1704067200") in query
        assert not any(key.startswith("effective_at[") for key, _ in query), "an instant is not a range"
        await runner.call(
            "upcoming_a_stripe_invoice", {"customer": "cus_sandbox_jane", "subscription_cancel_at": ""}
        )
        assert ("subscription_cancel_at", "") in last_proxy_query(sandbox), "Stripe's unset passes untouched"
        with pytest.raises(InvalidArgumentsError, match="subscription_cancel_at` takes one point in time"):
            await runner.call("upcoming_a_stripe_invoice", {"subscription_cancel_at": "last 7 days"})
        sub = (await runner.call("list_all_stripe_subscriptions", {"status": "active", "limit": 1})).data
        sub_id = sub["result"][0]["id"]
        await runner.call("update_a_stripe_subscription_by_id", {"id": sub_id, "trial_end": "now"})
        assert sandbox.sandbox.requests[-1].json["trial_end"] == "now"
        await runner.call(
            "update_a_stripe_subscription_by_id", {"id": sub_id, "cancel_at": "2030-01-01T00:00:00Z"}
        )
        assert sandbox.sandbox.requests[-1].json["cancel_at"] == 1893456000, "body instants are converted too"


async def test_a_property_in_both_schemas_is_sent_in_both(sandbox: SandboxServer) -> None:
    """Truto's own toolset sends a property named by the query and the body schema in both places."""
    both = {
        "name": "create_a_stripe_customer",
        "description": "Creates a customer.",
        "resource": "customers",
        "method": "create",
        "query_schema": {"type": "object", "properties": {"email": {"type": "string"}}},
        "body_schema": {
            "type": "object",
            "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
        },
    }
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=200, body={"result": [both]}, times=None))
    async with runner_for(sandbox, toolsets="all", confirm="none") as runner:
        # The sandbox holds Stripe's real schema (email only in the body) and says so; what
        # matters here is what the server sent.
        with pytest.raises(UpstreamError, match="unknown parameter: email"):
            await runner.call("create_a_stripe_customer", {"email": "both@example.com", "name": "Both"})
    sent = sandbox.sandbox.requests[-1]
    assert ("email", "both@example.com") in parse_qsl(sent.query_string)
    assert sent.json == {"email": "both@example.com", "name": "Both"}


async def test_fields_keep_only_what_was_asked(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        page = (
            await runner.call("list_all_stripe_customers", {"limit": 3, "fields": "email,metadata.plan"})
        ).data
        got = (
            await runner.call(
                "get_single_stripe_charge_by_id", {"id": "ch_sandbox_jane_1", "fields": "amount,created"}
            )
        ).data
    assert page["result_count"] == 3 and "next_cursor" in page
    for customer in page["result"]:
        assert set(customer) <= {"id", "object", "email", "metadata"}
        assert set(customer.get("metadata", {})) <= {"plan"}
    assert set(got) == {"id", "object", "amount", "created", "created_iso"}
    async with runner_for(sandbox) as runner:
        with pytest.raises(InvalidArgumentsError, match="fields"):
            await runner.call("list_all_stripe_customers", {"fields": "id,,em ail"})


async def test_budget_cuts_at_an_item_boundary_and_says_how_to_get_more(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox, result_budget=4000) as runner:
        outcome = await runner.call("list_all_stripe_customers", {"limit": 100})
    text = json.dumps(outcome.data, separators=(",", ":"), ensure_ascii=False)
    assert len(text) <= 4000
    assert 0 < len(outcome.data["result"]) < 100
    assert outcome.data["truncated"]["omitted_items"] == 100 - len(outcome.data["result"])
    note = outcome.data["truncated"]["how_to_get_more"]
    assert "fields" in note and "limit" in note and outcome.notes == ()


def sent(outcome: CallOutcome) -> dict[str, Any]:
    """What the agent reads (the text block), checked to be exactly the outcome's data."""
    text = outcome.json_text()
    assert text == compact_json(outcome.data), "the text block must be the data, encoded compactly"
    return json.loads(text)


async def test_auto_paginate_walks_every_item_once_in_order(sandbox: SandboxServer) -> None:
    expected = [c["id"] for c in sandbox.sandbox.store.list("customers")]
    async with runner_for(sandbox) as runner:
        outcome = await runner.call(
            "auto_paginate", {"tool": "list_all_stripe_customers", "arguments": {"fields": "id", "limit": 40}}
        )
    data = sent(outcome)
    assert data["complete"] is True and data["next_cursor"] is None
    assert [c["id"] for c in data["result"]] == expected and data["count"] == len(expected) > 250
    assert data["pages"] == -(-len(expected) // 40)


async def test_auto_paginate_of_an_empty_list_is_complete_and_valid_json(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        outcome = await runner.call(
            "auto_paginate",
            {"tool": "list_all_stripe_customers", "arguments": {"email": "nobody-é@example.invalid"}},
        )
    data = sent(outcome)
    assert data["result"] == [] and data["count"] == 0 and data["complete"] is True and data["pages"] == 1


async def test_auto_paginate_stops_at_max_items_and_resumes_exactly(sandbox: SandboxServer) -> None:
    expected = [c["id"] for c in sandbox.sandbox.store.list("customers")]
    async with runner_for(sandbox) as runner:
        first = sent(
            await runner.call(
                "auto_paginate",
                {"tool": "list_all_stripe_customers", "arguments": {"fields": "id"}, "max_items": 130},
            )
        )
        assert first["complete"] is False and first["count"] == 130 and first["next_cursor"]
        assert "130 items" in first["note"] and first["next_cursor"] in first["note"]
        rest = sent(
            await runner.call(
                "auto_paginate",
                {
                    "tool": "list_all_stripe_customers",
                    "arguments": {"fields": "id", "next_cursor": first["next_cursor"]},
                },
            )
        )
    assert rest["complete"] is True
    assert [c["id"] for c in first["result"] + rest["result"]] == expected


async def test_auto_paginate_budget_cut_resumes_exactly(sandbox: SandboxServer) -> None:
    expected = [c["id"] for c in sandbox.sandbox.store.list("customers")]
    seen: list[str] = []
    cursor = None
    async with runner_for(sandbox, result_budget=20_000) as runner:
        for _ in range(50):
            arguments: dict[str, Any] = {"next_cursor": cursor} if cursor else {}
            outcome = await runner.call(
                "auto_paginate", {"tool": "list_all_stripe_customers", "arguments": arguments}
            )
            data = sent(outcome)
            assert len(outcome.json_text()) <= 20_000
            seen += [c["id"] for c in data["result"]]
            if data["complete"]:
                break
            cursor = data["next_cursor"]
    assert seen == expected


async def test_auto_paginate_backs_off_on_a_429_mid_walk(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        calls = 0
        original = runner.run

        async def run_and_inject(spec: Any, arguments: Any, **options: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 3:
                sandbox.sandbox.faults.inject(
                    Fault(path="/proxy/customers", status=429, headers={"Retry-After": "1"})
                )
            return await original(spec, arguments, **options)

        runner.run = run_and_inject  # type: ignore[method-assign]
        started = time.monotonic()
        data = (
            await runner.call(
                "auto_paginate", {"tool": "list_all_stripe_customers", "arguments": {"fields": "id"}}
            )
        ).data
        waited = time.monotonic() - started
    assert data["complete"] is True and data["count"] == len(sandbox.sandbox.store.list("customers"))
    statuses = [r.status for r in sandbox.sandbox.requests if r.path == "/proxy/customers"]
    assert statuses.count(429) == 1 and waited >= 0.9


async def test_auto_paginate_refusals(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        with pytest.raises(InvalidArgumentsError, match="walks list tools"):
            await runner.call("auto_paginate", {"tool": "get_single_stripe_customer_by_id"})
        for bad in [{"max_items": 0}, {"max_items": 10_001}, {"max_pages": 0}, {"max_items": "5"}]:
            with pytest.raises(InvalidArgumentsError):
                await runner.call("auto_paginate", {"tool": "list_all_stripe_customers", **bad})
    async with runner_for(sandbox, read_only=True) as runner:
        with pytest.raises(ToolRefusedError, match="read-only"):
            await runner.call("auto_paginate", {"tool": "create_a_stripe_customer"})
    async with runner_for(sandbox, exclude_tools=("list_all_stripe_charges",)) as runner:
        with pytest.raises(ToolRefusedError, match="excluded"):
            await runner.call("auto_paginate", {"tool": "list_all_stripe_charges"})


async def test_convert_timestamp_tool(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        data = (
            await runner.call(
                "convert_timestamp", {"values": [1672531199, "2024-05-01", "nonsense"], "range": "this month"}
            )
        ).data
        assert data["conversions"][0]["iso"] == "2022-12-31T23:59:59Z"
        assert data["conversions"][1]["epoch"] == 1714521600
        assert "error" in data["conversions"][2]
        assert (
            data["range"]["gte_iso"].endswith("-01T00:00:00Z") and data["range"]["lte"] > data["range"]["gte"]
        )
        with pytest.raises(InvalidArgumentsError):
            await runner.call("convert_timestamp", {})
        with pytest.raises(InvalidArgumentsError):
            await runner.call("convert_timestamp", {"range": "whenever"})


async def test_over_mcp_progress_per_page_and_the_list_resource(sandbox: SandboxServer) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"auto_paginate", "convert_timestamp"} <= names
        result = await client.call_tool(
            "auto_paginate",
            {"tool": "list_all_stripe_charges", "arguments": {"fields": "id,amount"}, "max_items": 250},
            progress_callback=on_progress,
        )
        walked = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert walked["count"] == 250 and walked["complete"] is False
        assert [p[0] for p in progress] == [100, 200, 250] and "page 3" in (progress[-1][1] or "")
        listed = {r.uri for r in (await client.list_resources()).resources}
        assert "truto-stripe://list/list_all_stripe_customers" in listed
        read = await client.read_resource(
            "truto-stripe://list/list_all_stripe_charges?fields=id,amount&max_items=250"
        )
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        assert json.loads(content.text)["result"] == walked["result"]
        stamp = await client.read_resource("truto-stripe://timestamp/1672531199")
        assert json.loads(stamp.contents[0].text)["iso"] == "2022-12-31T23:59:59Z"  # type: ignore[union-attr]

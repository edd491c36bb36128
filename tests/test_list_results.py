"""What an agent reads of a list, through the real server process (stdio, the SDK's client)
and the sandbox on loopback: a cut page resumes at its first item not shown and says so
truthfully, results leave out what holds nothing, and a cursor that loops ends a walk."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, Fault, SandboxServer
from truto_stripe_mcp.sandbox.listing import envelope
from truto_stripe_mcp.serve.server import LEAN_RESULTS
from truto_stripe_mcp.shaping import compact_json, drop_empty

pytestmark = pytest.mark.anyio

LIST_CHARGES = "list_all_stripe_charges"


def read(result: types.CallToolResult) -> Any:
    """The one text block an agent reads, which is also the structured content."""
    assert not result.is_error, result.content
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    assert len(texts) == len(result.content) == 1, f"one block, not a note beside it: {texts[1:]}"
    data = json.loads(texts[0])
    assert result.structured_content == data
    return data


def empties(value: Any, path: str = "") -> list[str]:
    """Where an object holds a null, {} or []."""
    found = []
    if isinstance(value, dict):
        for name, item in value.items():
            if item is None or item == {} or item == []:
                found.append(f"{path}.{name}")
            found += empties(item, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += empties(item, f"{path}[{index}]")
    return found


# -- 1. a cut page resumes at its first item not shown -------------------------------------------


async def test_following_next_cursor_from_cut_pages_reads_every_charge_once(sandbox: SandboxServer) -> None:
    """The default budget cuts a page of 100 charges to a few dozen. That page's counts are the
    items shown, and its next_cursor resumes at the first item not shown: following the cursors
    of cut and uncut pages alike reads each of the 400 charges once, in order."""
    expected = [charge["id"] for charge in sandbox.sandbox.store.list("charges")]
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        first = read(await client.call_tool(LIST_CHARGES, {"limit": 100}))
        shown = len(first["result"])
        assert 0 < shown < 100, "the default budget cuts a page of 100 charges"
        assert first["result_count"] == shown and first["is_partial_response"] is True
        notice = first["truncated"]
        assert (notice["kept_items"], notice["omitted_items"]) == (shown, 100 - shown)
        assert notice["how_to_get_more"].startswith(
            "This response's next_cursor resumes at the first item not shown"
        )
        assert len(compact_json(first)) <= 25_000
        seen = [charge["id"] for charge in first["result"]]
        cursor, pages, cut_pages = first["next_cursor"], 1, 1
        # Cut pages (limit 100), small uncut ones (limit 7) and narrow ones (`fields`), mixed.
        shapes: list[dict[str, Any]] = [{"limit": 7}, {"limit": 100, "fields": "id,amount"}, {"limit": 100}]
        while cursor:
            arguments = {**shapes[pages % len(shapes)], "next_cursor": cursor}
            page = read(await client.call_tool(LIST_CHARGES, arguments))
            assert page["result_count"] == len(page["result"])
            cut_pages += "truncated" in page
            seen += [charge["id"] for charge in page["result"]]
            cursor, pages = page["next_cursor"], pages + 1
    assert cut_pages >= 3 and pages > cut_pages, "both kinds of page were followed"
    assert seen == expected, "every charge once, in order"


async def test_a_cut_search_resumes_at_its_first_item_not_shown(sandbox: SandboxServer) -> None:
    """Stripe's search pages with `next_page` (passed back as `page`); a cut search page's
    next_page resumes at its first item not shown, and `has_more` says more follow."""
    query = "amount>1000"
    expected = [c["id"] for c in sandbox.sandbox.store.list("charges") if c["amount"] > 1000]
    async with spawn_server(server_env(sandbox)) as spawned:
        pages: list[dict[str, Any]] = []
        token = None
        while token is not False:
            arguments = {"query": query, "limit": 100, **({"page": token} if token else {})}
            pages.append(read(await spawned.client.call_tool("search_a_stripe_charge", arguments)))
            token = pages[-1].get("next_page") or False
    first = pages[0]
    assert "truncated" in first and first["has_more"] is True and len(first["data"]) < 100
    assert len(expected) > 100 and [item["id"] for page in pages for item in page["data"]] == expected


# -- 2. lean results --------------------------------------------------------------------------------


async def test_results_leave_out_empty_fields_and_keep_every_value(sandbox: SandboxServer) -> None:
    """Nulls, {} and [] are left out of every object by default and the instructions say so once;
    `--keep-empty` keeps them. Every value that holds something is the same either way."""
    calls = [
        (LIST_CHARGES, {"limit": 15}),
        ("get_single_stripe_customer_by_id", {"id": JANE_CUSTOMER_ID}),
    ]
    async with spawn_server(server_env(sandbox)) as spawned:
        lean = [read(await spawned.client.call_tool(name, arguments)) for name, arguments in calls]
        instructions = spawned.client.instructions or ""
    async with spawn_server(server_env(sandbox), ["--keep-empty"]) as spawned:
        full = [read(await spawned.client.call_tool(name, arguments)) for name, arguments in calls]
        kept_instructions = spawned.client.instructions or ""
    assert instructions.count(LEAN_RESULTS) == 1 and LEAN_RESULTS not in kept_instructions
    charges, customer = lean
    assert empties(charges["result"]) == [] and empties(customer) == []
    assert charges["next_cursor"] and charges["prev_cursor"] is None, "the envelope's own keys stay"
    assert empties(full[0]["result"]) and empties(full[1]), "the sandbox has empty fields to leave out"
    assert lean == [drop_empty(answer) for answer in full], "nothing else changed"
    charge = charges["result"][0]
    assert charge["refunded"] is False and charge["amount_refunded"] == 0, "false and 0 are values"
    saved = [1 - len(compact_json(a)) / len(compact_json(b)) for a, b in zip(lean, full, strict=True)]
    assert saved[0] > 0.10 and saved[1] > 0.25, saved


# -- 7. a cursor that loops ends a walk ---------------------------------------------------------------


def charge_page(sandbox: SandboxServer, start: int, cursor: str) -> dict[str, Any]:
    """Truto's envelope around five of the sandbox's charges, with ``cursor`` as next_cursor."""
    return envelope(sandbox.sandbox.store.list("charges")[start : start + 5], cursor)


async def walk_charges(sandbox: SandboxServer) -> dict[str, Any]:
    async with spawn_server(server_env(sandbox)) as spawned:
        return read(
            await spawned.client.call_tool(
                "auto_paginate", {"tool": LIST_CHARGES, "arguments": {"limit": 5, "fields": "id"}}
            )
        )


async def test_a_cursor_that_comes_back_ends_the_walk(sandbox: SandboxServer) -> None:
    """Truto answers the second page with the cursor it gave for the first, again and again: the
    walk returns the ten distinct charges once and stops, saying why."""
    faults = sandbox.sandbox.faults
    faults.inject(Fault(path="/proxy/charges", status=200, body=charge_page(sandbox, 0, "loop")))
    faults.inject(Fault(path="/proxy/charges", status=200, body=charge_page(sandbox, 5, "loop"), times=None))
    walked = await walk_charges(sandbox)
    expected = [charge["id"] for charge in sandbox.sandbox.store.list("charges")[:10]]
    assert [item["id"] for item in walked["result"]] == expected
    assert walked["count"] == 10 and walked["pages"] == 2
    assert walked["complete"] is False and walked["next_cursor"] is None
    assert "Truto sent a next_cursor it had already sent" in walked["note"]


async def test_a_page_with_nothing_new_ends_the_walk(sandbox: SandboxServer) -> None:
    """Each page has a new cursor but the same five charges: the walk stops at the first page that
    brings nothing new."""
    faults = sandbox.sandbox.faults
    faults.inject(Fault(path="/proxy/charges", status=200, body=charge_page(sandbox, 0, "first")))
    faults.inject(
        Fault(path="/proxy/charges", status=200, body=charge_page(sandbox, 0, "second"), times=None)
    )
    walked = await walk_charges(sandbox)
    assert walked["count"] == 5 and len({item["id"] for item in walked["result"]}) == 5
    assert walked["pages"] == 2 and walked["complete"] is False and walked["next_cursor"] is None
    assert "a page brought only items already returned" in walked["note"]
    assert "5 items that an earlier page had already returned were left out" in walked["note"]

"""What an agent reads of a list, through the real server process (stdio, the SDK's client)
and the sandbox on loopback: a cursor that loops ends a walk."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import Fault, SandboxServer

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


# -- 7. a cursor that loops ends a walk ---------------------------------------------------------------


def charge_page(sandbox: SandboxServer, start: int, cursor: str) -> dict[str, Any]:
    """Truto's envelope around five of the sandbox's charges, with ``cursor`` as next_cursor."""
    items = sandbox.sandbox.store.list("charges")[start : start + 5]
    return {
        "result": items,
        "next_cursor": cursor,
        "prev_cursor": None,
        "result_count": len(items),
        "is_partial_response": False,
    }


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

"""tools/list over MCP: cursor pagination, list_changed on a catalog change (to every client
session), and the reviewed snapshot of what agents see."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.catalog.store import CatalogCache
from truto_stripe_mcp.sandbox import TOOLS, Fault, SandboxServer
from truto_stripe_mcp.serve.list_changed import ListChangedNotifier

pytestmark = pytest.mark.anyio
SNAPSHOT = Path(__file__).with_name("snapshots") / "tools_list.json"
SNAPSHOT_CONFIGURATIONS = {"default": [], "toolsets all": ["--toolsets", "all"], "discovery": ["--discovery"]}


async def test_cursor_pagination_returns_every_tool_once(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox)) as whole:
        everything = [tool.name for tool in (await whole.client.list_tools()).tools]
    async with spawn_server(server_env(sandbox, TRUTO_MCP_TOOLS_PAGE_SIZE="7")) as paged:
        names: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await paged.client.list_tools(cursor=cursor)
            pages += 1
            assert len(page.tools) <= 7
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert names == everything and pages == -(-len(everything) // 7)
        with pytest.raises(Exception, match="cursor"):
            await paged.client.list_tools(cursor="not-a-cursor")


async def test_list_changed_is_sent_when_the_catalog_changes(sandbox: SandboxServer) -> None:
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            seen.append(message.root.method if hasattr(message, "root") else message.method)

    env = server_env(sandbox, TRUTO_MCP_CATALOG_TTL="0.2", TRUTO_MCP_TOOLSETS="core")
    async with spawn_server(env, mode="legacy", message_handler=on_message) as spawned:
        client = spawned.client
        before = {tool.name for tool in (await client.list_tools()).tools}
        await anyio.sleep(0.3)
        await client.call_tool("list_all_stripe_customers", {"limit": 1})  # refresh: same set
        await anyio.sleep(0.1)
        assert "notifications/tools/list_changed" not in seen, "an unchanged catalog is not announced"

        smaller = [tool for tool in TOOLS if tool["resource"] != "disputes"]
        sandbox.sandbox.faults.inject(
            Fault(resource="tools", status=200, body={"result": smaller}, times=None)
        )
        await anyio.sleep(0.3)
        await client.call_tool("list_all_stripe_customers", {"limit": 1})
        with anyio.fail_after(5):
            while "notifications/tools/list_changed" not in seen:
                await anyio.sleep(0.05)
        after = {tool.name for tool in (await client.list_tools()).tools}
    assert "list_all_stripe_disputes" in before and "list_all_stripe_disputes" not in after


async def snapshot_of(sandbox: SandboxServer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, args in SNAPSHOT_CONFIGURATIONS.items():
        env = server_env(sandbox)
        env.pop("TRUTO_MCP_TOOLSETS")  # the snapshot shows each configuration as a user gets it
        async with spawn_server(env, args) as spawned:
            tools = (await spawned.client.list_tools()).tools
        out[name] = [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in tools]
    return out


async def test_tools_list_matches_the_reviewed_snapshot(sandbox: SandboxServer) -> None:
    """Any change to what agents see must be a reviewed diff of tests/snapshots/tools_list.json.

    Regenerate with: UPDATE_SNAPSHOTS=1 python -m pytest tests/test_tools_list.py
    """
    current = await snapshot_of(sandbox)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    for name in SNAPSHOT_CONFIGURATIONS:
        assert [t["name"] for t in current[name]] == [t["name"] for t in expected[name]], name
        for got, want in zip(current[name], expected[name], strict=True):
            assert got == want, f"{name}: {got['name']} changed; review and regenerate the snapshot"


class RecordingSession:
    """Stands in for the SDK's ServerSession: counts the list_changed notifications sent."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_tool_list_changed(self) -> None:
        self.sent += 1


def request_context(protocol: str, session_id: str | None, http: bool = True) -> SimpleNamespace:
    headers = {"mcp-session-id": session_id} if session_id else {}
    return SimpleNamespace(
        protocol_version=protocol,
        session=RecordingSession(),
        request=SimpleNamespace(headers=headers) if http else None,
    )


async def test_each_client_is_told_once_even_without_a_request() -> None:
    """Several HTTP sessions: a change (here a refresh; in a server, also a background one)
    reaches every session that can be reached outside its requests, once; a stateless request is
    told at its next request; a 2026-era client is never sent the handshake-era notification."""
    catalogs = [[TOOLS[0]], TOOLS[:2]]

    async def fetch() -> list[dict[str, Any]]:
        return catalogs.pop(0)

    cache = CatalogCache(fetch, ttl=300)
    notifier = ListChangedNotifier(cache)
    await cache.get()
    first, second = request_context("2025-06-18", "a"), request_context("2025-11-25", "b")
    stateless, modern = request_context("2025-06-18", None), request_context("2026-07-28", "m")
    stdio = request_context("2025-06-18", None, http=False)
    for ctx in (first, second, stateless, modern, stdio):
        await notifier.seen(ctx, cache.generation)
    await cache.get(refresh=True)  # the tool names change
    told = [ctx.session.sent for ctx in (first, second, stateless, modern, stdio)]
    assert told == [1, 1, 0, 0, 1]
    await notifier.seen(stateless, cache.generation)
    await notifier.seen(first, cache.generation)
    assert (stateless.session.sent, first.session.sent) == (1, 1), "told at its next request; nobody twice"

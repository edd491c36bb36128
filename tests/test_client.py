"""The Truto client and runner against the sandbox on loopback: catalog shapes and
pages, the catalog cache, and raw stdio hygiene of the served process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ACCOUNT_ID,
    INITIALIZE,
    SECRET_KEY,
    assert_no_leak,
    sandbox_config,
    server_env,
    subprocess_env,
)
from truto_stripe_mcp.catalog.spec import Catalog
from truto_stripe_mcp.catalog.store import CatalogCache
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import SandboxServer
from truto_stripe_mcp.upstream.client import TrutoClient

pytestmark = pytest.mark.anyio


def client_for(server: SandboxServer) -> TrutoClient:
    return TrutoClient(base_url=server.url, api_key=SECRET_KEY, integrated_account_id=ACCOUNT_ID)


@pytest.mark.parametrize("shape", ["result", "results", "bare"])
@pytest.mark.parametrize("page_size", [None, 7])
async def test_catalog_every_shape_and_pages(shape: str, page_size: int | None) -> None:
    with SandboxServer(sandbox_config()) as reference:
        async with client_for(reference) as client:
            expected = Catalog.from_entries(await client.fetch_tool_entries()).names()
    with SandboxServer(sandbox_config(catalog_shape=shape, catalog_page_size=page_size)) as server:
        async with client_for(server) as client:
            catalog = Catalog.from_entries(await client.fetch_tool_entries())
        pages = [r for r in server.sandbox.requests if r.path.endswith("/tools")]
    assert catalog.names() == expected and len(expected) > 400
    if page_size and shape != "bare":
        assert len(pages) == -(-len(expected) // page_size), "every catalog page must be fetched"


async def test_catalog_filters_reach_truto(sandbox: SandboxServer) -> None:
    async with client_for(sandbox) as client:
        catalog = Catalog.from_entries(
            await client.fetch_tool_entries({"methods": "read", "tags": "customers"})
        )
    assert catalog.specs and all(spec.method in {"list", "get"} for spec in catalog.specs)
    assert all("customers" in spec.tags for spec in catalog.specs)


def _entry(name: str) -> dict[str, Any]:
    """One raw tool entry, as the tools endpoint sends it."""
    return {"name": name, "description": "", "resource": "r", "method": "get"}


async def test_catalog_cache_ttl_and_refresh() -> None:
    loads: list[int] = []
    now = [0.0]

    async def fetch() -> list[dict[str, Any]]:
        loads.append(1)
        return [_entry(f"t{i}") for i in range(len(loads))]

    cache = CatalogCache(fetch, ttl=60, clock=lambda: now[0])
    assert len((await cache.get()).specs) == 1
    assert len((await cache.get()).specs) == 1, "served from memory inside the TTL"
    now[0] = 61
    assert len((await cache.get()).specs) == 2, "reloaded after the TTL"
    assert len((await cache.get(refresh=True)).specs) == 3, "refreshed on demand"
    assert cache.generation == 2, "each change of tool names is a new generation"


async def test_failed_refresh_keeps_the_last_catalog() -> None:
    calls = [0]

    async def fetch() -> list[dict[str, Any]]:
        calls[0] += 1
        if calls[0] > 1:
            raise RuntimeError("tools endpoint down")
        return [_entry("t0")]

    cache = CatalogCache(fetch, ttl=0)
    first = await cache.get()
    assert await cache.get() is first, "a failed refresh serves the previous catalog"
    assert calls[0] == 2
    assert cache.failure is not None and "tools endpoint down" in cache.failure.answer


async def test_one_connection_pool_is_reused(sandbox: SandboxServer) -> None:
    settings = load_settings(api_key=SECRET_KEY, integrated_account_id=ACCOUNT_ID, base_url=sandbox.url)
    async with client_for(sandbox) as client:
        runner = ToolRunner(settings, client)
        for _ in range(5):
            await runner.call("list_all_stripe_customers", {"limit": 1})
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1, "sequential calls must share one keep-alive connection"


def _raw_stdio_server(env: dict[str, str]) -> subprocess.Popen[str]:
    """The server on text pipes, for tests that speak JSON-RPC lines themselves."""
    return subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_stdout_carries_only_json_rpc(sandbox: SandboxServer) -> None:
    env = subprocess_env(server_env(sandbox))
    messages = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "list_all_stripe_customers", "arguments": {"limit": 2}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
    ]
    process = _raw_stdio_server(env)
    assert process.stdin and process.stdout
    answers: dict[int, Any] = {}
    lines: list[str] = []
    for message in messages:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:
            while message["id"] not in answers:
                line = process.stdout.readline()
                assert line, "server closed stdout early"
                lines.append(line)
                parsed = json.loads(line)  # every stdout line must be JSON-RPC
                assert parsed["jsonrpc"] == "2.0"
                if "id" in parsed:
                    answers[parsed["id"]] = parsed
    process.stdin.close()
    rest = process.stdout.read()
    assert process.wait(timeout=20) == 0
    stderr = process.stderr.read() if process.stderr else ""
    assert rest == ""
    assert_no_leak("".join(lines), stderr)
    assert "list_all_stripe_customers" in stderr, "logs go to stderr"
    listed = {tool["name"] for tool in answers[2]["result"]["tools"]}
    assert {"search_tools", "describe_tool", "call_tool", "list_all_stripe_customers"} <= listed
    assert answers[3]["result"]["isError"] is False
    assert answers[4]["result"]["isError"] is True


def test_sandbox_subcommand_serves_on_a_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/proxy/customers",
                    params={"integrated_account_id": "sandbox-stripe", "limit": 1},
                    headers={"Authorization": "Bearer sandbox-api-key"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert answer.status_code == 200 and len(answer.json()["result"]) == 1
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=10)
    assert stdout == "", "the sandbox logs to stderr, never stdout"


def test_stdio_server_stops_cleanly_on_sigterm(sandbox: SandboxServer) -> None:
    env = subprocess_env(server_env(sandbox))
    process = _raw_stdio_server(env)
    assert process.stdin and process.stdout
    process.stdin.write(json.dumps(INITIALIZE) + "\n")
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["id"] == 1
    process.send_signal(signal.SIGTERM)  # stdin stays open: only the signal can stop it
    assert process.wait(timeout=10) == 0
    assert "SIGTERM" in (process.stderr.read() if process.stderr else "")


def test_stdio_falls_back_when_stdin_is_a_regular_file(tmp_path: Any) -> None:
    """Pipes get the asyncio transport; anything else (here a file) the SDK's own.

    Only ``initialize`` is checked: it is answered inline, while a later request could lose
    the race with the end of the file (the session ends at EOF).
    """
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(INITIALIZE) + "\n")
    env = subprocess_env()
    with requests.open() as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "truto_stripe_mcp", "--sandbox"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0
    assert [answer["id"] for answer in answers] == [1]
    assert answers[0]["result"]["serverInfo"]["name"] == "truto-stripe-mcp"

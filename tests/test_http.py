"""Streamable HTTP: the real server process on a loopback port, the SDK's HTTP client,
the bearer token, DNS-rebinding checks, stateless mode and graceful shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import INITIALIZE, SECRET_KEY, assert_no_leak, server_env, subprocess_env
from truto_stripe_mcp.sandbox import Fault, SandboxServer

HTTP_TOKEN = "mcp-http-token-7c1d9e-not-for-truto"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(
    url: str,
    process: subprocess.Popen[Any],
    log: Callable[[], str],
    *,
    timeout: float = 20.0,
    request_timeout: float = 1.0,
) -> None:
    """Until the server answers at ``url``; a process that exits first fails with its ``log``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=request_timeout)
            return
        except httpx.TransportError:
            assert process.poll() is None, log()
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.1)


@contextmanager
def http_server(
    sandbox: SandboxServer, *args: str, token: str | None = HTTP_TOKEN, **extra_env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = subprocess_env(server_env(sandbox, **extra_env))
    if token:
        env["TRUTO_MCP_HTTP_TOKEN"] = token
    process = subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp", "--transport", "http", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    wait_until_serving(url, process, lambda: process.communicate()[1])
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
        assert_no_leak(stdout, stderr)
        assert HTTP_TOKEN not in stdout + stderr


def client_for(
    url: str, token: str | None = HTTP_TOKEN, *, terminate_on_close: bool = True, **options: Any
) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http_client = httpx2.AsyncClient(headers=headers, timeout=30)
    return Client(
        streamable_http_client(url, http_client=http_client, terminate_on_close=terminate_on_close), **options
    )


def test_every_request_needs_the_token(sandbox: SandboxServer) -> None:
    with http_server(sandbox) as (url, _):
        assert httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
        wrong = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
        right = httpx.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {HTTP_TOKEN}"}
        )
        assert right.status_code == 200


def test_dns_rebinding_checks_stay_on(sandbox: SandboxServer) -> None:
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {HTTP_TOKEN}"}
    with http_server(sandbox) as (url, _):
        assert httpx.post(url, json=INITIALIZE, headers={**auth, "Host": "evil.example"}).status_code == 421
        assert (
            httpx.post(url, json=INITIALIZE, headers={**auth, "Origin": "http://evil.example"}).status_code
            == 403
        )


@pytest.mark.anyio
async def test_tools_over_http_and_the_token_never_reaches_truto(sandbox: SandboxServer) -> None:
    with http_server(sandbox) as (url, _):
        async with client_for(url) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "list_all_stripe_customers" in names
            result = await client.call_tool("get_single_stripe_charge_by_id", {"id": "ch_sandbox_jane_1"})
            assert not result.is_error and result.structured_content["amount"] == 150000
    upstream = sandbox.sandbox.requests
    assert upstream and all(r.headers.get("authorization") == f"Bearer {SECRET_KEY}" for r in upstream)
    assert not any(HTTP_TOKEN in str(r.headers) + r.query_string for r in upstream)


@pytest.mark.anyio
async def test_stateless_mode_serves_independent_requests(sandbox: SandboxServer) -> None:
    with http_server(sandbox, "--stateless") as (url, _):
        for _ in range(2):
            async with client_for(url) as client:
                result = await client.call_tool("list_all_stripe_customers", {"limit": 1})
                assert not result.is_error
        raw = httpx.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {HTTP_TOKEN}"}
        )
        assert raw.status_code == 200 and "mcp-session-id" not in raw.headers


def test_public_bind_without_a_token_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", "--sandbox", "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=subprocess_env(),
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "TRUTO_MCP_HTTP_TOKEN" in done.stderr and "0.0.0.0" in done.stderr


def test_sigterm_lets_an_in_flight_call_finish(sandbox: SandboxServer) -> None:
    sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", delay=1.0))
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "list_all_stripe_customers", "arguments": {"limit": 1}},
    }
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {HTTP_TOKEN}", "mcp-protocol-version": "2025-06-18"}
    with http_server(sandbox, "--stateless") as (url, process):
        answer: list[httpx.Response] = []
        caller = threading.Thread(
            target=lambda: answer.append(httpx.post(url, json=call, headers=headers, timeout=20))
        )
        caller.start()
        time.sleep(0.4)  # the call is now waiting on the slow upstream
        process.send_signal(signal.SIGTERM)
        caller.join(timeout=20)
        assert process.wait(timeout=15) == 0, "a clean stop exits with 0"
    assert answer and answer[0].status_code == 200
    assert '"isError":false' in answer[0].text and "cus_" in answer[0].text, "the in-flight call finished"

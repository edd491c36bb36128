"""Streamable HTTP under misuse: the real server process on a loopback port, raw HTTP clients.

Two ``Authorization`` headers, the bearer scheme's case, the per-token session cap and idle
timeout, requests whose headers or body trickle in, clients that leave mid-request, and a
port that is already taken.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import INITIALIZE, assert_no_leak, server_env, subprocess_env
from tests.test_http import free_port, wait_until_serving
from truto_stripe_mcp.sandbox import Fault, SandboxServer

TOKEN = "mcp-http-token-limits-5b1e"
HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "authorization": f"Bearer {TOKEN}",
}
PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
SLOW_CALL = {
    "jsonrpc": "2.0",
    "id": 3,
    "method": "tools/call",
    "params": {"name": "list_all_stripe_customers", "arguments": {"limit": 1}},
}


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20) -> None:
        """Until the server's log holds ``text`` (it is written as the server gets there)."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            assert time.monotonic() < deadline, f"never logged {text!r}:\n{self.stderr()}"
            time.sleep(0.05)


@contextmanager
def serve(sandbox: SandboxServer, tmp_path: Path, **settings: str) -> Iterator[Served]:
    """``truto-stripe-mcp --transport http`` with a token and ``settings`` (environment variables)."""
    port = free_port()
    env = subprocess_env(server_env(sandbox, TRUTO_MCP_HTTP_TOKEN=TOKEN, **settings))
    stderr_path = tmp_path / "server-stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "truto_stripe_mcp", "--transport", "http", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    served = Served(url, port, process, stderr_path)
    wait_until_serving(url, process, served.stderr, timeout=30, request_timeout=2)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert_no_leak(served.stderr())
        assert TOKEN not in served.stderr()


def _open_session(url: str) -> str:
    opened = httpx.post(url, json=INITIALIZE, headers=HEADERS, timeout=30)
    assert opened.status_code == 200, opened.text
    return opened.headers["mcp-session-id"]


def _in_session(session_id: str) -> dict[str, str]:
    return {**HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}


def _ping(url: str, session_id: str) -> httpx.Response:
    return httpx.post(url, json=PING, headers=_in_session(session_id), timeout=30)


# -- the bearer token ----------------------------------------------------------------------------


def test_two_authorization_headers_are_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    with serve(sandbox, tmp_path) as served:
        headers = [
            *((name, value) for name, value in HEADERS.items() if name != "authorization"),
            ("authorization", "Bearer not-the-token"),
            ("authorization", f"Bearer {TOKEN}"),
        ]
        answer = httpx.post(served.url, json=INITIALIZE, headers=headers, timeout=30)
        assert answer.status_code == 400
        assert "more than one Authorization header" in answer.json()["message"]
        both_right = [
            *headers[:-2],
            ("authorization", f"Bearer {TOKEN}"),
            ("authorization", f"Bearer {TOKEN}"),
        ]
        assert httpx.post(served.url, json=INITIALIZE, headers=both_right, timeout=30).status_code == 400


def test_the_bearer_scheme_is_case_insensitive(sandbox: SandboxServer, tmp_path: Path) -> None:
    with serve(sandbox, tmp_path) as served:
        for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
            headers = {**HEADERS, "authorization": f"{scheme} {TOKEN}"}
            answer = httpx.post(served.url, json=INITIALIZE, headers=headers, timeout=30)
            assert answer.status_code == 200, (scheme, answer.text)
        wrong = httpx.post(
            served.url, json=INITIALIZE, headers={**HEADERS, "authorization": f"Basic {TOKEN}"}, timeout=30
        )
        assert wrong.status_code == 401


# -- sessions ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_flood_of_initialize_cannot_lock_out_new_clients(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """At the cap, a new session takes the place of the least recently used idle one; the
    client of a session closed that way is told why, and a new client still gets in."""
    with serve(sandbox, tmp_path, TRUTO_MCP_HTTP_MAX_SESSIONS="3") as served:
        first = _open_session(served.url)
        kept = [_open_session(served.url) for _ in range(2)]
        # At the cap, a request without a session that is not an initialize closes nothing.
        stray = httpx.post(served.url, json={**PING, "method": "tools/list"}, headers=HEADERS, timeout=30)
        assert stray.status_code == 400
        assert [_ping(served.url, session).status_code for session in [first, *kept]] == [200] * 3
        flood = [_open_session(served.url) for _ in range(30)]
        closed = _ping(served.url, first)
        assert closed.status_code == 404
        message = closed.json()["error"]["message"]
        assert "closed to make room" in message and "TRUTO_MCP_HTTP_MAX_SESSIONS" in message
        assert "initialize" in message
        assert _ping(served.url, flood[-1]).status_code == 200
        assert [_ping(served.url, session).status_code for session in flood[:-3]] == [404] * 27
        http_client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with Client(streamable_http_client(served.url, http_client=http_client)) as client:
            tools = (await client.list_tools()).tools
            assert any(tool.name == "list_all_stripe_customers" for tool in tools)
        assert "Traceback" not in served.stderr()


def test_a_session_with_a_call_in_flight_is_never_closed_for_room(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """When every session of the token has a call under way, a new session is refused with 503
    and Retry-After, and the calls finish."""
    sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", delay=3.0, times=2))
    with serve(sandbox, tmp_path, TRUTO_MCP_HTTP_MAX_SESSIONS="2") as served:
        sessions = [_open_session(served.url) for _ in range(2)]
        answers: list[httpx.Response] = []

        def call(session_id: str) -> None:
            answers.append(
                httpx.post(served.url, json=SLOW_CALL, headers=_in_session(session_id), timeout=60)
            )

        callers = [threading.Thread(target=call, args=(session,)) for session in sessions]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 30
        while sum(request.path == "/proxy/customers" for request in sandbox.sandbox.requests) < 2:
            assert time.monotonic() < deadline, "the two calls never reached the sandbox"
            time.sleep(0.02)
        refused = httpx.post(served.url, json=INITIALIZE, headers=HEADERS, timeout=30)
        for caller in callers:
            caller.join(timeout=60)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        message = refused.json()["error"]["message"]
        assert "Too many open sessions" in message and "call in progress" in message
        assert [answer.status_code for answer in answers] == [200, 200]
        assert all('"isError":false' in answer.text for answer in answers)
        assert _open_session(served.url), "once a call is done, its session can make room again"


def test_idle_sessions_are_closed(sandbox: SandboxServer, tmp_path: Path) -> None:
    with serve(sandbox, tmp_path, TRUTO_MCP_HTTP_SESSION_IDLE="1") as served:
        session = _open_session(served.url)
        deadline = time.monotonic() + 30
        while True:
            time.sleep(2)  # longer than the idle timeout: each ping is activity that restarts it
            if _ping(served.url, session).status_code == 404:
                break
            assert time.monotonic() < deadline, "the idle session was never closed"


# -- slow and departing clients -------------------------------------------------------------------


def _raw(served: Served, data: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    connection.sendall(data)
    return connection


def _until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's own 30 s timeout
    fails the test when it never does)."""
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received


def _request_head(served: Served, length: int) -> bytes:
    head = f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{served.port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    return (head + f"content-length: {length}\r\n\r\n").encode()


def test_slow_headers_and_bodies_time_out(sandbox: SandboxServer, tmp_path: Path) -> None:
    with serve(sandbox, tmp_path, TRUTO_MCP_HTTP_READ_TIMEOUT="1") as served:
        body = json.dumps(INITIALIZE).encode()
        for partial in (
            b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n",
            _request_head(served, len(body)) + body[:5],
        ):
            with _raw(served, partial) as connection:
                answer = _until_closed(connection)
                assert answer.startswith(b"HTTP/1.1 408 "), answer
                assert b"TRUTO_MCP_HTTP_READ_TIMEOUT" in answer
        # An idle connection gets the same: nothing sent at all.
        with _raw(served, b"") as connection:
            assert _until_closed(connection).startswith(b"HTTP/1.1 408 ")
        assert httpx.post(served.url, json=INITIALIZE, headers=HEADERS, timeout=30).status_code == 200


def test_a_client_that_leaves_is_one_info_line(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", delay=1.0))
    with serve(sandbox, tmp_path, TRUTO_MCP_STATELESS="true") as served:
        body = json.dumps(SLOW_CALL).encode()
        headers = _request_head(served, len(body)).replace(
            b"\r\n\r\n", b"\r\nmcp-protocol-version: 2025-06-18\r\n\r\n"
        )
        with _raw(served, headers + body[:10]):
            pass  # gone before the body is complete
        served.wait_for_log("disconnected before sending the whole request")
        with _raw(served, headers + body) as connection:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200 ")  # the answer has begun
        served.wait_for_log("disconnected before its answer was complete")
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=30)
    log = served.stderr()
    assert "Traceback" not in log and " ERROR " not in log, log
    left = [line for line in log.splitlines() if "disconnected before" in line]
    assert len(left) == 2 and all(" INFO " in line for line in left), left


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "truto_stripe_mcp",
                "--sandbox",
                "--transport",
                "http",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=subprocess_env(),
        )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"Port {port} is already in use on 127.0.0.1" in lines[0] and "--port" in lines[0]
    assert "serving" not in done.stderr

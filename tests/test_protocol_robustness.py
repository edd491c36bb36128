"""The protocol itself under abuse, over stdio: malformed lines, JSON that is not JSON-RPC,
unknown methods, calls before initialize, huge lines and a flood of cancellations.

A raw JSON-RPC client on the real server's pipes (no SDK client, which would refuse to send
most of this): the server answers with the JSON-RPC error the specification prescribes where
there is one, and keeps serving the next well-formed request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest

from tests.conftest import INITIALIZE, assert_no_leak, server_env, subprocess_env
from truto_stripe_mcp.sandbox import Fault, SandboxServer
from truto_stripe_mcp.serve.stdio import LINE_LIMIT

pytestmark = pytest.mark.anyio

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601


class RawSession:
    """``python -m truto_stripe_mcp`` on pipes, spoken to line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.unmatched: list[dict[str, Any]] = []  # messages read while waiting for another

    async def send(self, message: dict[str, Any] | bytes | str) -> None:
        line = (
            message
            if isinstance(message, bytes)
            else message.encode()
            if isinstance(message, str)
            else json.dumps(message).encode()
        )
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        await self.process.stdin.drain()

    async def read(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "the server closed stdout"
        message = json.loads(line)  # every line on stdout is JSON-RPC
        assert message["jsonrpc"] == "2.0"
        return message

    async def answer(self, request_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The response to ``request_id`` (null for errors about unreadable lines)."""
        for i, message in enumerate(self.unmatched):
            if "method" not in message and message.get("id") == request_id:
                return self.unmatched.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = await self.read(max(0.1, deadline - time.monotonic()))
            if "method" not in message and message.get("id") == request_id:
                return message
            self.unmatched.append(message)

    async def request(
        self, request_id: Any, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        await self.send(
            {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})}
        )
        return await self.answer(request_id)

    async def initialize(self) -> None:
        assert "result" in await self.request(1, "initialize", INITIALIZE["params"])
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def close(self) -> str:
        """End the session by closing stdin; the server must exit 0. Returns its stderr."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        assert await asyncio.wait_for(self.process.wait(), 20) == 0
        return (await self.process.stderr.read()).decode(errors="replace")


async def raw_session(sandbox: SandboxServer) -> RawSession:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "truto_stripe_mcp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(server_env(sandbox)),
        limit=LINE_LIMIT,
    )
    return RawSession(process)


def error_of(message: dict[str, Any]) -> tuple[int, str]:
    assert "result" not in message, message
    return message["error"]["code"], message["error"]["message"]


async def test_malformed_and_non_json_rpc_lines_get_json_rpc_errors(sandbox: SandboxServer) -> None:
    session = await raw_session(sandbox)
    await session.initialize()
    parse_errors: list[bytes] = [
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 5, "method": "ping"',  # cut short
        b"\xff\xfe\x00 binary",  # not UTF-8
        b"nul\x00byte",
        b"'single quotes'",
        b"{" * 10_000,  # deep nesting, unterminated
    ]
    for line in parse_errors:
        await session.send(line)
        code, message = error_of(await session.answer(None))
        assert code == PARSE_ERROR and message.startswith("Parse error"), (line[:40], message)

    # Valid JSON nested deeper than any parser here recurses: refused, not a crash.
    await session.send(b"[" * 100_000 + b"]" * 100_000)
    code, message = error_of(await session.answer(None))
    assert code == INVALID_REQUEST and "nested too deeply" in message
    deep: Any = "bottom"
    for _ in range(250):  # readable by Python's json, deeper than the SDK's parser goes
        deep = {"a": deep}
    call = {"name": "convert_timestamp", "arguments": {"values": [deep]}}
    await session.send({"jsonrpc": "2.0", "id": "deep", "method": "tools/call", "params": call})
    code, message = error_of(await session.answer("deep"))
    assert code == INVALID_REQUEST and "nested too deeply" in message

    invalid: list[tuple[Any, Any, str]] = [  # (line, id echoed, words in the message)
        ([], None, "batches"),
        ([{"jsonrpc": "2.0", "id": 9, "method": "ping"}], None, "batches"),
        (42, None, "object"),
        ("a string", None, "object"),
        (None, None, "object"),
        ({"foo": 1}, None, '"jsonrpc"'),
        ({"jsonrpc": "1.0", "id": 7, "method": "ping"}, 7, '"jsonrpc"'),
        ({"jsonrpc": "2.0", "id": 8, "method": 12}, 8, '"method"'),
        ({"jsonrpc": "2.0", "id": "s-1", "method": "tools/list", "params": [1, 2]}, "s-1", '"params"'),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None, "null"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None, '"id"'),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None, '"id"'),
        ({"jsonrpc": "2.0", "id": {"nested": 1}, "method": "ping"}, None, '"id"'),
        ({"jsonrpc": "2.0"}, None, '"method"'),
    ]
    for document, echoed, words in invalid:
        await session.send(json.dumps(document))
        code, message = error_of(await session.answer(echoed))
        assert code == INVALID_REQUEST and words in message, (document, message)

    # Blank lines are no message at all; the next request is answered as usual.
    await session.send(b"")
    await session.send(b"   ")
    assert (await session.request(20, "ping"))["result"] == {}
    code, _ = error_of(await session.request(21, "no/such/method"))
    assert code == METHOD_NOT_FOUND
    code, _ = error_of(await session.request("x", "tools/call", {"name": 5}))
    assert code == -32602  # invalid params, from the SDK's own validation
    listed = await session.request(22, "tools/list")
    assert {"search_tools", "describe_tool", "call_tool"} <= {
        tool["name"] for tool in listed["result"]["tools"]
    }
    stderr = await session.close()
    assert not session.unmatched, session.unmatched
    assert "Traceback" not in stderr
    assert_no_leak(stderr)


async def test_requests_before_initialize_are_refused_and_the_session_still_starts(
    sandbox: SandboxServer,
) -> None:
    session = await raw_session(sandbox)
    call = {"name": "list_all_stripe_customers", "arguments": {"limit": 1}}
    code, _ = error_of(await session.request(2, "tools/call", call))
    assert code == -32602  # the SDK's answer before the handshake: no tool ran
    code, _ = error_of(await session.request(3, "resources/nope"))
    assert code == METHOD_NOT_FOUND
    assert (await session.request(4, "ping"))["result"] == {}  # ping is allowed before initialize
    assert not [r for r in sandbox.sandbox.requests if r.path.startswith("/proxy/")], "nothing reached Stripe"
    await session.initialize()
    answer = await session.request(5, "tools/call", call)
    assert answer["result"]["isError"] is False
    await session.close()


async def test_huge_lines(sandbox: SandboxServer) -> None:
    """10 MB of arguments is refused politely; a line over the framing limit is skipped whole."""
    session = await raw_session(sandbox)
    await session.initialize()
    big = {"name": "convert_timestamp", "arguments": {"range": "x" * 10_000_000}}
    result = (await session.request(2, "tools/call", big))["result"]
    assert result["isError"] is True and "byte limit" in result["content"][0]["text"]
    # Longer than the limit: the server drops it as it reads (no 40 MB buffer), says so, and
    # the request on the next line is served.
    oversized = (
        b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":"'
        + b"y" * (LINE_LIMIT + 8_000_000)
        + b'"}}'
    )
    await session.send(oversized)
    code, message = error_of(await session.answer(None, timeout=30))
    assert code == INVALID_REQUEST and "longer than" in message
    assert (await session.request(4, "ping"))["result"] == {}
    await session.close()


async def test_a_flood_of_cancellations_for_calls_in_flight(sandbox: SandboxServer) -> None:
    """40 slow calls, each cancelled, plus cancellations for ids that do not exist: no cancelled
    call is answered with a result, and the server keeps serving at once."""
    slow = 6.0  # far longer than a ping may take even on a loaded machine, so no timing is fine-tuned
    sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", delay=slow, times=None))
    session = await raw_session(sandbox)
    await session.initialize()
    ids = list(range(100, 140))
    for request_id in ids:
        await session.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "list_all_stripe_customers", "arguments": {"limit": 1}},
            }
        )
    await asyncio.sleep(0.3)  # the calls are now waiting on the slow upstream
    cancel = "notifications/cancelled"
    for request_id in [*ids, *ids[:10], 999, "never-sent"]:  # duplicates and unknown ids too
        await session.send(
            {"jsonrpc": "2.0", "method": cancel, "params": {"requestId": request_id, "reason": "flood"}}
        )
    await session.send({"jsonrpc": "2.0", "method": cancel, "params": {}})  # malformed: no requestId
    await session.send({"jsonrpc": "2.0", "method": cancel})
    started = time.monotonic()
    assert (await session.request(200, "ping"))["result"] == {}
    assert time.monotonic() - started < slow / 2, "ping must not wait for the cancelled calls"
    sandbox.sandbox.faults.clear()
    answer = await session.request(
        201, "tools/call", {"name": "list_all_stripe_customers", "arguments": {"limit": 1}}
    )
    assert answer["result"]["isError"] is False
    await asyncio.sleep(1.5)  # any straggling answer to a cancelled call would have arrived
    stderr = await session.close()
    for message in session.unmatched:
        if message.get("id") in ids:
            assert "result" not in message, f"cancelled call {message['id']} was answered with a result"
    upstream = [r for r in sandbox.sandbox.requests if r.path == "/proxy/customers"]
    assert len(upstream) <= len(ids) + 1, "a cancelled call must not be retried"
    assert "Traceback" not in stderr

"""Promises that hold across processes and restarts: real server processes over stdio, driven
by the MCP SDK's client, sharing one SQLite file or one real Redis database, against the
loopback sandbox (which keeps Stripe's idempotency and counts every refund)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp_types import CallToolResult

from tests.conftest import INITIALIZE, runner_for, server_env, spawn_server, subprocess_env
from tests.state.conftest import RedisServer
from truto_stripe_mcp.sandbox import SandboxServer
from truto_stripe_mcp.sandbox.faults import Fault

pytestmark = pytest.mark.anyio

CHARGE = "ch_sandbox_jane_1"
REFUND = "create_a_stripe_refund"


def refunds(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.sandbox.store.list("refunds", charge=CHARGE)


def refund_posts(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests_to("refunds", "POST") if r.route == "proxy"]


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@asynccontextmanager
async def servers(count: int, env: dict[str, str]) -> AsyncIterator[list[Any]]:
    """``count`` server processes with the same environment (so the same state), all running."""
    async with AsyncExitStack() as stack:
        yield [(await stack.enter_async_context(spawn_server(env))).client for _ in range(count)]


async def refund_in_flight(env: dict[str, str], sandbox: SandboxServer) -> subprocess.Popen[str]:
    """A server process (bare JSON-RPC over its pipes) whose refund has reached the sandbox,
    its answer delayed by the test's fault: ready to be stopped mid-call."""
    process = subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    for message in (
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": REFUND, "arguments": {"charge": CHARGE, "amount": 650}},
        },
    ):
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
    assert json.loads(process.stdout.readline())["id"] == 1
    while not refund_posts(sandbox):
        await anyio.sleep(0.02)  # the refund is on its way, its answer delayed
    return process


async def test_a_refund_repeated_on_another_server_is_replayed_not_redone(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state)
    async with servers(2, env) as (desktop, cursor):
        first = await desktop.call_tool(REFUND, {"charge": CHARGE, "amount": 1200})
        again = await cursor.call_tool(REFUND, {"amount": 1200, "charge": CHARGE})
    assert not first.is_error and not again.is_error, text_of(again)
    assert first.structured_content["id"] == again.structured_content["id"]
    assert len(refunds(sandbox)) == 1
    assert len({post.headers["idempotency-key"] for post in refund_posts(sandbox)}) == 1
    assert "Replay: An identical create_a_stripe_refund call was made" in text_of(again)


async def test_a_lost_refund_repeated_after_a_restart_is_not_done_twice(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state, TRUTO_MCP_MAX_ATTEMPTS="2")
    # Stripe commits the refund, and every answer is lost on the way back.
    sandbox.sandbox.faults.inject(
        Fault(method="POST", path="/proxy/refunds", drop_after_commit=True, times=2)
    )
    async with spawn_server(env) as before:
        lost = await before.client.call_tool(REFUND, {"charge": CHARGE, "amount": 900})
    assert lost.is_error and len(refunds(sandbox)) == 1
    async with spawn_server(env) as after_restart:
        repeated = await after_restart.client.call_tool(REFUND, {"charge": CHARGE, "amount": 900})
    assert not repeated.is_error, text_of(repeated)
    assert len(refunds(sandbox)) == 1, "the restarted server reused the key: Stripe replayed"
    assert repeated.structured_content["id"] == refunds(sandbox)[0]["id"]
    assert len({post.headers["idempotency-key"] for post in refund_posts(sandbox)}) == 1


@pytest.mark.parametrize("count", [2, 3])
async def test_identical_refunds_in_flight_at_once_make_one_refund(
    sandbox: SandboxServer, shared_state: str, count: int
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state)
    results: list[CallToolResult] = []
    async with servers(count, env) as clients:
        await clients[0].call_tool("list_all_stripe_charges", {"limit": 1})  # all warmed up
        sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", delay=1.5))

        async def refund(client: Any) -> None:
            results.append(await client.call_tool(REFUND, {"charge": CHARGE, "amount": 300}))

        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(refund, client)
    assert all(not result.is_error for result in results), [text_of(r) for r in results]
    assert len(refunds(sandbox)) == 1, "one refund, however many servers asked at once"
    assert len({result.structured_content["id"] for result in results}) == 1, "everyone got its result"
    assert len({post.headers["idempotency-key"] for post in refund_posts(sandbox)}) == 1
    waited = [text_of(r) for r in results if "was in progress, so this call waited for it" in text_of(r)]
    assert len(waited) == count - 1


async def test_a_server_stopped_mid_refund_lets_the_repeat_go_on_at_once(
    sandbox: SandboxServer, shared_state: str
) -> None:
    """SIGTERM (a client closing its server) mid-call: the server records the write as
    possibly done as it stops, so the repeat on the next server replays at once instead of
    waiting for the stopped one's lease."""
    env = {**subprocess_env(), **server_env(sandbox, TRUTO_MCP_STATE=shared_state)}
    sandbox.sandbox.faults.inject(
        Fault(method="POST", path="/proxy/refunds", delay=1.5, commit_before_delay=True)
    )
    process = await refund_in_flight(env, sandbox)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    async with spawn_server(server_env(sandbox, TRUTO_MCP_STATE=shared_state)) as restarted:
        with anyio.fail_after(10):  # not the 15 s lease of a server that died without a word
            repeated = await restarted.client.call_tool(REFUND, {"charge": CHARGE, "amount": 650})
    assert not repeated.is_error, text_of(repeated)
    assert len(refunds(sandbox)) == 1
    assert len({post.headers["idempotency-key"] for post in refund_posts(sandbox)}) == 1


async def test_a_server_killed_mid_refund_lets_the_repeat_take_over_with_the_same_key(
    sandbox: SandboxServer, shared_state: str
) -> None:
    """SIGKILL mid-call: nothing is recorded, the lease stops being renewed; the repeat on a
    new server waits it out (well inside its own deadline), then sends with the same key, so
    Stripe replays the refund the killed server committed."""
    env = {**subprocess_env(), **server_env(sandbox, TRUTO_MCP_STATE=shared_state)}
    sandbox.sandbox.faults.inject(
        Fault(method="POST", path="/proxy/refunds", delay=1.5, commit_before_delay=True)
    )
    process = await refund_in_flight(env, sandbox)
    process.kill()
    process.wait(timeout=15)
    async with spawn_server(server_env(sandbox, TRUTO_MCP_STATE=shared_state)) as restarted:
        repeated = await restarted.client.call_tool(REFUND, {"charge": CHARGE, "amount": 650})
    assert not repeated.is_error, text_of(repeated)  # before: "in progress" until a 90 s lease ran out
    assert len(refunds(sandbox)) == 1
    assert len({post.headers["idempotency-key"] for post in refund_posts(sandbox)}) == 1
    assert "Replay" in text_of(repeated)


async def test_a_declined_refund_can_be_tried_again_with_a_fresh_key(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state)
    sandbox.sandbox.faults.inject(
        Fault(
            method="POST", path="/proxy/refunds", status=402, remote=True, message="Your card was declined."
        )
    )
    async with servers(2, env) as (one, other):
        declined = await one.call_tool(REFUND, {"charge": CHARGE, "amount": 400})
        retried = await other.call_tool(REFUND, {"charge": CHARGE, "amount": 400})
    assert declined.is_error and "declined" in text_of(declined)
    assert not retried.is_error, text_of(retried)
    keys = [post.headers["idempotency-key"] for post in refund_posts(sandbox)]
    assert len(keys) == 2 and keys[0] != keys[1], "a definite refusal does not pin its key"
    assert len(refunds(sandbox)) == 1


async def test_an_approval_token_from_one_server_works_on_another_once(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(
        sandbox, TRUTO_MCP_STATE=shared_state, TRUTO_MCP_CONFIRM="destructive", TRUTO_MCP_APPROVAL="token"
    )
    arguments = {"charge": CHARGE, "amount": 800}
    async with AsyncExitStack() as stack:
        one = (await stack.enter_async_context(spawn_server(env, mode="legacy"))).client
        other = (await stack.enter_async_context(spawn_server(env, mode="legacy"))).client
        asked = await one.call_tool(REFUND, arguments)
        token = asked.structured_content["error"]["confirmation_token"]
        done = await other.call_tool(REFUND, {**arguments, "confirmation_token": token})
        reused = await one.call_tool(REFUND, {**arguments, "confirmation_token": token})
    assert not done.is_error, text_of(done)
    assert reused.is_error and "already used" in text_of(reused)
    assert len(refunds(sandbox)) == 1


async def test_replicas_share_one_rate_limit_budget(sandbox: SandboxServer, shared_state: str) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state)
    failures: list[str] = []
    async with servers(3, env) as clients:
        for client in clients:  # each has its catalog: the burst below is only tool calls
            await client.list_tools()
        sandbox.sandbox.configure(rate_limit=10, rate_window=1.0)  # from now on: 10 requests a second
        sandbox.sandbox.reset_requests()

        async def reads(client: Any) -> None:
            for _ in range(10):
                result = await client.call_tool(
                    "get_single_stripe_customer_by_id", {"id": "cus_sandbox_jane"}
                )
                if result.is_error:
                    failures.append(text_of(result))

        async with anyio.create_task_group() as group:
            for client in clients:
                for _ in range(4):
                    group.start_soon(reads, client)
    proxied = [r for r in sandbox.sandbox.requests if r.route == "proxy"]
    limited = sum(r.status == 429 for r in proxied)
    assert failures == []
    assert len(proxied) - limited == 120
    assert limited <= 6, f"{limited} of {len(proxied)} upstream requests met a 429"


async def test_redis_going_away_refuses_writes_and_keeps_reads(
    sandbox: SandboxServer, own_redis: RedisServer
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=own_redis.url(1))
    async with spawn_server(env) as spawned:
        assert not (await spawned.client.call_tool("list_all_stripe_charges", {"limit": 1})).is_error
        own_redis.stop()
        read = await spawned.client.call_tool("list_all_stripe_charges", {"limit": 1})
        write = await spawned.client.call_tool(REFUND, {"charge": CHARGE, "amount": 100})
    assert not read.is_error, text_of(read)
    assert write.is_error and text_of(write).startswith("Not sent: the shared state (redis://127.0.0.1:")
    assert refund_posts(sandbox) == []


async def test_state_that_cannot_be_reached_stops_start_up_with_a_clear_error(sandbox: SandboxServer) -> None:
    env = {**subprocess_env(), **server_env(sandbox, TRUTO_MCP_STATE="redis://127.0.0.1:1/0")}
    finished = subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", "call", "list_all_stripe_charges"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "the shared state (redis://127.0.0.1:1/0) cannot be used" in finished.stderr
    assert "--state or TRUTO_MCP_STATE" in finished.stderr
    assert sandbox.sandbox.requests_to("charges") == []


async def test_identical_refunds_in_flight_in_one_process_make_one_refund(sandbox: SandboxServer) -> None:
    """The same promise inside one process, with the ``memory`` state a bare runner uses."""
    sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", delay=1.0))
    outcomes: list[Any] = []
    async with runner_for(sandbox, confirm="none") as runner:

        async def refund() -> None:
            outcomes.append(await runner.call(REFUND, {"charge": CHARGE, "amount": 250}))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(refund)
    assert len(refunds(sandbox)) == 1
    assert len({outcome.data["id"] for outcome in outcomes}) == 1
    assert sum("waited for it" in " ".join(outcome.notes) for outcome in outcomes) == 3


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", *args],
        env={**subprocess_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_doctor_shows_the_state_and_state_clear_forgets_it(
    sandbox: SandboxServer, shared_state: str
) -> None:
    env = server_env(sandbox, TRUTO_MCP_STATE=shared_state)
    arguments = json.dumps({"charge": CHARGE, "amount": 150})
    assert _cli("call", REFUND, "--args", arguments, env=env).returncode == 0
    where = "sqlite " if shared_state.startswith("sqlite") else "redis redis://127.0.0.1:"
    doctor = _cli("doctor", env=env)
    assert f"[ok] shared state: {where}" in doctor.stdout and "idempotency keys held: 1" in doctor.stdout
    shown = _cli("state", env=env)
    assert "idempotency keys held: 1" in shown.stdout, shown.stdout + shown.stderr
    cleared = _cli("state", "clear", env=env)
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    assert "idempotency keys held: 0" in _cli("state", env=env).stdout
    assert _cli("call", REFUND, "--args", arguments, env=env).returncode == 0
    assert len(refunds(sandbox)) == 2, "after a clear, the identical call is a new one"

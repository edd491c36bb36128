"""The processes a replicas run talks to: a throwaway redis-server, and N servers over one transport.

Kept apart from :mod:`bench.replicas` (the method and the figures) because starting, warming
and calling servers over two transports is plumbing the reader of the figures need not read.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx
from mcp import Client, StdioServerParameters

from bench._common import (
    GET_TOOL,
    JANE_CUSTOMER_ID,
    PROTOCOL_VERSION,
    REPO_ROOT,
    bench_cache_dir,
    free_port,
    initialize_request,
    server_env,
    stop,
    wait_for_port,
)

READ_ARGS = {"id": JANE_CUSTOMER_ID}
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": PROTOCOL_VERSION,
}

Call = Callable[[], Awaitable[bool]]
"""One read on one replica: True when it returned Jane, False on any error."""


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port: no persistence, its files in a temp dir."""

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="truto-mcp-bench-redis-")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(
            [*argv, "--dir", self._dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._next_db = 0
        try:
            wait_for_port(self.port, self._proc, "redis-server")
        except BaseException:
            self.close()
            raise

    def fresh_url(self) -> str:
        """A database nobody used in this run (emptied first): no window or key carries over."""
        import redis

        self._next_db = self._next_db % 15 + 1
        with redis.Redis(port=self.port, db=self._next_db) as client:
            client.flushdb()
        return f"redis://127.0.0.1:{self.port}/{self._next_db}"

    def close(self) -> None:
        stop(self._proc)
        shutil.rmtree(self._dir, ignore_errors=True)


def state_for(backend: str, label: str, redis: RedisServer | None) -> str:
    """A fresh ``--state`` per run: its own SQLite file in the bench's temp dir, or Redis DB."""
    if backend == "sqlite":
        return f"sqlite:///{bench_cache_dir() / f'replicas-{label}.sqlite3'}"
    if backend == "redis":
        assert redis is not None
        return redis.fresh_url()
    return "memory"


def is_jane(result: dict[str, Any]) -> bool:
    content = result.get("content") or [{}]
    return not result.get("isError") and f'"id":"{JANE_CUSTOMER_ID}"' in str(content[0].get("text", ""))


# -- the replicas ----------------------------------------------------------------------


@asynccontextmanager
async def http_replicas(n: int, url: str, state: str) -> AsyncIterator[list[Call]]:
    """N ``--transport http --stateless`` servers (started together), warmed, one call each."""
    token = secrets.token_urlsafe(24)
    env = server_env(url, {"TRUTO_MCP_HTTP_TOKEN": token, "TRUTO_MCP_STATE": state})
    ports = [free_port() for _ in range(n)]
    argv = [sys.executable, "-m", "truto_stripe_mcp", "--transport", "http", "--stateless", "--port"]
    procs = [
        subprocess.Popen([*argv, str(port)], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        for port in ports
    ]
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, proc, "an HTTP replica")
        async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as http:

            async def rpc(endpoint: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
                message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
                response = await http.post(endpoint, json=message)
                response.raise_for_status()
                text = response.text
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    text = next((row[5:] for row in text.splitlines() if row.startswith("data:")), "")
                answer = json.loads(text)
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer["result"])

            def caller(endpoint: str) -> Call:
                async def call() -> bool:
                    try:
                        params = {"name": GET_TOOL, "arguments": READ_ARGS}
                        return is_jane(await rpc(endpoint, "tools/call", params))
                    except (httpx.HTTPError, RuntimeError, ValueError):
                        return False

                return call

            endpoints = [f"http://127.0.0.1:{port}/mcp" for port in ports]
            for endpoint in endpoints:
                await rpc(endpoint, "initialize", initialize_request(0, "replicas-bench")["params"])
                await rpc(endpoint, "tools/list", {})
            calls = [caller(endpoint) for endpoint in endpoints]
            yield calls
    finally:
        for proc in procs:
            stop(proc)


@asynccontextmanager
async def stdio_replicas(n: int, url: str, state: str) -> AsyncIterator[list[Call]]:
    """N stdio servers, each driven by the MCP SDK's client (initialize, tools/list)."""
    spawn = StdioServerParameters(
        command=sys.executable,
        args=["-m", "truto_stripe_mcp"],
        env=server_env(url, {"TRUTO_MCP_STATE": state}),
        cwd=REPO_ROOT,
    )

    def caller(client: Client) -> Call:
        async def call() -> bool:
            try:
                result = await client.call_tool(GET_TOOL, READ_ARGS)
            except Exception:
                return False
            text = getattr(result.content[0], "text", "") if result.content else ""
            return not result.is_error and f'"id":"{JANE_CUSTOMER_ID}"' in text

        return call

    async with AsyncExitStack() as stack:
        calls = []
        for _ in range(n):
            client = await stack.enter_async_context(Client(spawn, mode="legacy"))  # type: ignore[arg-type]
            await client.list_tools()
            calls.append(caller(client))
        yield calls


@contextmanager
def maybe_redis(binary: str | None) -> Iterator[RedisServer | None]:
    """Our own ``redis-server`` for the whole run (stopped at exit), if redis was asked for."""
    if binary is None:
        yield None
        return
    server = RedisServer(binary)
    try:
        yield server
    finally:
        server.close()

"""Shared fixtures: a real sandbox on a loopback port, the real server as a subprocess,
and the SDK's real MCP client talking to it over stdio."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from truto_stripe_mcp.client import TrutoClient
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import SandboxConfig, SandboxServer

# A distinctive key so the suite can prove it never leaks into any output.
SECRET_KEY = "tk_live_SECRET_4f9a1c0de5b2_must_never_leak"
ACCOUNT_ID = "acct-test-stripe"
FIXED_NOW = 1_764_000_000.0  # 2025-11-24T16:00:00Z: data is stable across days


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
"""A raw handshake request, for tests that speak JSON-RPC without the SDK client."""


def sandbox_config(**overrides: object) -> SandboxConfig:
    options: dict[str, object] = {"api_key": SECRET_KEY, "account_id": ACCOUNT_ID, "now": FIXED_NOW}
    options.update(overrides)
    return SandboxConfig(**options)  # type: ignore[arg-type]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox on 127.0.0.1 for one test (seeding is fast)."""
    with SandboxServer(sandbox_config()) as server:
        yield server


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any TRUTO_ variable (a developer's own key must
    not leak into a test), plus ``extra``: for servers started with subprocess directly."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUTO_")}
    env.update(extra or {})
    return env


def server_env(sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    env = {
        "TRUTO_API_KEY": SECRET_KEY,
        "TRUTO_INTEGRATED_ACCOUNT_ID": ACCOUNT_ID,
        "TRUTO_BASE_URL": sandbox.url,
        "TRUTO_MCP_LOG_LEVEL": "INFO",
        # Approval prompts have their own tests (test_confirmation.py); elsewhere they would
        # only stand between a test and the behaviour it checks.
        "TRUTO_MCP_CONFIRM": "none",
        # Most tests exercise the whole sandbox catalog; the default (core) surface is tested on its own.
        "TRUTO_MCP_TOOLSETS": "all",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


@dataclass
class Spawned:
    client: Client
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@asynccontextmanager
async def spawn_server(
    env: dict[str, str], args: list[str] | None = None, **client_options: object
) -> AsyncIterator[Spawned]:
    """``python -m truto_stripe_mcp`` as a stdio subprocess, driven by the SDK client.

    The server's stderr goes to a file; when the session ends it must not hold the key.
    """
    handle, name = tempfile.mkstemp(prefix="truto-mcp-stderr-", suffix=".log")
    os.close(handle)
    path = Path(name)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "truto_stripe_mcp", *(args or [])], env=env
    )
    with path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), **client_options) as client:  # type: ignore[arg-type]
            yield Spawned(client=client, stderr_path=path)
    try:
        assert_no_leak(path.read_text(errors="replace"))
    finally:
        path.unlink(missing_ok=True)


@asynccontextmanager
async def runner_for(sandbox: SandboxServer, **settings: Any) -> AsyncIterator[ToolRunner]:
    """An in-process runner against the loopback sandbox (the whole catalog unless told)."""
    settings.setdefault("toolsets", "all")
    config = load_settings(
        api_key=SECRET_KEY, integrated_account_id=ACCOUNT_ID, base_url=sandbox.url, **settings
    )
    async with TrutoClient(
        base_url=sandbox.url,
        api_key=SECRET_KEY,
        integrated_account_id=ACCOUNT_ID,
        max_response_bytes=config.max_response_bytes,
    ) as client:
        yield ToolRunner(config, client)


def assert_no_leak(*texts: str) -> None:
    """The API key must never reach stdout, stderr or a tool result."""
    for text in texts:
        assert SECRET_KEY not in text, "the Truto API key leaked into output"

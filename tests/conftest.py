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

from truto_stripe_mcp.catalog.file import default_cache_dir
from truto_stripe_mcp.config import default_state_path, load_settings
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import SandboxConfig, SandboxServer
from truto_stripe_mcp.upstream.client import TrutoClient

# A distinctive key so the suite can prove it never leaks into any output.
SECRET_KEY = "tk_live_SECRET_4f9a1c0de5b2_must_never_leak"
ACCOUNT_ID = "acct-test-stripe"
FIXED_NOW = 1_764_000_000.0  # 2025-11-24T16:00:00Z: data is stable across days


CACHE_DIR_VARIABLE = "TRUTO_MCP_CACHE_DIR"
STATE_VARIABLE = "TRUTO_MCP_STATE"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _directory_state(path: Path) -> list[tuple[str, int, int]] | None:
    """Every file under ``path`` with its size and modification time; ``None`` if it does not exist."""
    if not path.exists():
        return None
    return sorted(
        (str(item.relative_to(path)), item.stat().st_size, item.stat().st_mtime_ns)
        for item in path.rglob("*")
        if item.is_file()
    )


@pytest.fixture(scope="session", autouse=True)
def real_user_cache_untouched() -> Iterator[None]:
    """The suite must leave the user's real cache and state directories as it found them: every
    server, runner and command a test starts keeps its catalog copy and its shared state
    (``TRUTO_MCP_STATE``) in the test's own directory instead."""
    real = (default_cache_dir(), default_state_path().parent)
    before = [_directory_state(path) for path in real]
    yield
    after = [_directory_state(path) for path in real]
    assert after == before, f"the tests wrote into the real user cache or state directory {real}: {after}"


@pytest.fixture(scope="session", autouse=True)
def session_cache_dir(
    real_user_cache_untouched: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The catalog cache directory of fixtures wider than one test (a module's shared server),
    which start before any test's own directory is set."""
    path = tmp_path_factory.mktemp("catalog-cache-session")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_VARIABLE, str(path))
        patch.setenv(STATE_VARIABLE, f"sqlite:///{path / 'state.sqlite3'}")
        yield path


@pytest.fixture(autouse=True)
def catalog_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh catalog cache directory for each test, in ``TRUTO_MCP_CACHE_DIR``: in-process
    settings read it from this environment, and server_env/subprocess_env pass it to children."""
    path = tmp_path_factory.mktemp("catalog-cache")
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(path))
    monkeypatch.setenv(STATE_VARIABLE, f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.sqlite3'}")
    return path


def _cache_dir_env() -> dict[str, str]:
    """This test's catalog cache directory and state file, for a child process's environment."""
    values = {name: os.environ.get(name, "") for name in (CACHE_DIR_VARIABLE, STATE_VARIABLE)}
    assert all(values.values()), "the session_cache_dir and catalog_cache_dir fixtures set both"
    return values


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
    not leak into a test) but with this test's catalog cache directory, plus ``extra``: for
    servers started with subprocess directly."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUTO_")}
    env.update(_cache_dir_env())
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
        **_cache_dir_env(),
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

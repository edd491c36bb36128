"""The sandbox's own tests, over plain HTTP: one loopback server per test module, reseeded for
every test, and an httpx client with the sandbox's key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from truto_stripe_mcp.sandbox import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_API_KEY,
    Sandbox,
    SandboxConfig,
    SandboxServer,
)

NOW = 1_750_000_000.0
ACCOUNT = {"integrated_account_id": SANDBOX_ACCOUNT_ID}
AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(now=NOW)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Sandbox:
    """A freshly reseeded sandbox for every test (reseeding takes a few milliseconds)."""
    server.sandbox.reset()
    server.sandbox.configure(catalog_shape="result", catalog_page_size=None, rate_limit=None)
    return server.sandbox


@pytest.fixture
def client(server: SandboxServer, sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10.0) as c:
        yield c

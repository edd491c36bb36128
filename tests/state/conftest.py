"""Fixtures for the shared-state tests: a real ``redis-server`` on a free loopback port (one
per session, each test on its own database), and a store of each backend per test."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from truto_stripe_mcp.config import StateLocation
from truto_stripe_mcp.state.open import open_state
from truto_stripe_mcp.state.store import StateStore

DATABASES = 512


@dataclass
class RedisServer:
    """A ``redis-server`` process of this test session."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    _databases: Iterator[int]

    def url(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def next_database(self) -> int:
        """A database no other test of the session has used."""
        return next(self._databases)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int, directory: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary, (
        "redis-server is not installed: the shared-state tests need the real server "
        "(apt-get install redis-server; .ci/run installs it when it is missing)"
    )
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            str(DATABASES),
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("redis-server did not start")


@contextmanager
def started_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` of its own on a free loopback port, stopped and removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="truto-mcp-redis-"))
    port = _free_port()
    server = RedisServer(port, _start(port, directory), directory, itertools.count(1))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis; each test takes a database of its own (:func:`redis_url`)."""
    with started_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for one test alone, which the test may stop (an outage)."""
    with started_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis database of this test's own."""
    return redis_server.url(redis_server.next_database())


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> StateLocation:
    """Each backend in turn: its own SQLite file, its own Redis database."""
    if request.param == "memory":
        return StateLocation("memory")
    if request.param == "sqlite":
        return StateLocation("sqlite", str(tmp_path / "state.sqlite3"))
    return StateLocation("redis", request.getfixturevalue("redis_url"))


@pytest.fixture(params=["sqlite", "redis"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``TRUTO_MCP_STATE`` for server processes that share state: a SQLite file, a Redis database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared-state.sqlite3'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture(params=["sqlite", "redis"])
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> StateLocation:
    """The backends that share state between processes."""
    if request.param == "sqlite":
        return StateLocation("sqlite", str(tmp_path / "state.sqlite3"))
    return StateLocation("redis", request.getfixturevalue("redis_url"))


@pytest.fixture
async def store(state_location: StateLocation) -> AsyncIterator[StateStore]:
    opened = await open_state(state_location, "account-a")
    try:
        yield opened
    finally:
        await opened.aclose()

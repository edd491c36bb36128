"""Several server processes over stdio sharing one state, any of which can be killed mid-call.

What Claude Desktop does to its servers (restarts them), and what a crash does to a replica:
the soak's restart mode (``python -m bench.soak --processes 3 --kill-every 8``) spreads its
calls over a :class:`Fleet` and kills one member with SIGKILL at intervals, starting a
replacement on the same state. A call cut off that way is repeated by the caller, as an
agent would, on another member; the soak then checks that no write happened twice.

Each member's MCP client lives in a task of its own (an async context must end in the task
that opened it); its process id is found by diffing this process's children around the start.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sys
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup
from mcp import Client, StdioServerParameters

from bench._common import REPO_ROOT, child_processes


@dataclass
class Member:
    """One server process of the fleet and the client talking to it."""

    number: int
    client: Client | None = None
    pid: int | None = None
    alive: bool = False
    stop: anyio.Event = field(default_factory=anyio.Event)


class Fleet:
    """``size`` servers, all with ``env`` (so one shared state); killed members are replaced."""

    def __init__(self, env: Mapping[str, str], size: int, group: TaskGroup) -> None:
        self._params = StdioServerParameters(
            command=sys.executable, args=["-m", "truto_stripe_mcp"], env=dict(env), cwd=REPO_ROOT
        )
        self.size = size
        self._group = group
        self._numbers = itertools.count(1)
        self._turn = itertools.count()
        self.members: list[Member] = []
        self.kills = 0
        self._starting = anyio.Lock()

    async def start(self) -> None:
        for _ in range(self.size):
            await self._start_member()

    async def _start_member(self) -> Member:
        """Start one member and wait until it answers (one at a time, to find its pid)."""
        async with self._starting:
            member = Member(next(self._numbers))
            before = {pid for pid, _ in child_processes()}
            ready = anyio.Event()
            self._group.start_soon(self._hold, member, ready)
            await ready.wait()
            assert member.client is not None
            await member.client.list_tools()  # the catalog, before any call
            started = [
                pid
                for pid, command in child_processes()
                if pid not in before and b"truto_stripe_mcp" in b" ".join(command)
            ]
            member.pid = started[0] if started else None
            member.alive = True
            self.members.append(member)
            return member

    async def _hold(self, member: Member, ready: anyio.Event) -> None:
        with suppress(Exception):
            async with Client(self._params) as client:
                member.client = client
                ready.set()
                await member.stop.wait()
        member.alive = False
        ready.set()

    def next_client(self) -> Client:
        """A live member's client, round robin."""
        live = [member for member in self.members if member.alive and member.client is not None]
        assert live, "no server of the fleet is alive"
        member = live[next(self._turn) % len(live)]
        assert member.client is not None
        return member.client

    async def kill_one(self, rng: random.Random) -> None:
        """SIGKILL one live member (what a crash or a force-quit does) and start its replacement."""
        live = [member for member in self.members if member.alive and member.pid is not None]
        if not live:
            return
        victim = rng.choice(live)
        victim.alive = False
        with suppress(ProcessLookupError):
            os.kill(victim.pid or 0, signal.SIGKILL)
        self.kills += 1
        victim.stop.set()
        await self._start_member()

    def close(self) -> None:
        for member in self.members:
            member.stop.set()

"""The interpreter on its own: a real Monty worker running a program, its calls answered by a
recording host in this process (the runner's side has its end-to-end tests), to pin down what
runs when: reads concurrently, a write alone and after the reads before it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from truto_stripe_mcp.catalog.spec import ToolSpec
from truto_stripe_mcp.local.code_mode.interpreter import Program, ProgramLimits, RunClock
from truto_stripe_mcp.local.code_mode.worker import tools_module

pytestmark = pytest.mark.anyio

SPECS = [
    ToolSpec(name="list_all_stripe_charges", description="", resource="charges", method="list"),
    ToolSpec(name="list_all_stripe_customers", description="", resource="customers", method="list"),
    ToolSpec(
        name="create_a_stripe_customer",
        description="",
        resource="customers",
        method="create",
        body_schema={"type": "object", "properties": {"email": {"type": "string"}}},
    ),
]
LIMITS = ProgramLimits(timeout=20, memory_bytes=64 * 1024 * 1024, max_calls=50, max_output=1_000)


class RecordingHost:
    """Answers calls, noting how many were in flight when each began. The charges list is held
    until the customers list arrives (a program whose reads ran one after the other would hang),
    then for ``charges_linger`` seconds more."""

    def __init__(self) -> None:
        self.calls = 0
        self.in_flight = 0
        self.began: list[tuple[str, int]] = []
        self.customers_asked = anyio.Event()
        self.charges_linger = 0.0

    def reads(self, function: str) -> bool:
        return function.startswith("list_all_")

    async def __call__(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls += 1
        self.began.append((function, self.in_flight))
        self.in_flight += 1
        try:
            if function == "list_all_stripe_customers":
                self.customers_asked.set()
            if function == "list_all_stripe_charges":
                await self.customers_asked.wait()
                await anyio.sleep(self.charges_linger)
            await anyio.sleep(0)
            return {"tool": function, **kwargs}
        finally:
            self.in_flight -= 1


async def run(code: str, host: RecordingHost) -> Any:
    program = Program(tools_module(SPECS, code), LIMITS, host, RunClock(LIMITS.timeout))
    with anyio.fail_after(15):
        return (await program.start(code)).value


async def test_reads_run_concurrently_and_a_write_alone_after_them() -> None:
    host = RecordingHost()
    code = (
        "import asyncio\nimport tools\n"
        "charges, customers = await asyncio.gather(\n"
        "    tools.list_all_stripe_charges(limit=1), tools.list_all_stripe_customers(limit=2)\n"
        ")\n"
        "made = await tools.create_a_stripe_customer(email='a@b.co')\n"
        "[charges['tool'], customers['limit'], made['email']]"
    )
    assert await run(code, host) == ["list_all_stripe_charges", 2, "a@b.co"]
    assert host.began == [
        ("list_all_stripe_charges", 0),
        ("list_all_stripe_customers", 1),  # while the charges were still being read
        ("create_a_stripe_customer", 0),  # alone
    ]


async def test_a_write_waits_for_the_reads_started_before_it() -> None:
    host = RecordingHost()
    host.charges_linger = 0.5  # the program reaches its write long before this read ends
    code = (
        "import tools\n"
        "pending = tools.list_all_stripe_charges(limit=1)\n"
        "customers = await tools.list_all_stripe_customers(limit=1)\n"
        "made = await tools.create_a_stripe_customer(email='a@b.co')\n"
        "charges = await pending\n"
        "[charges['tool'], made['email']]"
    )
    assert await run(code, host) == ["list_all_stripe_charges", "a@b.co"]
    assert host.began[-1] == ("create_a_stripe_customer", 0)

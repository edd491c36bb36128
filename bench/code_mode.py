"""Code mode benchmark: what an agent reads, classic tool calls against one ``run_code`` program.

Against one sandbox (its own process, 10,000 charges), for each task:

* **classic**: the agent calls tools and reads every result whole. The aggregations walk the
  list with ``auto_paginate`` (following its cursor while the result budget cuts it) and compute
  on the agent's side, once with every field and once with ``fields`` (the fields the program
  uses); the churn workflow is the seed's own (``examples/billing_workflows.py``).
* **run_code**: the agent sends one program and reads its answer.

Reported per task: bytes of tool results the agent reads, round trips, and the ratio. Every
answer is checked against the sandbox's own pages (read with plain httpx), and the churn's
effects against the sandbox afterwards.

Timed: the 10,000-item walk reduced to a count and a sum, ``run_code`` over stdio (the program
passing ``fields='amount'``) against a plain httpx loop doing the same pages and the same sum,
alternating ``--repeat`` times after an untimed round; medians, and their ratio, from the same run.

    python -m bench.code_mode                  # --repeat 5
    python -m bench.code_mode --repeat 3 --json code_mode.json

Exit status 0 when every answer was right and the targets hold (aggregations at least 50x fewer
bytes than auto_paginate with fields, churn in one round trip, the reduction within 1.5x of
httpx), 1 when a target was missed, 2 when an answer was wrong.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp import Client, StdioServerParameters

from bench import _code_mode_tasks as tasks
from bench._common import AUTH, REPO_ROOT, SandboxProcess, line, machine, server_env, write_json
from truto_stripe_mcp.sandbox import SANDBOX_ACCOUNT_ID, SandboxConfig, serve
from truto_stripe_mcp.sandbox.config import start_of_utc_day

CHARGES = 10_000
BYTES_TARGET = 50.0
TIME_TARGET = 1.5
DAY = 86_400
FIELDS = ", fields='amount'"


class WrongAnswer(Exception):
    """A variant's answer differs from the sandbox's own data: its figures would mean nothing."""


def serve_sandbox(port: int, now: float, charges: int) -> None:
    """The child side: a sandbox with ``charges`` charges, ``now`` fixed, until killed."""
    anyio.run(serve, SandboxConfig(num_charges=charges, now=now), "127.0.0.1", port)


class CountingClient:
    """Calls tools like an agent and counts what it reads: round trips and result bytes."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.round_trips = 0
        self.bytes = 0

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        result = await self.client.call_tool(name, arguments or {})
        self.round_trips += 1
        self.bytes += sum(
            len(block.text.encode()) for block in result.content if isinstance(block, types.TextContent)
        )
        return result

    async def run(self, code: str) -> Any:
        result = await self.call_tool("run_code", {"code": code})
        text = result.content[0].text  # type: ignore[union-attr]
        if result.is_error:
            raise WrongAnswer(f"run_code failed: {text[:800]}")
        return json.loads(text)["result"]

    async def walk(self, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """``auto_paginate`` until the list is complete, as an agent follows its cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            inner = {**arguments, **({"next_cursor": cursor} if cursor else {})}
            result = await self.call_tool(
                "auto_paginate", {"tool": tool, "arguments": inner, "max_items": 10_000}
            )
            page = json.loads(result.content[0].text)  # type: ignore[union-attr]
            items.extend(page["result"])
            if page["complete"]:
                return items
            cursor = page["next_cursor"]


@asynccontextmanager
async def agent(url: str) -> AsyncIterator[Client]:
    """The server over stdio with code mode on, its catalog loaded before anything is counted."""
    options = {
        "TRUTO_MCP_CODE_MODE": "true",
        "TRUTO_MCP_TOOLSETS": "all",
        "TRUTO_MCP_DISCOVERY_THRESHOLD": "1000",
    }
    env = server_env(url, options)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "truto_stripe_mcp"], env=env, cwd=REPO_ROOT
    )
    async with Client(params) as client:
        await client.call_tool("run_code", {"code": "import tools\n1"})
        yield client


async def everything(http: httpx.AsyncClient, resource: str, **query: Any) -> list[dict[str, Any]]:
    """The sandbox's own data: every page of a list, by hand."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"integrated_account_id": SANDBOX_ACCOUNT_ID, "limit": 100, **query}
    while True:
        response = await http.get(f"/proxy/{resource}", params=params)
        response.raise_for_status()
        page = response.json()
        items.extend(page["result"])
        if not page.get("next_cursor"):
            return items
        params["next_cursor"] = page["next_cursor"]


def compare(task: str, classic: dict[str, CountingClient], code: CountingClient) -> dict[str, Any]:
    row: dict[str, Any] = {"task": task, "run_code": {"bytes": code.bytes, "round_trips": code.round_trips}}
    for name, counted in classic.items():
        row[name] = {"bytes": counted.bytes, "round_trips": counted.round_trips}
        row[f"{name}_bytes_ratio"] = counted.bytes / max(1, code.bytes)
        line(f"{task}: {name}", f"{counted.bytes:>10,} B in {counted.round_trips} round trips")
    line(f"{task}: run_code", f"{code.bytes:>10,} B in {code.round_trips} round trip(s)")
    return row


async def aggregations(client: Client, http: httpx.AsyncClient, now: int) -> list[dict[str, Any]]:
    refunds, charges = await everything(http, "refunds"), await everything(http, "charges")
    ninety = now - 90 * DAY
    year = int(datetime.datetime(time.gmtime(now).tm_year, 1, 1, tzinfo=datetime.UTC).timestamp())
    cases = [
        ("refunds by reason, 90 days", "list_all_stripe_refunds", {"created": {"gte": ninety}}, "amount,reason",
         tasks.REFUNDS_BY_REASON.format(since=ninety), tasks.refunds_by_reason(refunds, ninety),
         tasks.refunds_by_reason),
        ("top 5 customers this year", "list_all_stripe_charges", {"created": {"gte": year}}, "amount,customer,status",
         tasks.TOP_CUSTOMERS.format(since=year), tasks.top_customers(charges, year),
         tasks.top_customers),
        ("all charges: count and sum", "list_all_stripe_charges", {}, "amount",
         tasks.COUNT_AND_SUM.format(fields=FIELDS), tasks.count_and_sum(charges), tasks.count_and_sum),
    ]  # fmt: skip
    rows = []
    for task, tool, arguments, fields, program, expected, reduce in cases:
        classic = {"auto_paginate": CountingClient(client), "auto_paginate_fields": CountingClient(client)}
        for name, counted in classic.items():
            walked = await counted.walk(
                tool, {**arguments, **({"fields": fields} if "fields" in name else {})}
            )
            if reduce(walked) != expected:
                raise WrongAnswer(f"{task}: the classic agent computed {reduce(walked)!r}, not {expected!r}")
        code = CountingClient(client)
        answer = await code.run(program)
        if answer != expected:
            raise WrongAnswer(f"{task}: run_code answered {answer!r}, not {expected!r}")
        rows.append(compare(task, classic, code))
    return rows


async def churn(client: Client, http: httpx.AsyncClient) -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT / "examples"))
    import billing_workflows  # the seed's workflow, as the classic agent

    charges = await everything(http, "charges")
    candidates = tasks.churn_candidates(
        charges, await everything(http, "disputes"), await everything(http, "subscriptions")
    )
    if len(candidates) < 2:
        raise WrongAnswer(f"the sandbox holds {len(candidates)} customers to churn; the benchmark needs two")
    classic = CountingClient(client)
    outcome = await billing_workflows.churn(classic, candidates[0], say=lambda _: None)  # type: ignore[arg-type]
    code = CountingClient(client)
    program = tasks.CHURN.format(customer=candidates[1], open_statuses=list(tasks.OPEN_DISPUTES))
    answer = await code.run(program)
    for customer, canceled, refunded in (
        (candidates[0], outcome.canceled_subscriptions, outcome.refund),
        (candidates[1], [sub for sub, _ in answer["canceled"]], answer["refund"] and answer["refund"][0]),
    ):
        active = await everything(http, "subscriptions", customer=customer, status="active")
        if active or not canceled or not refunded:
            raise WrongAnswer(
                f"churn of {customer}: still active {active}, canceled {canceled}, refund {refunded}"
            )
    return compare("churn (dispute, cancel, refund)", {"classic tools": classic}, code)


async def timing(client: Client, http: httpx.AsyncClient, repeat: int) -> dict[str, Any]:
    """The 10,000-item reduction: plain httpx against run_code, alternating; medians and their ratio.

    The program passes ``fields='amount'``, as the tool's description teaches: the same pages are
    read upstream (``fields`` is applied by this server), but only the amounts cross into the
    interpreter. Whole charges would not fit its default 256 MB (about 25 kB each there)."""
    program = tasks.COUNT_AND_SUM.format(fields=FIELDS)
    runs: dict[str, list[float]] = {"httpx": [], "run_code": []}
    expected = None
    for rep in range(-1, repeat):
        started = time.perf_counter()
        answer = tasks.count_and_sum(await everything(http, "charges"))
        base = time.perf_counter() - started
        expected = expected or answer
        started = time.perf_counter()
        result = await client.call_tool("run_code", {"code": program})
        seconds = time.perf_counter() - started
        text = result.content[0].text  # type: ignore[union-attr]
        if answer != expected or result.is_error or json.loads(text)["result"] != expected:
            raise WrongAnswer(f"the reduction: httpx {answer}, run_code {text[:300]}")
        if rep >= 0:
            runs["httpx"].append(base)
            runs["run_code"].append(seconds)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, seconds in medians.items():
        line(f"count and sum of every charge: {name} (median of {repeat})", f"{seconds * 1000:.0f} ms")
    ratio = medians["run_code"] / medians["httpx"]
    line("run_code / httpx", f"{ratio:.2f}x (target <= {TIME_TARGET}x)")
    return {"runs_s": runs, "median_s": medians, "ratio": ratio}


async def main(args: argparse.Namespace) -> int:
    now = start_of_utc_day()
    command = lambda port: [  # noqa: E731
        *(sys.executable, "-m", "bench.code_mode", "--serve-sandbox", str(port)),
        *("--now", str(now), "--charges", str(args.charges)),
    ]
    with SandboxProcess(command=command, timeout=120.0) as sandbox:
        async with (
            httpx.AsyncClient(base_url=sandbox.url, headers=AUTH, timeout=60) as http,
            agent(sandbox.url) as client,
        ):
            try:
                rows = await aggregations(client, http, int(now))
                rows.append(await churn(client, http))
                timed = await timing(client, http, args.repeat)
            except WrongAnswer as exc:
                print(f"WRONG ANSWER: {exc}")
                return 2
    report = {"machine": machine(), "tasks": rows, "reduction": timed}
    write_json(args.json, report)
    bytes_ok = all(
        row["auto_paginate_fields_bytes_ratio"] >= BYTES_TARGET
        for row in rows
        if "auto_paginate_fields" in row
    )
    churn_ok = rows[-1]["run_code"]["round_trips"] == 1
    time_ok = timed["ratio"] <= TIME_TARGET
    line(
        "targets",
        f"bytes >= {BYTES_TARGET:g}x: {bytes_ok}; churn in 1 round trip: {churn_ok}; time: {time_ok}",
    )
    return 0 if bytes_ok and churn_ok and time_ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--charges", type=int, default=CHARGES, help="charges in the sandbox (default 10000)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--now", type=float, default=None, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_sandbox is not None:
        serve_sandbox(parsed.serve_sandbox, parsed.now, parsed.charges)
        sys.exit(0)
    sys.exit(anyio.run(main, parsed))

"""Pagination benchmark: ``auto_paginate`` over stdio against a plain httpx loop over the same pages.

Both walk the same 10,000 sandbox customers, 100 per page (Stripe's maximum), following
``next_cursor`` until it is null:

* **baseline**: a plain ``httpx.AsyncClient`` loop on ``GET /proxy/customers``; the least
  any client can pay for these pages.
* **runner**: the server's own code in this process (``ToolRunner.call("auto_paginate")``:
  validation per page, backoff bookkeeping, timestamp annotation, budget sizing), no MCP.
  It splits the stdio figure into "our code" and "the MCP layer".
* **stdio**: what an agent pays. The MCP SDK's client spawns ``python -m truto_stripe_mcp``
  and calls ``auto_paginate`` with ``max_items=10000``; only the call is timed (spawn and
  the first, catalog-loading call are reported apart). The result is several MB of JSON, and
  the SDK's serialising, framing and parsing of it on both sides are part of the figure.
* **replay**: the MCP floor. A minimal SDK server (the SDK's own stdio transport, no
  upstream, no work) answers ``auto_paginate`` with the exact text the stdio walk returned,
  read from a file before the timing starts. It is what delivering this one result costs
  over the SDK, whatever the server does: ``baseline + replay`` is the best any server that
  returns the walk as one tool result can reach, and the report gives that ratio beside the
  target.

The sandbox runs in a separate process (this module with ``--serve-sandbox``) so neither
client shares a GIL with it. After one untimed round (connections, caches, heaps), the
repetitions alternate the three variants so drift hits all alike; figures are medians.
Each walk also records CPU time of this process and of the server (``/proc``), which other
load on the machine does not inflate. Every walk is checked: 10,000 unique ids, in the
baseline's order, ``complete`` true.

Peak memory is the server process's ``VmHWM`` (from ``/proc``), each case in a fresh
server: ``max_items=1000`` over a 1,000-item list and over the 10,000-item list (the same:
memory follows the items held, not the length of the list), and ``max_items=10000``.

    python -m bench.pagination                     # 10,000 items, --repeat 5
    python -m bench.pagination --repeat 3 --json pagination.json
    python -m bench.pagination --profile-server server.prof   # cProfile the server side

Exit status 0 when the stdio/baseline ratio meets the target, 1 when it does not, 2 when a
walk returned the wrong items.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client, StdioServerParameters

from bench._common import (
    SandboxProcess,
    bench_cache_dir,
    bench_state,
    cpu_seconds,
    find_server_pid,
    memory_mib,
)
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.runner import ToolRunner, open_runner
from truto_stripe_mcp.sandbox import SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, SandboxConfig, serve

REPO_ROOT = Path(__file__).resolve().parent.parent

# The least an SDK server can do to return a result: the text is read once, at start-up.
REPLAY_SERVER = """
import sys
import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TEXT = open(sys.argv[1], encoding="utf-8").read()

async def on_list_tools(ctx, params):  # the SDK client lists tools once, to check results
    tool = types.Tool(name="auto_paginate", input_schema={"type": "object"})
    return types.ListToolsResult(tools=[tool])

async def on_call_tool(ctx, params):
    return types.CallToolResult(content=[types.TextContent(type="text", text=TEXT)])

async def main():
    server = Server("replay", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())

anyio.run(main)
"""
TOOL = "list_all_stripe_customers"
PAGE_SIZE = 100
TARGET_RATIO = 1.2  # stdio / baseline
SMALL_LIST = 1_000
RESULT_BUDGET = 100_000_000  # characters: lets 10,000 customers fit in one result
AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


class WrongItems(Exception):
    """A walk did not return exactly the baseline's items: its timing would mean nothing."""


# -- the sandbox process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_sandbox(port: int, customers: int) -> None:
    """The child side of :class:`SandboxProcess`: seed ``customers`` and serve until killed."""
    config = SandboxConfig(num_customers=customers, num_charges=10)
    anyio.run(serve, config, "127.0.0.1", port)  # uvicorn stops cleanly on SIGTERM


def sandbox_process(customers: int) -> SandboxProcess:
    """A sandbox seeded with ``customers`` customers (see :func:`serve_sandbox`)."""
    return SandboxProcess(
        command=lambda port: [
            sys.executable,
            "-m",
            "bench.pagination",
            "--serve-sandbox",
            str(port),
            "--items",
            str(customers),
        ],
        timeout=60.0,
    )


# -- the three variants ----------------------------------------------------------------


async def baseline_walk(http: httpx.AsyncClient) -> tuple[float, list[str]]:
    """Every page by hand: (seconds, item ids in order)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"integrated_account_id": SANDBOX_ACCOUNT_ID, "limit": PAGE_SIZE}
    started = time.perf_counter()
    while True:
        response = await http.get("/proxy/customers", params=params)
        response.raise_for_status()
        page = response.json()
        items.extend(page["result"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
        params["next_cursor"] = cursor
    elapsed = time.perf_counter() - started
    return elapsed, [item["id"] for item in items]


def _walk_arguments(max_items: int) -> dict[str, Any]:
    return {"tool": TOOL, "max_items": max_items}


async def stdio_walk(client: Client, max_items: int) -> tuple[float, dict[str, Any]]:
    """One ``auto_paginate`` call over stdio: (seconds, the result the agent read)."""
    elapsed, text = await stdio_text(client, max_items)
    return elapsed, json.loads(text)


async def stdio_text(client: Client, max_items: int) -> tuple[float, str]:
    """One ``auto_paginate`` call over stdio: (seconds, the text block the agent reads).

    The agent's ``json.loads`` of the text is part of the time: the baseline parses its
    pages too, and the SDK hands the text over unparsed (large results carry no
    ``structuredContent`` copy).
    """
    started = time.perf_counter()
    result = await client.call_tool("auto_paginate", _walk_arguments(max_items))
    text = getattr(result.content[0], "text", "") if result.content else ""
    if result.is_error:
        raise WrongItems(f"auto_paginate failed over stdio: {text[:500]}")
    json.loads(text)
    return time.perf_counter() - started, text


def check(where: str, data: dict[str, Any], expected: list[str]) -> None:
    """Same ids, same order, nothing repeated, and the walk says it is complete."""
    ids = [item["id"] for item in data.get("result", [])]
    problems = []
    if data.get("complete") is not True:
        problems.append(f"complete={data.get('complete')!r}")
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} repeated ids")
    if ids != expected:
        problems.append(f"{len(ids)} ids, not the baseline's {len(expected)} in order")
    if problems:
        raise WrongItems(f"{where}: {'; '.join(problems)}")


@dataclass
class Session:
    """A spawned server and the client talking to it."""

    client: Client
    pid: int
    spawn_s: float  # process start plus the MCP initialize handshake
    first_call_s: float  # auto_paginate max_items=1: loads the tool catalog


def server_env(url: str) -> dict[str, str]:
    return {
        "TRUTO_API_KEY": SANDBOX_API_KEY,
        "TRUTO_INTEGRATED_ACCOUNT_ID": SANDBOX_ACCOUNT_ID,
        "TRUTO_BASE_URL": url,
        "TRUTO_MCP_RESULT_BUDGET": str(RESULT_BUDGET),
        "TRUTO_MCP_LOG_LEVEL": "WARNING",
        "TRUTO_MCP_CACHE_DIR": str(bench_cache_dir()),
    }


@asynccontextmanager
async def spawn_server(url: str, profile: Path | None = None) -> AsyncIterator[Session]:
    """``python -m truto_stripe_mcp`` over stdio, warmed up so later calls time the walk only."""
    prefix = ["-m", "cProfile", "-o", str(profile.resolve())] if profile else []
    params = StdioServerParameters(
        command=sys.executable,
        args=[*prefix, "-m", "truto_stripe_mcp"],
        env=server_env(url),
        cwd=REPO_ROOT,
    )
    started = time.perf_counter()
    async with Client(params) as client:
        spawn_s = time.perf_counter() - started
        pid = find_server_pid()
        first_call_s, _ = await stdio_walk(client, 1)
        yield Session(client, pid, spawn_s, first_call_s)


# -- the benchmark ---------------------------------------------------------------------


@asynccontextmanager
async def replay_server(text: str, directory: Path) -> AsyncIterator[Client]:
    """The minimal SDK server of :data:`REPLAY_SERVER`, answering with ``text``."""
    path = directory / "walk.json"
    path.write_text(text, encoding="utf-8")
    params = StdioServerParameters(command=sys.executable, args=["-c", REPLAY_SERVER, str(path)])
    async with Client(params) as client:
        yield client


@dataclass
class Sample:
    """One timed walk: wall time, and CPU time of this process and of the server process."""

    wall_s: float
    client_cpu_s: float  # this process: the baseline loop, the runner, or the SDK client's parsing
    server_cpu_s: float  # the spawned server (stdio only)


async def timed(walk: Awaitable[Any], server_pid: int | None = None) -> tuple[Sample, Any]:
    """Await ``walk``, measuring wall time and CPU on both sides.

    CPU time does not count the other processes sharing the two cores (the sandbox, or
    anything else on the machine), so it shows where the work is even when wall times are
    noisy.
    """
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    result = await walk
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = cpu_seconds(server_pid) - server_before if server_pid else 0.0
    return Sample(wall, cpu, server), result


async def timing_runs(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """After one untimed round, alternate baseline, runner and stdio ``--repeat`` times; check every walk."""
    runs: dict[str, list[Sample]] = {"baseline": [], "runner": [], "stdio": [], "replay": []}
    settings = load_settings(
        api_key=SANDBOX_API_KEY,
        integrated_account_id=SANDBOX_ACCOUNT_ID,
        base_url=url,
        result_budget=RESULT_BUDGET,
        log_level="WARNING",
        cache_dir=str(bench_cache_dir()),
        state=bench_state(),
    )
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http,
        open_runner(settings) as runner,
        spawn_server(url, args.profile_server) as session,
    ):
        await runner.call("auto_paginate", _walk_arguments(1))  # the catalog, as the stdio session did
        _, walk_text = await stdio_text(session.client, args.items)
        with tempfile.TemporaryDirectory() as scratch:
            async with replay_server(walk_text, Path(scratch)) as replay_client:
                del walk_text
                return await _alternate(args, runs, http, runner, session, replay_client)


async def _alternate(
    args: argparse.Namespace,
    runs: dict[str, list[Sample]],
    http: httpx.AsyncClient,
    runner: ToolRunner,
    session: Session,
    replay_client: Client,
) -> dict[str, Any]:
    """The timed rounds of :func:`timing_runs`."""
    for rep in range(-1, args.repeat):  # round -1 warms connections, caches and the heaps
        base, (_, expected) = await timed(baseline_walk(http))
        if len(expected) != args.items:
            raise WrongItems(f"baseline: {len(expected)} items, not {args.items}")
        run, outcome = await timed(runner.call("auto_paginate", _walk_arguments(args.items)))
        check("runner", outcome.data, expected)
        del outcome
        stdio, (_, data) = await timed(stdio_walk(session.client, args.items), session.pid)
        check("stdio", data, expected)
        del data
        replay, (_, data) = await timed(stdio_walk(replay_client, args.items))
        check("replay", data, expected)
        del data
        if rep < 0:
            continue
        for name, sample in (("baseline", base), ("runner", run), ("stdio", stdio), ("replay", replay)):
            runs[name].append(sample)
        print(
            f"# run {rep + 1}/{args.repeat}: baseline {base.wall_s:.3f} s, runner {run.wall_s:.3f} s, "
            f"stdio {stdio.wall_s:.3f} s (server cpu {stdio.server_cpu_s:.2f} s, "
            f"client cpu {stdio.client_cpu_s:.2f} s), replay {replay.wall_s:.3f} s",
            file=sys.stderr,
            flush=True,
        )
    memory = memory_mib(session.pid)
    return {
        "runs": {name: [asdict(sample) for sample in samples] for name, samples in runs.items()},
        "spawn_s": session.spawn_s,
        "first_call_s": session.first_call_s,
        "server_after_repeats_mib": memory,
    }


async def memory_case(url: str, max_items: int, list_length: int) -> dict[str, Any]:
    """Peak memory of a fresh server that walks ``max_items`` of a ``list_length``-item list."""
    async with spawn_server(url) as session:
        idle = memory_mib(session.pid)["VmHWM"]
        _, data = await stdio_walk(session.client, max_items)
        held = len(data["result"])
        complete = data["complete"]
        del data
        after = memory_mib(session.pid)
    if held != min(max_items, list_length):
        raise WrongItems(f"max_items={max_items} over {list_length}: got {held} items")
    return {
        "list_length": list_length,
        "max_items": max_items,
        "items_returned": held,
        "complete": complete,
        "idle_hwm_mib": idle,
        "peak_hwm_mib": after["VmHWM"],
        "rss_after_mib": after["VmRSS"],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with sandbox_process(args.items) as sandbox, sandbox_process(SMALL_LIST) as small:
        timing = await timing_runs(args, sandbox.url)
        memory = []
        if not args.skip_memory:
            for url, length, max_items in (
                (small.url, SMALL_LIST, SMALL_LIST),
                (sandbox.url, args.items, SMALL_LIST),
                (sandbox.url, args.items, args.items),
            ):
                memory.append(await memory_case(url, max_items, length))
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in timing["runs"].items()
    }
    wall = {name: figures["wall_s"] for name, figures in medians.items()}
    ratios = {
        "stdio_over_baseline": wall["stdio"] / wall["baseline"],
        "runner_over_baseline": wall["runner"] / wall["baseline"],
        "floor_over_baseline": (wall["baseline"] + wall["replay"]) / wall["baseline"],
    }
    return {
        "parameters": {
            "items": args.items,
            "page_size": PAGE_SIZE,
            "pages": -(-args.items // PAGE_SIZE),
            "repeat": args.repeat,
            "result_budget_chars": RESULT_BUDGET,
            "server_profiled": args.profile_server is not None,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "sandbox_ready_s": {"items": sandbox.ready_s, "small_list": small.ready_s},
        "median": medians,
        "ratios": ratios,
        "spawn_s": timing["spawn_s"],
        "first_call_s": timing["first_call_s"],
        "server_after_repeats_mib": timing["server_after_repeats_mib"],
        "memory": memory,
        "runs": timing["runs"],
        "target": {
            "stdio_over_baseline_max": TARGET_RATIO,
            "met": ratios["stdio_over_baseline"] <= TARGET_RATIO,
        },
    }


def print_summary(report: dict[str, Any]) -> None:
    """One line per figure: label, then value."""
    p, m, med, ratio = report["parameters"], report["machine"], report["median"], report["ratios"]
    target = report["target"]
    ours = med["stdio"]["wall_s"] - med["baseline"]["wall_s"] - med["replay"]["wall_s"]

    def line(label: str, value: str) -> None:
        print(f"{label:44s} {value}")

    print(
        f"pagination: {p['items']} items in {p['pages']} pages of {p['page_size']}, medians of "
        f"{p['repeat']}; {m['cpus']} cpus, Python {m['python']}"
        + (" (server under cProfile: times inflated)" if p["server_profiled"] else "")
    )
    line(f"sandbox ready ({p['items']} customers seeded)", f"{report['sandbox_ready_s']['items']:.2f} s")
    line(
        "baseline: httpx loop",
        f"{med['baseline']['wall_s']:.3f} s (cpu {med['baseline']['client_cpu_s']:.2f} s)",
    )
    line(
        "runner: in-process, no MCP",
        f"{med['runner']['wall_s']:.3f} s (cpu {med['runner']['client_cpu_s']:.2f} s)",
    )
    line("stdio: auto_paginate via the SDK client", f"{med['stdio']['wall_s']:.3f} s")
    line("stdio: server process cpu", f"{med['stdio']['server_cpu_s']:.2f} s")
    line("stdio: client (SDK) cpu", f"{med['stdio']['client_cpu_s']:.2f} s")
    line("replay: the same result from a no-work SDK server", f"{med['replay']['wall_s']:.3f} s")
    line("stdio minus baseline minus replay (ours)", f"{ours * 1000:.0f} ms")
    line("ratio runner / baseline", f"{ratio['runner_over_baseline']:.2f}x")
    line(
        "floor: (baseline + replay) / baseline",
        f"{ratio['floor_over_baseline']:.2f}x (no server returning one result can do better)",
    )
    verdict = "met" if target["met"] else "NOT met"
    line(
        "ratio stdio / baseline",
        f"{ratio['stdio_over_baseline']:.2f}x (target <= {target['stdio_over_baseline_max']}x: {verdict})",
    )
    line("server spawn + initialize", f"{report['spawn_s']:.3f} s")
    line("first call (max_items=1, loads the catalog)", f"{report['first_call_s']:.3f} s")
    line(
        f"server VmHWM after {p['repeat'] + 1} walks",
        f"{report['server_after_repeats_mib']['VmHWM']:.1f} MiB",
    )
    for case in report["memory"]:
        line(
            f"server VmHWM max_items={case['max_items']} of {case['list_length']}",
            f"{case['peak_hwm_mib']:.1f} MiB (idle {case['idle_hwm_mib']:.1f} MiB)",
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="customers to walk (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; medians reported (default 5)")
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    parser.add_argument("--skip-memory", action="store_true", help="skip the three peak-memory cases")
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="PATH",
        help="run the timed server under cProfile, stats to PATH",
    )
    parser.add_argument("--serve-sandbox", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.items <= 10_000:
        parser.error("--items must be 1..10000 (auto_paginate's max_items limit)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _wrong_items(exc: BaseException) -> list[WrongItems]:
    """The WrongItems in ``exc``, looking inside the groups the SDK client's task groups raise."""
    if isinstance(exc, WrongItems):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [found for inner in exc.exceptions for found in _wrong_items(inner)]
    return []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sandbox is not None:
        serve_sandbox(args.serve_sandbox, args.items)
        return 0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        report = anyio.run(main_async, args)
    except (WrongItems, BaseExceptionGroup) as exc:
        wrong = _wrong_items(exc)
        if not wrong:
            raise
        for problem in wrong:
            print(f"pagination: wrong items: {problem}", file=sys.stderr)
        return 2
    print_summary(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + os.linesep)
    return 0 if report["target"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

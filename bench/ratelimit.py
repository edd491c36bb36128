"""Rate-limit benchmark: the governed ToolRunner against a plain exponential-backoff client.

Both clients make N read calls with C in flight against a sandbox limited to R requests
per W-second window. The sandbox runs as a separate process (``python -m truto_stripe_mcp
sandbox``) so the client being measured does not share a GIL with the server. Each run
starts from a fresh window (``POST /_sandbox/reset``), and 429s are read from the
sandbox's own counters (``GET /_sandbox/stats``), so both clients are judged by the same
server-side figures.

The plain client is what a naive integration does: on a 429, 5xx or connection error it
waits ``rand * min(cap, base * 2**(attempt-1))`` (full jitter, the same base, cap and
attempt budget as :class:`~truto_stripe_mcp.upstream.retry_policy.RetryPolicy`) and ignores every
rate-limit header.

    python -m bench.ratelimit                         # N=500, C=20, R=50, W=1, --repeat 3
    python -m bench.ratelimit -n 1000 -c 50 -r 100 --repeat 5 --json results.json

Figures are medians over the repetitions; ratios compare the two clients measured in the
same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from bench._common import SandboxProcess, bench_cache_dir, bench_state
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.errors import ToolError
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY
from truto_stripe_mcp.upstream.client import TrutoClient
from truto_stripe_mcp.upstream.retry_policy import RetryPolicy, backoff_delay

TOOL = "get_single_stripe_customer_by_id"
AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
TARGET_GOODPUT = 0.9  # fraction of R
TARGET_429_RATIO = 5.0  # plain / governed


@dataclass
class RunResult:
    """One client's figures for one repetition."""

    wall_s: float
    goodput_per_s: float
    goodput_fraction: float  # of the allowed rate R / W
    rate_limited: int  # 429s the sandbox answered
    upstream_requests: int
    retries: int
    failures: int


# -- the sandbox process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _control(url: str, method: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as http:
        response = await http.request(method, f"/_sandbox/{path}")
        response.raise_for_status()
        return dict(response.json())


async def fresh_window(url: str, window: float) -> None:
    """Let any window either client opened expire, then zero the sandbox's counters and window."""
    await anyio.sleep(window + 0.05)
    await _control(url, "POST", "reset")


# -- the two clients -------------------------------------------------------------------


async def drive(n: int, concurrency: int, call: Callable[[], Awaitable[bool]]) -> tuple[float, int]:
    """Run ``call`` n times with ``concurrency`` in flight; returns (wall seconds, failures)."""
    todo = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for _ in todo:
            if not await call():
                failures += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return time.perf_counter() - started, failures


async def run_governed(
    url: str, n: int, concurrency: int, window: float, deadline: float
) -> tuple[float, int, int]:
    """The real ToolRunner (validation, governor, retry loop) against the sandbox."""
    settings = load_settings(
        api_key=SANDBOX_API_KEY,
        integrated_account_id=SANDBOX_ACCOUNT_ID,
        base_url=url,
        deadline=deadline,
        max_wait=deadline,
        cache_dir=str(bench_cache_dir()),
        state=bench_state(),
    )
    api_key, account = settings.require_credentials()
    async with TrutoClient(base_url=url, api_key=api_key, integrated_account_id=account) as client:
        runner = ToolRunner(settings, client)
        await fresh_window(url, window)
        await runner.selected_tools()  # the catalog is loaded once per process, not per call
        await fresh_window(url, window)
        warmup_retries = runner.sender.retries

        async def call() -> bool:
            try:
                await runner.call(TOOL, {"id": JANE_CUSTOMER_ID})
            except ToolError:
                return False
            return True

        wall, failures = await drive(n, concurrency, call)
        return wall, failures, runner.sender.retries - warmup_retries


async def run_plain(url: str, n: int, concurrency: int) -> tuple[float, int, int]:
    """httpx with exponential backoff and full jitter on 429/5xx/transport errors, headers ignored."""
    policy = RetryPolicy()
    retries = 0
    path = f"/proxy/customers/{JANE_CUSTOMER_ID}"
    params = {"integrated_account_id": SANDBOX_ACCOUNT_ID}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30, limits=limits) as http:

        async def call() -> bool:
            nonlocal retries
            for attempt in range(1, policy.max_attempts + 1):
                try:
                    response = await http.get(path, params=params)
                    if response.status_code < 400:
                        return True
                    if response.status_code != 429 and response.status_code < 500:
                        return False
                except httpx.TransportError:
                    pass
                if attempt == policy.max_attempts:
                    return False
                retries += 1
                await anyio.sleep(
                    backoff_delay(attempt, policy.base_backoff, policy.max_backoff, random.random())
                )
            return False

        wall, failures = await drive(n, concurrency, call)
        return wall, failures, retries


# -- the benchmark ---------------------------------------------------------------------


async def measure(args: argparse.Namespace, url: str, client: str) -> RunResult:
    if client == "governed":
        wall, failures, retries = await run_governed(
            url, args.calls, args.concurrency, args.window, args.deadline
        )
    else:
        await fresh_window(url, args.window)
        wall, failures, retries = await run_plain(url, args.calls, args.concurrency)
    stats = await _control(url, "GET", "stats")
    goodput = (args.calls - failures) / wall
    return RunResult(
        wall_s=wall,
        goodput_per_s=goodput,
        goodput_fraction=goodput / (args.rate_limit / args.window),
        rate_limited=int(stats["rate_limited"]),
        upstream_requests=int(stats["total_requests"]),
        retries=retries,
        failures=failures,
    )


def median_of(results: list[RunResult]) -> dict[str, float]:
    return {name: statistics.median(getattr(r, name) for r in results) for name in asdict(results[0])}


def _ratio(num: float, den: float) -> float | None:
    if math.isnan(num) or math.isnan(den):
        return None
    if den == 0:
        return None if num == 0 else float("inf")
    return num / den


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[RunResult]] = {client: [] for client in args.clients}
    with SandboxProcess("--rate-limit", str(args.rate_limit), "--rate-window", str(args.window)) as sandbox:
        for rep in range(args.repeat):
            for client in args.clients:
                result = await measure(args, sandbox.url, client)
                runs[client].append(result)
                print(
                    f"# run {rep + 1}/{args.repeat} {client:8s} wall {result.wall_s:6.2f} s, "
                    f"goodput {result.goodput_fraction:.3f} R, 429s {result.rate_limited}, "
                    f"retries {result.retries}, failures {result.failures}",
                    file=sys.stderr,
                    flush=True,
                )
    medians = {client: median_of(results) for client, results in runs.items()}
    empty = dict.fromkeys(asdict(RunResult(0, 0, 0, 0, 0, 0, 0)), math.nan)
    governed, plain = medians.get("governed", empty), medians.get("plain", empty)
    ratios = {
        "429s_plain_over_governed": _ratio(plain["rate_limited"], governed["rate_limited"]),
        "goodput_governed_over_plain": _ratio(governed["goodput_per_s"], plain["goodput_per_s"]),
        "requests_plain_over_governed": _ratio(plain["upstream_requests"], governed["upstream_requests"]),
    }
    ratio_429 = ratios["429s_plain_over_governed"]
    target_met = (
        set(runs) == {"governed", "plain"}
        and governed["goodput_fraction"] >= TARGET_GOODPUT
        and governed["failures"] == 0
        and (ratio_429 is None or ratio_429 >= TARGET_429_RATIO)
    )
    windows = max(1, math.ceil(args.calls / args.rate_limit) - 1) * args.window
    return {
        "parameters": {
            "calls": args.calls,
            "concurrency": args.concurrency,
            "rate_limit": args.rate_limit,
            "window_s": args.window,
            "repeat": args.repeat,
            "deadline_s": args.deadline,
            "tool": TOOL,
            # The sandbox's window opens on the first request, so N calls fit in ceil(N/R)-1 full
            # windows plus a burst at the start of the last: a perfect client scores this.
            "ideal_goodput_fraction": args.calls / windows / (args.rate_limit / args.window),
        },
        "median": medians,
        "ratios": ratios,
        "runs": {client: [asdict(r) for r in results] for client, results in runs.items()},
        "target": {
            "goodput_fraction_min": TARGET_GOODPUT,
            "failures": 0,
            "429_ratio_min": TARGET_429_RATIO,
            "met": target_met,
        },
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "inf"
    return f"{value:.3f}" if not float(value).is_integer() else f"{int(value)}"


def print_summary(report: dict[str, Any]) -> None:
    """One line per figure, medians first, then the ratios and the verdict."""
    labels = {
        "wall_s": "wall time (s)",
        "goodput_per_s": "goodput (calls/s)",
        "goodput_fraction": "goodput / R",
        "rate_limited": "429s",
        "upstream_requests": "upstream requests",
        "retries": "retries",
        "failures": "failed calls",
    }
    p = report["parameters"]
    print(
        f"ratelimit: {p['calls']} calls, concurrency {p['concurrency']}, "
        f"R={p['rate_limit']} per {_fmt(p['window_s'])} s, medians of {p['repeat']} "
        f"(a perfect client: goodput {_fmt(p['ideal_goodput_fraction'])} R)"
    )
    for client in report["median"]:
        for key, label in labels.items():
            print(f"{client:8s} {label:20s} {_fmt(report['median'][client][key])}")
    for key, value in report["ratios"].items():
        print(f"ratio    {key:28s} {_fmt(value)}")
    print(f"target   {'met' if report['target']['met'] else 'NOT met'}")


def _json_safe(value: Any) -> Any:
    """Strict JSON has no Infinity or NaN: a ratio over zero 429s is written as "inf"."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else None
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--calls", type=int, default=500, help="tool calls per run (default 500)")
    parser.add_argument("-c", "--concurrency", type=int, default=20, help="calls in flight (default 20)")
    parser.add_argument("-r", "--rate-limit", type=int, default=50, help="requests per window (default 50)")
    parser.add_argument("-w", "--window", type=float, default=1.0, help="window length, s (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians reported (default 3)")
    parser.add_argument("--deadline", type=float, default=120.0, help="per-call deadline, s (default 120)")
    parser.add_argument(
        "--clients",
        type=lambda text: tuple(part for part in text.split(",") if part),
        default=("governed", "plain"),
        help="comma list of clients to run: governed,plain (default both; ratios need both)",
    )
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the runner's log on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the rest
    report = anyio.run(main_async, args)
    print_summary(report)
    if args.json:
        args.json.write_text(json.dumps(_json_safe(report), indent=2) + os.linesep)
    return 0 if report["target"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

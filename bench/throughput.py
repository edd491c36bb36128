"""Throughput: 1,000 tool calls with 32 in flight over one MCP session, stdio and streamable HTTP.

Every call is ``get_single_stripe_customer_by_id`` for the same customer, against one
sandbox process. Variants, all measured in the same run:

* **httpx** (the baseline): the same GETs made directly to the sandbox with
  ``httpx.AsyncClient``, 32 in flight: what the sandbox and this machine allow at all.
* **stdio**: the MCP SDK's ``Client`` over one stdio session to ``python -m truto_stripe_mcp``.
* **HTTP, one session**: the SDK's streamable HTTP client (``httpx2``, a bearer token as a
  header) against ``--transport http``, one ``Mcp-Session-Id`` for all calls.
* **HTTP, stateless**: the same against ``--transport http --stateless`` (no session; what
  several replicas behind a load balancer run).

Sessions use the 2025-11-25 handshake (``--mode auto`` lets the SDK pick 2026-07-28). Each
server is started once and warmed up with 2,000 calls (``--warmup``): httpx's connection pool
takes a few thousand requests at 32 in flight to settle (httpcore checks every pooled
connection on each request, so CPU per request falls as idle connections expire, from about
3.3 ms to 1.7 ms here). The repetitions then rotate the order of the variants so drift hits
all alike. Figures are medians over ``--repeat`` runs:
calls per second (1,000 over the wall time of the batch), and the median and p95 latency of
a single call inside the batch (queueing included, as a client sees it). CPU per call of the
server comes from ``/proc``; on this 2-core machine the server, the sandbox and this client
share the cores, so calls per second is a floor for a dedicated host.

    python -m bench.throughput                     # 1,000 calls, 32 in flight, --repeat 3; ~75 s
    python -m bench.throughput -n 2000 -c 64 --json throughput.json
    python -m bench.throughput --variants stdio,http
    python -m bench.throughput --variants stdio --sniffio-path /tmp/sniffio_test   # A/B: sniffio

``--sniffio-path DIR`` adds a second stdio server with DIR (holding the ``sniffio`` package)
on its ``PYTHONPATH``. Without sniffio, httpcore retries a failing ``import sniffio`` for
every lock and event it sets up, about 11 times per request at 32 in flight.

Exit status 0 when every call succeeded, 1 otherwise (there is no throughput target).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from bench._common import (
    AUTH,
    GET_TOOL,
    JANE_CUSTOMER_ID,
    REPO_ROOT,
    SANDBOX_ACCOUNT_ID,
    SandboxProcess,
    child_processes,
    cpu_seconds,
    free_port,
    line,
    machine,
    ms,
    server_env,
    stop,
    summarize,
    wait_for_port,
    write_json,
)

ARGUMENTS = {"id": JANE_CUSTOMER_ID}
BASELINE = "httpx direct"
VARIANTS = {"stdio": "stdio, one session", "http": "HTTP, one session", "stateless": "HTTP, stateless"}
SNIFFIO_VARIANT = "stdio, server with sniffio"

Call = Callable[[], Awaitable[bool]]


@dataclass
class Batch:
    """One batch of N calls: wall time, per-call latencies, failures, server CPU."""

    wall_s: float
    calls_per_s: float
    latency_median_s: float
    latency_p95_s: float
    failures: int
    server_cpu_per_call_s: float | None  # the MCP server process (None for the baseline)
    sandbox_cpu_per_call_s: float
    client_cpu_per_call_s: float  # this process: the SDK client (or httpx for the baseline)


async def run_batch(n: int, concurrency: int, call: Call, pid: int | None, sandbox_pid: int) -> Batch:
    """``n`` calls, ``concurrency`` workers pulling from one queue: a steady 32 in flight.

    CPU of the three processes is recorded because on 2 cores they compete: calls per
    second here is bounded by their sum, which a dedicated host would not be.
    """
    todo = iter(range(n))
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for _ in todo:
            begin = time.perf_counter()
            ok = await call()
            latencies.append(time.perf_counter() - begin)
            failures += not ok

    cpu_before = cpu_seconds(pid) if pid else 0.0
    sandbox_before, client_before = cpu_seconds(sandbox_pid), time.process_time()
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    figures = summarize(latencies)
    return Batch(
        wall_s=wall,
        calls_per_s=n / wall,
        latency_median_s=figures["median"],
        latency_p95_s=figures["p95"],
        failures=failures,
        server_cpu_per_call_s=(cpu_seconds(pid) - cpu_before) / n if pid else None,
        sandbox_cpu_per_call_s=(cpu_seconds(sandbox_pid) - sandbox_before) / n,
        client_cpu_per_call_s=client_cpu / n,
    )


# -- the variants ----------------------------------------------------------------------


def sdk_call(client: Client) -> Call:
    async def call() -> bool:
        result = await client.call_tool(GET_TOOL, ARGUMENTS)
        text = getattr(result.content[0], "text", "") if result.content else ""
        return not result.is_error and f'"id":"{JANE_CUSTOMER_ID}"' in text

    return call


def stdio_server_pid(known: set[int]) -> int:
    """The stdio server the SDK client just spawned: our child running truto_stripe_mcp in stdio mode.

    The sandbox and the HTTP servers are children too, told apart by their arguments;
    stdio servers spawned earlier are in ``known``.
    """
    found = [
        pid
        for pid, argv in child_processes()
        if b"truto_stripe_mcp" in argv and not {b"sandbox", b"--transport"} & set(argv) and pid not in known
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one stdio server child, found {found}")
    return found[0]


@asynccontextmanager
async def http_server(url: str, stateless: bool) -> AsyncIterator[tuple[str, str, int]]:
    """``--transport http`` on a free port with a fresh bearer token: (endpoint, token, pid)."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    argv = [sys.executable, "-m", "truto_stripe_mcp", "--transport", "http", "--port", str(port)]
    env = server_env(url, {"TRUTO_MCP_HTTP_TOKEN": token})
    proc = subprocess.Popen(
        [*argv, *(["--stateless"] if stateless else [])],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "the HTTP server")
        yield f"http://127.0.0.1:{port}/mcp", token, proc.pid
    finally:
        stop(proc)


async def open_variants(
    stack: AsyncExitStack, url: str, names: list[str], mode: str, sniffio_path: Path | None
) -> dict[str, tuple[Call, int | None]]:
    """Each requested variant ready to call, with the pid of its server (None for the baseline)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    http = await stack.enter_async_context(
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30, limits=limits)
    )
    path = f"/proxy/customers/{JANE_CUSTOMER_ID}"
    params = {"integrated_account_id": SANDBOX_ACCOUNT_ID}

    async def direct() -> bool:
        response = await http.get(path, params=params)
        return response.status_code == 200 and response.json().get("id") == JANE_CUSTOMER_ID

    variants: dict[str, tuple[Call, int | None]] = {BASELINE: (direct, None)}
    stdio_envs = {VARIANTS["stdio"]: server_env(url)} if "stdio" in names else {}
    if "stdio" in names and sniffio_path is not None:
        stdio_envs[SNIFFIO_VARIANT] = server_env(url, {"PYTHONPATH": str(sniffio_path)})
    known: set[int] = set()
    for label, env in stdio_envs.items():
        spawn = StdioServerParameters(
            command=sys.executable, args=["-m", "truto_stripe_mcp"], env=env, cwd=REPO_ROOT
        )
        client = await stack.enter_async_context(Client(spawn, mode=mode))  # type: ignore[arg-type]
        pid = stdio_server_pid(known)
        known.add(pid)
        variants[label] = (sdk_call(client), pid)
    for name in ("http", "stateless"):
        if name not in names:
            continue
        stateless = name == "stateless"
        endpoint, token, pid = await stack.enter_async_context(http_server(url, stateless))
        http_client = await stack.enter_async_context(
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"},
                timeout=httpx2.Timeout(30, read=300),
                limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64),
            )
        )
        transport = streamable_http_client(
            endpoint, http_client=http_client, terminate_on_close=not stateless
        )
        client = await stack.enter_async_context(Client(transport, mode=mode))  # type: ignore[arg-type]
        variants[VARIANTS[name]] = (sdk_call(client), pid)
    return variants


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with SandboxProcess() as sandbox:
        async with AsyncExitStack() as stack:
            variants = await open_variants(stack, sandbox.url, args.variants, args.mode, args.sniffio_path)
            for call, _ in variants.values():  # catalog, connection pools (they settle slowly), caches
                await run_batch(args.warmup, args.concurrency, call, None, sandbox.pid)
            runs: dict[str, list[Batch]] = {name: [] for name in variants}
            names = list(variants)
            for rep in range(args.repeat):
                shift = rep % len(names)
                for name in names[shift:] + names[:shift]:
                    call, pid = variants[name]
                    batch = await run_batch(args.calls, args.concurrency, call, pid, sandbox.pid)
                    runs[name].append(batch)
                    print(
                        f"# run {rep + 1}/{args.repeat} {name:20s} {batch.calls_per_s:7.1f} calls/s, "
                        f"p95 {ms(batch.latency_p95_s)}, failures {batch.failures}",
                        file=sys.stderr,
                        flush=True,
                    )
    medians = {name: _median(batches) for name, batches in runs.items()}
    base = medians[BASELINE]["calls_per_s"]
    failures = sum(batch.failures for batches in runs.values() for batch in batches)
    return {
        "parameters": {
            "calls": args.calls,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "mode": args.mode,
            "warmup": args.warmup,
            "tool": GET_TOOL,
        },
        "machine": machine(),
        "median": medians,
        "ratios_calls_per_s_over_baseline": {
            name: figures["calls_per_s"] / base for name, figures in medians.items() if name != BASELINE
        },
        "runs": {name: [asdict(batch) for batch in batches] for name, batches in runs.items()},
        "failures": failures,
    }


def _median(batches: list[Batch]) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    for key in asdict(batches[0]):
        values = [getattr(batch, key) for batch in batches]
        figures[key] = None if values[0] is None else statistics.median(values)
    return figures


def print_summary(report: dict[str, Any]) -> None:
    """Calls per second, p50/p95 latency and server CPU per variant, then the ratios."""
    p, m = report["parameters"], report["machine"]
    print(
        f"throughput: {p['calls']} x {p['tool']}, {p['concurrency']} in flight, medians of {p['repeat']} "
        f"(sessions: {'2025-11-25 handshake' if p['mode'] == 'legacy' else 'SDK auto'}); "
        f"{m['cpus']} cpus, Python {m['python']}, load {m['loadavg_1min']:.2f}"
    )
    for name, figures in report["median"].items():
        line(
            name,
            f"{figures['calls_per_s']:.0f} calls/s, latency median {ms(figures['latency_median_s'])}, "
            f"p95 {ms(figures['latency_p95_s'])}",
        )
    for name, figures in report["median"].items():
        server = figures["server_cpu_per_call_s"]
        line(
            f"CPU per call: {name}",
            (f"server {ms(server)}, " if server is not None else "")
            + f"sandbox {ms(figures['sandbox_cpu_per_call_s'])}, client {ms(figures['client_cpu_per_call_s'])}",
        )
    for name, ratio in report["ratios_calls_per_s_over_baseline"].items():
        line(f"ratio calls/s {name} / {BASELINE}", f"{ratio:.2f}x")
    line("failed calls", str(report["failures"]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--calls", type=int, default=1000, help="calls per batch (default 1000)")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="calls in flight (default 32)")
    parser.add_argument("--repeat", type=int, default=3, help="batches per variant; medians (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=2000, help="untimed calls per variant first (default 2000)"
    )
    parser.add_argument(
        "--variants",
        type=lambda text: [part for part in text.split(",") if part],
        default=list(VARIANTS),
        help="comma list of stdio,http,stateless (default all; the httpx baseline always runs)",
    )
    parser.add_argument(
        "--mode",
        choices=("legacy", "auto"),
        default="legacy",
        help="SDK client mode: legacy = 2025-11-25 handshake (default), auto = 2026-07-28 if offered",
    )
    parser.add_argument(
        "--sniffio-path",
        type=Path,
        metavar="DIR",
        help="also run a stdio server with DIR (holding sniffio) on its PYTHONPATH",
    )
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    if args.calls < 1 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--calls, --concurrency and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    report = anyio.run(measure, args)
    print_summary(report)
    write_json(args.json, report)
    return 0 if report["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Replicas: N server processes sharing one state against one account's rate limit.

Before shared state, three stateless HTTP replicas against an account limited to 20
requests/s each believed they had the whole budget: 1.67x the upstream requests, ~210 429s
and 2-4 % failed calls per 300 calls. This measures what the shared state changes.

**Goodput run.** One sandbox process limited to ``--limit`` requests per ``--window`` s (a
fixed window that opens on the first request after the last one ended). For each transport
(stateless HTTP via httpx, stdio via the MCP SDK's client), N (``--replicas``) and backend
(``memory``: each process alone, the baseline; ``sqlite``: one fresh file shared by the N
processes; ``redis``: a fresh DB of a ``redis-server`` this bench starts on loopback and
stops at exit): N fresh servers, each warmed (initialize, tools/list, one call) with the
limit already on, as a deployment that has served before is. Then a pause past the window
(no limiter reset, which would leave the state's window out of phase with the sandbox's),
so the sandbox opens a fresh window on the first measured request. Then ``--calls`` reads
(``get_single_stripe_customer_by_id``) round-robin over the N servers, ``--concurrency``
in flight in total. Upstream requests and 429s come from the sandbox's counters
(before/after), and "1st w" counts the 429s within one window of the first measured
request (the opening burst) apart from the steady state's; failed calls (an error result,
a JSON-RPC or HTTP error) are counted here. Goodput is successful calls per second over
the allowed rate: a perfect client scores a little above 1 (300 calls at 20/s take 14
full windows and a burst at the start of the 15th: 1.07).

**Per-call cost run.** One stdio server per backend (``memory`` always, as the baseline)
against one sandbox with no limit, spoken to with bare JSON-RPC lines. Reads, then unique
writes (``update_a_stripe_customer_by_id`` with a new ``metadata`` value each call,
approval off): every round calls each backend once, in a shuffled order, after a short gap
(``--gap-ms``; an agent's calls are spaced far wider). A read does two state operations
(reserve a slot, observe the response); a write four (also claim and settle its
idempotency key). Added = a backend's median minus ``memory``'s median in the same run;
server CPU per call (from ``/proc``) is shown beside (Redis's own CPU is not in it).

    python -m bench.replicas                                   # full matrix, ~5 min
    python -m bench.replicas --backends memory,sqlite --transports stdio --replicas 3
    python -m bench.replicas --only cost --rounds 1000 --json replicas.json

Exit status 0 only when the targets hold: with ``sqlite`` and ``redis``, for every transport
and N, goodput >= 0.95 of the limit, 429s <= 1 % of upstream requests and no failed call;
and each adds < 0.5 ms per call at the median over ``memory``, for reads and for writes.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from bench._common import (
    AUTH,
    GET_TOOL,
    JANE_CUSTOMER_ID,
    SandboxProcess,
    cpu_seconds,
    line,
    machine,
    ms,
    server_env,
    summarize,
    write_json,
)
from bench._replicas_servers import (
    READ_ARGS,
    RedisServer,
    http_replicas,
    is_jane,
    maybe_redis,
    state_for,
    stdio_replicas,
)
from bench.overhead import RawStdioSession

UPDATE_TOOL = "update_a_stripe_customer_by_id"
BACKENDS, TRANSPORTS, SHARED = ("memory", "sqlite", "redis"), ("http", "stdio"), ("sqlite", "redis")
TARGET_GOODPUT, TARGET_429_SHARE, TARGET_ADDED_S = 0.95, 0.01, 0.0005


# -- the goodput run -------------------------------------------------------------------


@dataclass
class GoodputRun:
    """One (transport, backend, N): the figures a reader compares across backends."""

    transport: str
    backend: str
    replicas: int
    wall_s: float
    calls: int
    failed: int
    upstream_requests: int
    rate_limited: int
    first_window_429s: int  # of those, in the first window (before any answer of this phase)
    share_429: float  # of upstream requests
    goodput: float  # successful calls per second over the allowed rate
    requests_per_call: float

    def target_met(self) -> bool | None:
        """None for ``memory``: the baseline has no target."""
        if self.backend not in SHARED:
            return None
        return self.goodput >= TARGET_GOODPUT and self.share_429 <= TARGET_429_SHARE and self.failed == 0


async def sandbox_counters(http: httpx.AsyncClient) -> tuple[int, int]:
    """(upstream requests, 429s) the sandbox has answered so far (control calls not counted)."""
    response = await http.get("/_sandbox/stats")
    response.raise_for_status()
    stats = response.json()
    return int(stats["total_requests"]), int(stats["rate_limited"])


async def first_window_429s(http: httpx.AsyncClient, last: int, window: float) -> int:
    """429s among the ``last`` requests that came within one window of the first of them:
    a miss there is the opening burst, one later is the steady state's."""
    if last == 0:
        return 0
    response = await http.get("/_sandbox/requests", params={"limit": last})
    response.raise_for_status()
    recorded = response.json()["result"]
    opened = min(item["timestamp"] for item in recorded)
    return sum(item["status"] == 429 and item["timestamp"] < opened + window for item in recorded)


async def goodput_run(
    args: argparse.Namespace, url: str, transport: str, backend: str, n: int, redis: RedisServer | None
) -> GoodputRun:
    state = state_for(backend, f"{transport}-{n}-{time.monotonic_ns()}", redis)
    replicas = http_replicas if transport == "http" else stdio_replicas
    async with replicas(n, url, state) as calls, httpx.AsyncClient(base_url=url, headers=AUTH) as control:
        for call in calls:
            if not await call():
                raise RuntimeError(f"the warm-up call failed ({transport}, {backend})")
        # Past the window: the sandbox opens a fresh one on the first measured request.
        await anyio.sleep(args.window * 1.5)
        requests_before, limited_before = await sandbox_counters(control)
        todo = iter(range(args.calls))
        failed = 0

        async def worker() -> None:
            nonlocal failed
            for index in todo:
                failed += not await calls[index % n]()

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(args.concurrency):
                group.start_soon(worker)
        wall = time.perf_counter() - started
        requests_after, limited_after = await sandbox_counters(control)
        upstream, limited = requests_after - requests_before, limited_after - limited_before
        opening = await first_window_429s(control, upstream, args.window)
    return GoodputRun(
        transport=transport,
        backend=backend,
        replicas=n,
        wall_s=wall,
        calls=args.calls,
        failed=failed,
        upstream_requests=upstream,
        rate_limited=limited,
        first_window_429s=opening,
        share_429=limited / upstream if upstream else 0.0,
        goodput=(args.calls - failed) / wall / (args.limit / args.window),
        requests_per_call=upstream / args.calls,
    )


# -- the per-call cost run -------------------------------------------------------------


async def cost_run(
    args: argparse.Namespace, backends: list[str], redis: RedisServer | None
) -> dict[str, Any]:
    """Each backend's stdio server, interleaved round by round: reads first, then unique writes."""
    rng = random.Random(args.seed)
    samples: dict[str, dict[str, list[float]]] = {"read": {}, "write": {}}
    cpu: dict[str, dict[str, float]] = {"read": {}, "write": {}}
    with SandboxProcess() as sandbox:
        async with AsyncExitStack() as stack:
            servers: dict[str, RawStdioSession] = {}
            for backend in backends:
                env = server_env(
                    sandbox.url,
                    {
                        "TRUTO_MCP_STATE": state_for(backend, "cost", redis),
                        "TRUTO_MCP_TOOLS": f"{GET_TOOL},{UPDATE_TOOL}",
                    },
                )
                servers[backend] = await stack.enter_async_context(RawStdioSession(env))
            counter = 0

            async def call(kind: str, backend: str) -> None:
                nonlocal counter
                counter += 1
                name, arguments = (GET_TOOL, READ_ARGS) if kind == "read" else (UPDATE_TOOL, None)
                if arguments is None:
                    arguments = {"id": JANE_CUSTOMER_ID, "metadata": {"bench_round": f"{backend}-{counter}"}}
                result = await servers[backend].request("tools/call", {"name": name, "arguments": arguments})
                if not is_jane(result):
                    raise RuntimeError(f"{kind} on {backend} failed: {str(result)[:300]}")

            for kind in ("read", "write"):
                for backend in backends:
                    for _ in range(args.warmup):
                        await call(kind, backend)
                before = {backend: cpu_seconds(_pid(servers[backend])) for backend in backends}
                samples[kind] = {backend: [] for backend in backends}
                order = list(backends)
                for _ in range(args.rounds):
                    rng.shuffle(order)
                    for backend in order:
                        await anyio.sleep(args.gap_ms / 1000)  # the last call's after-work is done
                        begin = time.perf_counter()
                        await call(kind, backend)
                        samples[kind][backend].append(time.perf_counter() - begin)
                cpu[kind] = {
                    backend: (cpu_seconds(_pid(servers[backend])) - before[backend]) / args.rounds
                    for backend in backends
                }
    figures = {kind: {b: summarize(values) for b, values in per.items()} for kind, per in samples.items()}
    return {
        "figures_s": figures,
        "added_median_s": {
            kind: {b: f["median"] - per["memory"]["median"] for b, f in per.items() if b != "memory"}
            for kind, per in figures.items()
        },
        "server_cpu_per_call_s": cpu,
    }


def _pid(session: RawStdioSession) -> int:
    assert session.proc is not None
    return session.proc.pid


# -- report ----------------------------------------------------------------------------


def print_summary(report: dict[str, Any]) -> None:
    """The goodput table, the per-call cost table, then the verdict."""
    p, m = report["parameters"], report["machine"]
    print(
        f"replicas: {m['cpus']} cpus, Python {m['python']}, load {m['loadavg_1min']:.2f} at start, "
        f"{report['load_at_end']:.2f} at end"
    )
    if report["goodput"]:
        print(
            f"goodput: {p['calls']} x {GET_TOOL}, {p['concurrency']} in flight round-robin, "
            f"limit {p['limit']} per {p['window']:g} s"
        )
        print(
            f"{'transport':9s} {'backend':7s} {'N':>2s} {'wall s':>7s} {'goodput':>7s} {'upstream':>8s} "
            f"{'429s':>5s} {'1st w':>5s} {'429 %':>6s} {'failed':>6s} {'req/call':>8s}  target"
        )
        for run in report["goodput"]:
            met = {None: "(baseline)", True: "met", False: "NOT met"}[GoodputRun(**run).target_met()]
            print(
                f"{run['transport']:9s} {run['backend']:7s} {run['replicas']:2d} {run['wall_s']:7.2f} "
                f"{run['goodput']:7.3f} {run['upstream_requests']:8d} {run['rate_limited']:5d} {run['first_window_429s']:5d} "
                f"{run['share_429'] * 100:6.2f} {run['failed']:6d} {run['requests_per_call']:8.2f}  {met}"
            )
    cost = report["cost"]
    if cost:
        print(
            f"per-call cost: stdio, {p['rounds']} interleaved rounds per kind, gap {p['gap_ms']:g} ms; "
            "median (p95), added = median minus memory's, server CPU per call"
        )
        for kind, per in cost["figures_s"].items():
            for backend, figure in per.items():
                added = cost["added_median_s"][kind].get(backend)
                line(
                    f"{kind:5s} {backend}",
                    f"{ms(figure['median'])} ({ms(figure['p95'])})"
                    + (f", added {ms(added)}" if added is not None else "")
                    + f", CPU {ms(cost['server_cpu_per_call_s'][kind][backend])}",
                )
    for name, met in report["targets"].items():
        line(f"target: {name}", "met" if met else "NOT met")


def targets(goodput: list[GoodputRun], cost: dict[str, Any] | None) -> dict[str, bool]:
    """Each target and whether it held (only those the chosen runs measure)."""
    out: dict[str, bool] = {}
    shared = [run for run in goodput if run.backend in SHARED]
    if shared:
        name = f"shared state: goodput >= {TARGET_GOODPUT} x limit, 429s <= 1 %, 0 failed"
        out[name] = all(run.target_met() for run in shared)
    for kind, added in (cost or {}).get("added_median_s", {}).items():
        for backend, value in added.items():
            out[f"{backend} adds < 0.5 ms per {kind} (median)"] = value < TARGET_ADDED_S
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
        def parse(text: str) -> list[str]:
            picked = [part for part in text.split(",") if part]
            if not picked or set(picked) - set(choices):
                raise argparse.ArgumentTypeError(f"a comma list of {','.join(choices)}")
            return picked

        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=20, help="sandbox requests per window (default 20)")
    parser.add_argument("--window", type=float, default=1.0, help="sandbox window, s (default 1)")
    parser.add_argument("--calls", type=int, default=300, help="calls per goodput run (default 300)")
    parser.add_argument("--concurrency", type=int, default=30, help="calls in flight in total (default 30)")
    parser.add_argument(
        "--replicas", type=lambda t: [int(x) for x in t.split(",")], default=[1, 3], help="default 1,3"
    )
    parser.add_argument(
        "--backends", type=names(BACKENDS), default=list(BACKENDS), help="default memory,sqlite,redis"
    )
    parser.add_argument(
        "--transports", type=names(TRANSPORTS), default=list(TRANSPORTS), help="default http,stdio"
    )
    parser.add_argument("--rounds", type=int, default=400, help="per-call cost rounds per kind (default 400)")
    parser.add_argument(
        "--warmup", type=int, default=30, help="untimed cost calls per server and kind (default 30)"
    )
    parser.add_argument(
        "--gap-ms", type=float, default=2.0, help="idle time before each cost call (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round shuffle (default 1)")
    parser.add_argument("--only", choices=("goodput", "cost"), help="run one part only")
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    if min(args.replicas) < 1 or args.calls < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--replicas, --calls, --concurrency and --rounds must be at least 1")
    return args


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[GoodputRun] = []
    cost: dict[str, Any] | None = None
    started_machine = machine()
    with maybe_redis(args.redis_server) as redis:
        if args.only != "cost":
            rate = ("--rate-limit", str(args.limit), "--rate-window", str(args.window))
            with SandboxProcess(*rate) as sandbox:
                for transport in args.transports:
                    for n in args.replicas:
                        for backend in args.backends:
                            run = await goodput_run(args, sandbox.url, transport, backend, n, redis)
                            runs.append(run)
                            print(
                                f"# {transport} {backend} N={n}: goodput {run.goodput:.3f}, "
                                f"429s {run.rate_limited}, failed {run.failed}",
                                file=sys.stderr,
                                flush=True,
                            )
        if args.only != "goodput":
            cost = await cost_run(args, ["memory", *(b for b in args.backends if b != "memory")], redis)
    return {
        "parameters": {k: v for k, v in vars(args).items() if k != "json"} | {"tool": GET_TOOL},
        "machine": started_machine,
        "load_at_end": machine()["loadavg_1min"],
        "goodput": [asdict(run) for run in runs],
        "cost": cost,
        "targets": targets(runs, cost),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args.redis_server = shutil.which("redis-server") if "redis" in args.backends else None
    if "redis" in args.backends and args.redis_server is None:
        print(
            "replicas: redis-server is not on PATH: install it, or leave redis out of --backends",
            file=sys.stderr,
        )
        return 2
    report = anyio.run(measure, args)
    print_summary(report)
    write_json(args.json, report)
    return 0 if report["targets"] and all(report["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Fault soak: thousands of mixed tool calls, 20 in flight, against a sandbox that misbehaves
at random; then the sandbox's state is compared with what every call reported.

The server is the real one (``python -m truto_stripe_mcp`` over stdio, the SDK's client);
the sandbox runs in this process so its store can be read afterwards. The calls, drawn from
a seeded generator: reads (lists and gets), customer creations, 1-cent refunds and
subscription cancellations, each write marked with its call number (``metadata.soak_call``)
so its effects can be counted. The faults, each applied to a share of matching requests
(seeded too): 429 with ``Retry-After`` in seconds, with ``Retry-After`` as an HTTP date,
with only ``ratelimit-*`` headers and with no header at all; 502 and 504; a write's
response dropped after it was committed; a connection reset before it; a response slower
than the server's timeout, after the write was committed.

What must hold, and is printed:

* zero duplicate mutations: no customer or refund created twice for one call, no
  subscription cancelled by two committed requests;
* zero calls lost: every call ends, inside its deadline, in a result or an error result
  with a message (never the server's "internal error");
* every reported success is in the store (the returned id holds that call's object);
* the server's memory stays flat (resident set sampled through the run).

    python -m bench.soak                        # 2,000 calls, about 2 minutes
    python -m bench.soak --calls 5000 --fault-rate 0.3 --json soak.json
    python -m bench.soak --processes 3 --kill-every 8   # restarts: 3 servers, one killed every 8 s

The restart mode spreads the calls over several servers sharing one state (the default
SQLite file, in a temporary directory) and kills one with SIGKILL at intervals, starting a
replacement: a call cut off that way is repeated on another server, as an agent would, and
the same checks apply (no write twice, none lost).

Exit status 0 when all of it holds. ``tests/test_soak.py`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from bench._common import line, machine, memory_mib, server_env, write_json
from bench._fleet import Fleet
from bench._soak_plan import CONCURRENCY, DEADLINE_S, LOST_AFTER_S, TIMEOUT_S, Call, faults, plan
from truto_stripe_mcp.sandbox import SandboxConfig, SandboxServer


async def run_call(fleet: Fleet, call: Call, lost_after: float) -> None:
    """One call, repeated as an agent would when its server dies under it (on another member)
    or when an identical call is still held by a server that died (after a pause)."""
    started = time.monotonic()
    result = None
    with anyio.move_on_after(lost_after) as scope:
        while True:
            try:
                result = await fleet.next_client().call_tool(call.tool, call.arguments)
            except Exception:  # the connection closed: the server was killed mid-call
                call.repeats += 1
                await anyio.sleep(0.2)
                continue
            first = result.content[0] if result.content else None
            if result.is_error and "has been in progress" in getattr(first, "text", ""):
                call.repeats += 1
                await anyio.sleep(2.0)
                continue
            break
    call.seconds = time.monotonic() - started
    if scope.cancelled_caught or result is None:
        call.outcome, call.message = "lost", f"no answer after {lost_after:.0f} s"
        return
    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
    call.message = text[:300]
    if result.is_error:
        call.outcome = "error"
        return
    call.outcome = "ok"
    data = json.loads(text)
    call.returned_id = data.get("id") if isinstance(data, dict) else None


# -- the run -------------------------------------------------------------------------------


@dataclass
class Memory:
    pid: int | None
    samples: list[tuple[int, float]] = field(default_factory=list)  # (calls done, RSS MiB)

    def sample(self, done: int) -> None:
        if self.pid is not None:
            self.samples.append((done, memory_mib(self.pid)["VmRSS"]))


async def soak(
    sandbox: SandboxServer,
    *,
    calls: int,
    fault_rate: float,
    seed: int,
    env: dict[str, str],
    processes: int = 1,
    kill_every: float = 0.0,
) -> dict[str, Any]:
    """Run the soak against ``sandbox`` (already serving) and return the report.

    ``processes`` servers share one state; with ``kill_every`` one of them is killed (SIGKILL)
    and replaced at that interval, and no server's memory is sampled (none lives long).
    """
    planned = plan(sandbox, calls, seed)
    # A killed server's writes stay held for their lease (deadline + timeout + 15 s) before an
    # identical repeat may take them over: a repeated call may need that long on top.
    lost_after = LOST_AFTER_S + (DEADLINE_S + TIMEOUT_S + 15.0 if kill_every > 0 else 0.0)
    started = time.monotonic()
    rng = random.Random(seed)
    async with anyio.create_task_group() as group:
        fleet = Fleet(env, processes, group)
        await fleet.start()
        memory = Memory(fleet.members[0].pid if kill_every <= 0 else None)
        memory.sample(0)
        for fault in faults(fault_rate):
            sandbox.sandbox.faults.inject(fault)
        pending = iter(planned)
        done = 0

        async def worker() -> None:
            nonlocal done
            for call in pending:  # the shared iterator hands each call to one worker
                await run_call(fleet, call, lost_after)
                done += 1
                if done % max(1, calls // 20) == 0:
                    memory.sample(done)

        async def killer() -> None:
            while True:
                await anyio.sleep(kill_every)
                await fleet.kill_one(rng)

        if kill_every > 0:
            group.start_soon(killer)
        async with anyio.create_task_group() as callers:
            for _ in range(CONCURRENCY):
                callers.start_soon(worker)
        sandbox.sandbox.faults.clear()
        memory.sample(done)
        fleet.close()
        group.cancel_scope.cancel()
    elapsed = time.monotonic() - started
    result = report(sandbox, planned, memory, elapsed, fault_rate, seed)
    result["parameters"].update({"processes": processes, "kill_every_s": kill_every})
    result["restarts"] = {
        "kills": fleet.kills,
        "calls_repeated": sum(call.repeats > 0 for call in planned),
        "repeats": sum(call.repeats for call in planned),
    }
    return result


def report(
    sandbox: SandboxServer, planned: list[Call], memory: Memory, elapsed: float, fault_rate: float, seed: int
) -> dict[str, Any]:
    store = sandbox.sandbox.store
    by_call: dict[str, Counter[str]] = {"customers": Counter(), "refunds": Counter()}
    for collection in by_call:
        for obj in store.list(collection):
            marker = (obj.get("metadata") or {}).get("soak_call")
            if marker is not None:
                by_call[collection][marker] += 1
    committed_cancels = Counter(
        r.path for r in sandbox.sandbox.requests if r.method == "DELETE" and r.committed
    )
    problems: list[str] = []
    effect_after_error = 0
    for call in planned:
        marker = str(call.number)
        if call.outcome == "lost":
            problems.append(f"call {call.number} ({call.tool}) lost: {call.message}")
        if call.outcome == "error" and (not call.message or "Internal error" in call.message):
            problems.append(f"call {call.number} ({call.tool}) ended in an unclear error: {call.message!r}")
        if call.kind in {"create", "refund"}:
            collection = "customers" if call.kind == "create" else "refunds"
            count = by_call[collection][marker]
            if count > 1:
                problems.append(f"call {call.number} ({call.tool}) created {count} {collection}")
            if call.outcome == "ok" and (
                count != 1 or not call.returned_id or store.get(collection, call.returned_id) is None
            ):
                problems.append(
                    f"call {call.number} ({call.tool}) reported {call.returned_id} but the store disagrees"
                )
            effect_after_error += call.outcome == "error" and count == 1
        if call.kind == "cancel":
            commits = sum(n for path, n in committed_cancels.items() if path.endswith(f"/{call.target}"))
            if commits > 1:
                problems.append(f"call {call.number} cancelled {call.target} {commits} times")
            subscription = store.get("subscriptions", call.target or "")
            if call.outcome == "ok" and (subscription is None or subscription["status"] != "canceled"):
                problems.append(f"call {call.number} reported {call.target} cancelled; the store disagrees")
            effect_after_error += call.outcome == "error" and commits == 1
    outcomes = Counter(f"{call.kind} {call.outcome}" for call in planned)
    rss = [mib for _, mib in memory.samples]
    warm = rss[min(2, len(rss) - 1)] if rss else None  # after the first tenth: imports, caches, pools
    return {
        "parameters": {
            "calls": len(planned),
            "concurrency": CONCURRENCY,
            "fault_rate": fault_rate,
            "seed": seed,
        },
        "machine": machine(),
        "elapsed_s": elapsed,
        "outcomes": dict(sorted(outcomes.items())),
        "error_messages": Counter(
            _kind_of(call.message) for call in planned if call.outcome == "error"
        ).most_common(8),
        "slowest_call_s": max(call.seconds for call in planned),
        "sandbox": sandbox.sandbox.log.stats(),
        "mutations_with_effect_after_an_error_result": effect_after_error,
        "memory_mib": {
            "start": rss[0],
            "after_warmup": warm,
            "end": rss[-1],
            "max": max(rss),
            "samples": memory.samples,
        }
        if rss
        else None,
        "problems": problems,
    }


def _kind_of(message: str) -> str:
    """An error message without its ids and numbers, to count kinds."""
    words = [w for w in message.split()[:12] if not any(ch.isdigit() for ch in w)]
    return " ".join(words)


def print_summary(result: dict[str, Any]) -> None:
    p = result["parameters"]
    fleet = f"{p['processes']} server(s) sharing state" + (
        f", one killed every {p['kill_every_s']:g} s" if p["kill_every_s"] else ""
    )
    print(
        f"soak: {p['calls']} calls, {p['concurrency']} in flight, fault rate {p['fault_rate']}, seed {p['seed']}; "
        f"{fleet}; {result['machine']['cpus']} cpus"
    )
    line("elapsed", f"{result['elapsed_s']:.1f} s (slowest call {result['slowest_call_s']:.1f} s)")
    for outcome, count in result["outcomes"].items():
        line(f"  {outcome}", str(count))
    stats = result["sandbox"]
    line("upstream requests / faults applied", f"{stats['total_requests']} / {stats['faults_applied']}")
    line(
        "writes done although the call reported an error",
        str(result["mutations_with_effect_after_an_error_result"]),
    )
    for message, count in result["error_messages"]:
        line(f"  error: {message[:60]}", str(count))
    m = result["memory_mib"]
    if m is not None:
        line(
            "server RSS start / after warm-up / end / max",
            f"{m['start']:.1f} / {m['after_warmup']:.1f} / {m['end']:.1f} / {m['max']:.1f} MiB",
        )
    r = result.get("restarts")
    if r and result["parameters"].get("kill_every_s"):
        line("servers killed and restarted", str(r["kills"]))
        line("calls repeated after their server died / repeats", f"{r['calls_repeated']} / {r['repeats']}")
    line("problems (duplicates, lost, unclear, disagreements)", str(len(result["problems"])))
    for problem in result["problems"][:20]:
        print(f"  {problem}")


def soak_env(url: str) -> dict[str, str]:
    return server_env(
        url,
        {
            "TRUTO_MCP_TOOLSETS": "core",  # every tool the soak calls, listed (the SDK client checks)
            "TRUTO_MCP_TIMEOUT": str(TIMEOUT_S),
            "TRUTO_MCP_DEADLINE": str(DEADLINE_S),
            "TRUTO_MCP_MAX_ATTEMPTS": "6",
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--fault-rate", type=float, default=0.2, help="share of requests that misbehave (default 0.2)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="servers sharing one state, calls spread over them (default 1)",
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="SIGKILL one server at this interval and start a replacement (default 0: never)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    config = SandboxConfig(api_key="sandbox-api-key", account_id="sandbox-stripe", seed=args.seed)
    with SandboxServer(config) as sandbox:
        result = anyio.run(
            lambda: soak(
                sandbox,
                calls=args.calls,
                fault_rate=args.fault_rate,
                seed=args.seed,
                env=soak_env(sandbox.url),
                processes=args.processes,
                kill_every=args.kill_every,
            )
        )
    print_summary(result)
    write_json(args.json, result)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

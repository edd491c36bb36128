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

Exit status 0 when all of it holds. ``tests/test_soak.py`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from bench._common import REPO_ROOT, find_server_pid, line, machine, memory_mib, server_env, write_json
from truto_stripe_mcp.sandbox import Fault, SandboxConfig, SandboxServer

CONCURRENCY = 20
TIMEOUT_S = 1.5  # the server's upstream timeout: the slow fault outlasts it
DEADLINE_S = 20.0  # the server's per-call deadline (backoff included)
LOST_AFTER_S = DEADLINE_S + 15.0  # a call not finished by then is lost


def faults(rate: float) -> list[Fault]:
    """The misbehaviours, each on about its share of ``rate`` of the requests it matches."""
    share = {
        "429 seconds": 0.12,
        "429 http-date": 0.08,
        "429 ratelimit-reset": 0.08,
        "429 bare": 0.04,
        "502": 0.12,
        "504": 0.08,
        "drop after commit": 0.2,
        "reset before commit": 0.08,
        "slow after commit": 0.08,
    }
    p = {name: min(1.0, rate * value) for name, value in share.items()}
    proxy = "/proxy/"
    return [
        Fault(path=proxy, status=429, headers={"Retry-After": "1"}, probability=p["429 seconds"], times=None),
        Fault(path=proxy, status=429, retry_after_in=1, probability=p["429 http-date"], times=None),
        Fault(
            path=proxy,
            status=429,
            headers={"ratelimit-limit": "100;w=1", "ratelimit-remaining": "0", "ratelimit-reset": "1"},
            probability=p["429 ratelimit-reset"],
            times=None,
        ),
        Fault(path=proxy, status=429, probability=p["429 bare"], times=None),
        Fault(path=proxy, status=502, remote=True, probability=p["502"], times=None),
        Fault(path=proxy, status=504, probability=p["504"], times=None),
        *(
            Fault(
                method=verb,
                path=proxy,
                drop_after_commit=True,
                probability=p["drop after commit"],
                times=None,
            )
            for verb in ("POST", "DELETE")
        ),
        Fault(path=proxy, drop_before_commit=True, probability=p["reset before commit"], times=None),
        *(
            Fault(
                method=verb,
                path=proxy,
                delay=TIMEOUT_S + 0.5,
                commit_before_delay=True,
                probability=p["slow after commit"],
                times=None,
            )
            for verb in ("POST", "DELETE")
        ),
    ]


# -- the calls -----------------------------------------------------------------------------


@dataclass
class Call:
    number: int
    kind: str  # read, create, refund, cancel
    tool: str
    arguments: dict[str, Any]
    target: str | None = None  # the charge refunded or the subscription cancelled
    outcome: str = "pending"  # ok, error or lost
    message: str = ""
    returned_id: str | None = None
    seconds: float = 0.0


def plan(sandbox: SandboxServer, calls: int, seed: int) -> list[Call]:
    """The seeded mix: 45% reads, 25% creates, 15% refunds, 15% cancels (while any are left)."""
    rng = random.Random(seed)
    store = sandbox.sandbox.store
    customers = [c["id"] for c in store.list("customers")]
    charges = [c["id"] for c in store.list("charges")]
    refundable = [
        c["id"]
        for c in store.list("charges")
        if c["status"] == "succeeded"
        and not c["disputed"]
        and c["amount_captured"] - c["amount_refunded"] >= 100
    ]
    active = [
        s["id"] for s in store.list("subscriptions") if s["status"] in {"active", "trialing", "past_due"}
    ]
    rng.shuffle(active)
    out: list[Call] = []
    for number in range(calls):
        roll = rng.random()
        marker = {"soak_call": str(number)}
        if roll < 0.25:
            email = f"soak-{number}@example.com"
            out.append(
                Call(number, "create", "create_a_stripe_customer", {"email": email, "metadata": marker})
            )
        elif roll < 0.40 and refundable:
            charge = refundable[number % len(refundable)]
            arguments = {"charge": charge, "amount": 1, "metadata": marker}
            out.append(Call(number, "refund", "create_a_stripe_refund", arguments, target=charge))
        elif roll < 0.55 and active:
            subscription = active.pop()
            out.append(
                Call(
                    number,
                    "cancel",
                    "delete_a_stripe_subscription_by_id",
                    {"id": subscription},
                    target=subscription,
                )
            )
        else:
            read = rng.choice(
                [
                    ("list_all_stripe_customers", {"limit": 5}),
                    ("get_single_stripe_charge_by_id", {"id": rng.choice(charges)}),
                    ("list_all_stripe_charges", {"limit": 3, "customer": rng.choice(customers)}),
                ]
            )
            out.append(Call(number, "read", read[0], dict(read[1])))
    return out


async def run_call(client: Client, call: Call) -> None:
    started = time.monotonic()
    with anyio.move_on_after(LOST_AFTER_S) as scope:
        result = await client.call_tool(call.tool, call.arguments)
    call.seconds = time.monotonic() - started
    if scope.cancelled_caught:
        call.outcome, call.message = "lost", f"no answer after {LOST_AFTER_S:.0f} s"
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
    pid: int
    samples: list[tuple[int, float]] = field(default_factory=list)  # (calls done, RSS MiB)

    def sample(self, done: int) -> None:
        self.samples.append((done, memory_mib(self.pid)["VmRSS"]))


async def soak(
    sandbox: SandboxServer, *, calls: int, fault_rate: float, seed: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run the soak against ``sandbox`` (already serving) and return the report."""
    planned = plan(sandbox, calls, seed)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "truto_stripe_mcp"], env=env, cwd=REPO_ROOT
    )
    started = time.monotonic()
    async with Client(params) as client:
        memory = Memory(find_server_pid())
        await client.list_tools()  # the catalog, before any fault is injected
        memory.sample(0)
        for fault in faults(fault_rate):
            sandbox.sandbox.faults.inject(fault)
        pending = iter(planned)
        done = 0

        async def worker() -> None:
            nonlocal done
            for call in pending:  # the shared iterator hands each call to one worker
                await run_call(client, call)
                done += 1
                if done % max(1, calls // 20) == 0:
                    memory.sample(done)

        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENCY):
                group.start_soon(worker)
        sandbox.sandbox.faults.clear()
        memory.sample(done)
    elapsed = time.monotonic() - started
    return report(sandbox, planned, memory, elapsed, fault_rate, seed)


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
    warm = rss[min(2, len(rss) - 1)]  # after the first tenth of the run: imports, caches, pools
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
        },
        "problems": problems,
    }


def _kind_of(message: str) -> str:
    """An error message without its ids and numbers, to count kinds."""
    words = [w for w in message.split()[:12] if not any(ch.isdigit() for ch in w)]
    return " ".join(words)


def print_summary(result: dict[str, Any]) -> None:
    p = result["parameters"]
    print(
        f"soak: {p['calls']} calls, {p['concurrency']} in flight, fault rate {p['fault_rate']}, seed {p['seed']}; "
        f"{result['machine']['cpus']} cpus"
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
    line(
        "server RSS start / after warm-up / end / max",
        f"{m['start']:.1f} / {m['after_warmup']:.1f} / {m['end']:.1f} / {m['max']:.1f} MiB",
    )
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
            )
        )
    print_summary(result)
    write_json(args.json, result)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

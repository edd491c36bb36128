"""Per-call overhead: one ``get_single_stripe_customer_by_id`` over stdio against the same GET made with httpx.

Every variant fetches the same customer (``cus_sandbox_jane``) from the same sandbox
process, one call at a time:

* **httpx** (the baseline): ``GET /proxy/customers/{id}?integrated_account_id=...`` on a
  kept-alive ``httpx.AsyncClient``; the least any client pays for this answer.
* **runner**: ``ToolRunner.call`` in this process (validation, retry bookkeeping, timestamp
  annotation, budget), no MCP: our pipeline's share.
* **raw stdio**: a bare JSON-RPC ``tools/call`` written to a spawned server's stdin and its
  answer read from stdout, no SDK on this side: what the server adds, MCP layer included.
* **minimal SDK server** (not a fetch): a bare low-level SDK server whose tool returns
  Jane's shaped result from memory, over raw JSON-RPC: the MCP layer's own per-call cost,
  with no upstream request (compare it with "raw stdio" minus "runner").
* **SDK stdio, 2025-11-25** and **SDK stdio, 2026-07-28**: the MCP SDK's ``Client`` over a
  spawned server, with the handshake that today's clients use and with the newer
  per-request protocol (``mode="auto"``): what an agent pays, the SDK client's parsing and
  validation included.

Each variant is warmed up first (connections, the catalog, caches). The timed rounds then
call each variant once, in an order shuffled every round, so drift on a shared machine hits
all alike. A short gap before each call (``--gap-ms``, default 2) lets the previous call's
after-work finish (a stdio server still flushes and re-arms its reader after the answer is
out; on 2 cores that would land on whichever call comes next); an agent's calls are spaced
far wider than that. The added milliseconds are medians of a variant minus the baseline's median
from the same run. Server CPU per call comes from ``/proc`` (raw-stdio server), which other
load on the machine does not inflate.

    python -m bench.overhead                       # 500 rounds, about 20 s
    python -m bench.overhead -n 2000 --json overhead.json

``--sniffio-path DIR`` (a directory holding the ``sniffio`` package, e.g. from ``pip install
--target DIR sniffio``) adds one more raw-stdio server with DIR on its ``PYTHONPATH``: an A/B
in the same run of what the ``sniffio`` dependency would save. Without it, httpcore retries
a failing ``import sniffio`` (a walk of ``sys.path``) several times per request.

Exit status 0 when the SDK client over stdio (2025-11-25) adds under 2 ms at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client, StdioServerParameters

from bench._common import (
    AUTH,
    GET_TOOL,
    INITIALIZED,
    JANE_CUSTOMER_ID,
    REPO_ROOT,
    SANDBOX_ACCOUNT_ID,
    SANDBOX_API_KEY,
    SandboxProcess,
    bench_cache_dir,
    bench_state,
    cpu_seconds,
    initialize_request,
    jsonrpc_line,
    line,
    machine,
    ms,
    server_env,
    summarize,
    write_json,
)
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.runner import ToolRunner, open_runner

TARGET_ADDED_S = 0.002
BASELINE = "httpx GET"
TARGET_VARIANT = "SDK stdio, 2025-11-25"
FLOOR = "minimal SDK server, raw JSON-RPC (no upstream)"
RAW = "raw JSON-RPC over stdio"
SNIFFIO_VARIANT = "raw JSON-RPC over stdio, server with sniffio"
ARGUMENTS = {"id": JANE_CUSTOMER_ID}

Call = Callable[[], Awaitable[None]]


class WrongAnswer(Exception):
    """A call did not return Jane: its latency would mean nothing."""


# The SDK's per-call floor: a low-level server whose one tool returns Jane's shaped result
# (handed over in BENCH_PAYLOAD) with no upstream request: JSON-RPC framing, dispatch,
# pydantic validation and serialisation of the same bytes, and nothing else.
MINIMAL_SERVER = """
import json, os
import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

PAYLOAD = json.loads(os.environ["BENCH_PAYLOAD"])
TEXT = json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False)

async def on_call_tool(ctx, params):
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=TEXT)], structured_content=PAYLOAD
    )

async def main():
    server = Server("floor", on_call_tool=on_call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())

anyio.run(main)
"""


class RawStdioSession:
    """A spawned server spoken to with bare JSON-RPC lines: no SDK on the client side.

    Sequential use only (one request in flight), which is what this benchmark needs; the
    answer is matched by id and notifications in between are skipped.
    """

    def __init__(self, env: dict[str, str], argv: tuple[str, ...] = ("-m", "truto_stripe_mcp")) -> None:
        self._env = env
        self._argv = argv
        self._next_id = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> RawStdioSession:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self._argv,
            cwd=REPO_ROOT,
            env=self._env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,
        )
        await self.request("initialize", initialize_request(0, "overhead-bench")["params"])
        await self._write(INITIALIZED)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    async def _write(self, message: dict[str, Any]) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(jsonrpc_line(message))
        await self.proc.stdin.drain()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc and self.proc.stdout
        self._next_id += 1
        request_id = self._next_id
        await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                raise RuntimeError("the server closed stdout")
            message = json.loads(raw)
            if message.get("id") == request_id:
                if "error" in message:
                    raise WrongAnswer(f"{method} failed: {message['error']}")
                return dict(message["result"])


def _check_text(text: str, where: str) -> None:
    if f'"id":"{JANE_CUSTOMER_ID}"' not in text:
        raise WrongAnswer(f"{where}: not Jane: {text[:300]}")


async def build_variants(
    stack: AsyncExitStack, url: str, sniffio_path: Path | None
) -> tuple[dict[str, Call], int]:
    """The ways to fetch Jane (and the SDK's floor), each ready to call; also the raw-stdio server's pid."""
    env = server_env(url)
    http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30))
    path = f"/proxy/customers/{JANE_CUSTOMER_ID}"
    params = {"integrated_account_id": SANDBOX_ACCOUNT_ID}

    async def via_httpx() -> None:
        response = await http.get(path, params=params)
        response.raise_for_status()
        if response.json().get("id") != JANE_CUSTOMER_ID:  # parsed, as any client would
            raise WrongAnswer(f"{BASELINE}: not Jane: {response.text[:300]}")

    settings = load_settings(
        api_key=SANDBOX_API_KEY,
        integrated_account_id=SANDBOX_ACCOUNT_ID,
        base_url=url,
        log_level="WARNING",
        confirm="none",
        cache_dir=str(bench_cache_dir()),
        state=bench_state(),
    )
    runner: ToolRunner = await stack.enter_async_context(open_runner(settings))

    async def via_runner() -> None:
        outcome = await runner.call(GET_TOOL, ARGUMENTS)
        if outcome.data.get("id") != JANE_CUSTOMER_ID:
            raise WrongAnswer(f"runner: not Jane: {str(outcome.data)[:300]}")

    raw = await stack.enter_async_context(RawStdioSession(env))
    assert raw.proc
    payload = (await runner.call(GET_TOOL, ARGUMENTS)).data
    floor_env = {**env, "BENCH_PAYLOAD": json.dumps(payload)}
    floor = await stack.enter_async_context(RawStdioSession(floor_env, ("-c", MINIMAL_SERVER)))

    def raw_call(session: RawStdioSession, where: str) -> Call:
        async def via_raw() -> None:
            result = await session.request("tools/call", {"name": GET_TOOL, "arguments": ARGUMENTS})
            if result.get("isError"):
                raise WrongAnswer(f"{where}: {result}")
            _check_text(result["content"][0]["text"], where)

        return via_raw

    def sdk_call(client: Client, where: str) -> Call:
        async def via_sdk() -> None:
            result = await client.call_tool(GET_TOOL, ARGUMENTS)
            text = getattr(result.content[0], "text", "") if result.content else ""
            if result.is_error:
                raise WrongAnswer(f"{where}: {text[:300]}")
            _check_text(text, where)

        return via_sdk

    spawn = StdioServerParameters(
        command=sys.executable, args=["-m", "truto_stripe_mcp"], env=env, cwd=REPO_ROOT
    )
    legacy = await stack.enter_async_context(Client(spawn, mode="legacy"))
    modern = await stack.enter_async_context(Client(spawn, mode="auto"))
    if modern.session.protocol_version == legacy.session.protocol_version:
        raise RuntimeError(f"mode=auto negotiated {modern.session.protocol_version}, the same as legacy")
    if sniffio_path is not None:
        with_sniffio = {**env, "PYTHONPATH": str(sniffio_path)}
        sniffio_server = await stack.enter_async_context(RawStdioSession(with_sniffio))
        variants_extra = {SNIFFIO_VARIANT: raw_call(sniffio_server, SNIFFIO_VARIANT)}
    else:
        variants_extra = {}
    variants = {
        BASELINE: via_httpx,
        "runner in-process (no MCP)": via_runner,
        FLOOR: raw_call(floor, FLOOR),
        RAW: raw_call(raw, "raw stdio"),
        TARGET_VARIANT: sdk_call(legacy, TARGET_VARIANT),
        f"SDK stdio, {modern.session.protocol_version}": sdk_call(modern, "SDK stdio (modern)"),
        **variants_extra,
    }
    return variants, raw.proc.pid


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with SandboxProcess() as sandbox:
        async with AsyncExitStack() as stack:
            variants, raw_pid = await build_variants(stack, sandbox.url, args.sniffio_path)
            for call in variants.values():
                for _ in range(args.warmup):
                    await call()
            names = list(variants)
            samples: dict[str, list[float]] = {name: [] for name in names}
            raw_cpu = cpu_seconds(raw_pid)
            started = time.perf_counter()
            order = random.Random(args.seed)
            for _ in range(args.calls):
                order.shuffle(names)
                for name in names:
                    await anyio.sleep(args.gap_ms / 1000)  # let the last call's after-work finish
                    begin = time.perf_counter()
                    await variants[name]()
                    samples[name].append(time.perf_counter() - begin)
            wall = time.perf_counter() - started
            raw_cpu = cpu_seconds(raw_pid) - raw_cpu
    figures = {name: summarize(values) for name, values in samples.items()}
    base = figures[BASELINE]
    added = {
        name: {
            "median_s": figure["median"] - base["median"],
            "p95_s": figure["p95"] - base["p95"],
            "ratio_median": figure["median"] / base["median"],
        }
        for name, figure in figures.items()
        if name not in (BASELINE, FLOOR)
    }
    return {
        "parameters": {
            "calls": args.calls,
            "warmup": args.warmup,
            "gap_ms": args.gap_ms,
            "seed": args.seed,
            "tool": GET_TOOL,
            "arguments": ARGUMENTS,
        },
        "machine": machine(),
        "sniffio_importable": _sniffio_importable(),
        "figures_s": figures,
        "added_over_baseline": added,
        # The MCP layer's share, measured on its own (the minimal server), against the rest.
        "split_of_raw_stdio_median_s": {
            "raw_stdio": figures[RAW]["median"],
            "httpx": base["median"],
            "our_pipeline": added["runner in-process (no MCP)"]["median_s"],
            "mcp_layer": figures[FLOOR]["median"],
        },
        "raw_stdio_server_cpu_per_call_s": raw_cpu / args.calls,
        "sniffio_saves_median_s": (
            figures[RAW]["median"] - figures[SNIFFIO_VARIANT]["median"]
            if SNIFFIO_VARIANT in figures
            else None
        ),
        "wall_s": wall,
        "target": {
            "variant": TARGET_VARIANT,
            "added_median_max_s": TARGET_ADDED_S,
            "met": added[TARGET_VARIANT]["median_s"] < TARGET_ADDED_S,
        },
    }


def _sniffio_importable() -> bool:
    try:
        import sniffio  # noqa: F401
    except ImportError:
        return False
    return True


def print_summary(report: dict[str, Any]) -> None:
    """Median and p95 per variant, then what each adds over the baseline, then the verdict."""
    p, m = report["parameters"], report["machine"]
    print(
        f"overhead: {p['tool']} x {p['calls']} sequential calls per variant (after {p['warmup']} warm-up); "
        f"{m['cpus']} cpus, Python {m['python']}, load {m['loadavg_1min']:.2f}, "
        f"sniffio {'importable' if report['sniffio_importable'] else 'absent'}"
    )
    for name, figure in report["figures_s"].items():
        line(name, f"median {ms(figure['median'])}, p95 {ms(figure['p95'])}")
    for name, added in report["added_over_baseline"].items():
        line(
            f"added: {name}",
            f"{ms(added['median_s'])} at the median ({added['ratio_median']:.2f}x), {ms(added['p95_s'])} at p95",
        )
    split = report["split_of_raw_stdio_median_s"]
    line(
        "raw stdio = httpx + our pipeline + MCP layer",
        f"{ms(split['raw_stdio'])} ~ {ms(split['httpx'])} + {ms(split['our_pipeline'])} + {ms(split['mcp_layer'])}",
    )
    line("server CPU per call (raw stdio server)", ms(report["raw_stdio_server_cpu_per_call_s"]))
    if report["sniffio_saves_median_s"] is not None:
        line("sniffio importable in the server saves (median)", ms(report["sniffio_saves_median_s"]))
    target = report["target"]
    verdict = "met" if target["met"] else "NOT met"
    line(f"target: {target['variant']} adds < 2 ms (median)", verdict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--calls", type=int, default=500, help="timed calls per variant (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls per variant first (default 50)")
    parser.add_argument("--gap-ms", type=float, default=2.0, help="idle time before each call (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round shuffle (default 1)")
    parser.add_argument(
        "--sniffio-path",
        type=Path,
        metavar="DIR",
        help="also run a raw-stdio server with DIR (holding sniffio) on its PYTHONPATH",
    )
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    report = anyio.run(measure, args)
    print_summary(report)
    write_json(args.json, report)
    return 0 if report["target"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Cold start: from spawning ``python -m truto_stripe_mcp`` to the first ``tools/list`` answer.

That is what an agent's user waits for each time a client (Claude Desktop, Cursor) starts
the server. The client side is a raw JSON-RPC exchange over the child's pipes, as a real
client does it (``initialize``, wait for the answer, ``notifications/initialized``,
``tools/list``), with no SDK in this process, so the figure is the server's alone. The
sandbox runs in its own process, started once and warmed up, so the catalog fetch is a
loopback round trip.

Baselines, measured in the same run and interleaved with it so drift hits all alike:

* ``python -c "print('ready')"``: the interpreter's own start-up;
* ``import mcp.server.lowlevel, mcp.server.stdio``: the SDK modules any low-level stdio
  server must import (the floor this server cannot go below without patching the SDK);
* a minimal SDK server (one static tool) answering the same exchange: the floor for the
  whole figure.

Two starts of the server itself, interleaved: with no saved catalog (``truto-stripe-mcp``,
its cache directory emptied before every spawn, so the first tools/list waits for the
catalog from Truto), and with the disk copy a previous run saved (``truto-stripe-mcp, saved
catalog``: the first tools/list is answered from it and the catalog is refreshed from the
sandbox in the background), as when Claude Desktop restarts the server. Both use temporary
cache directories, never the user's. For each, ``after initialize`` is the time from the
``initialize`` answer to the ``tools/list`` answer: the catalog's share of the start,
without the noise of process start-up; the gain is also taken per round (cold minus saved,
from the same round) so that a busy moment on the machine slows both alike, and the order of
the starts in a round rotates. ``--tools-delay`` makes the sandbox's tools endpoint answer
that much later, as a remote Truto would.

Also measured: ``--sandbox`` (the in-process sandbox: seeding plus Starlette), ``--help``
(the CLI without the server) and ``import truto_stripe_mcp.serve.server``.

Then an import profile: the server runs the same exchange under ``python -X importtime``,
keeping the modules imported before ``tools/list`` was answered; each module's self time
is charged to the first category that matches it or the module that imported it (so
``h11``, pulled in by uvicorn, counts as the web stack). It shows what the first request
does not need: the SDK's ``mcp.server.lowlevel.server`` imports Starlette, its OAuth
routes and streamable HTTP at module level, and ``import mcp`` loads the SDK's client.

    python -m bench.cold_start                     # --repeat 10, about 75 s
    python -m bench.cold_start --repeat 5 --json cold_start.json
    python -m bench.cold_start --tools-delay 0.3   # the tools endpoint as far away as a remote Truto

Exit status 0 when the median spawn-to-tools/list is under the target (1.0 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    AUTH,
    INITIALIZED,
    REPO_ROOT,
    SandboxProcess,
    bench_cache_dir,
    initialize_request,
    jsonrpc_line,
    line,
    machine,
    server_env,
    summarize,
    write_json,
)

TARGET_S = 1.0
SDK_IMPORTS = "import mcp.server.lowlevel, mcp.server.stdio"

# The least a low-level SDK server can be: one static tool, no HTTP client, no settings.
MINIMAL_SERVER = """
import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

async def on_list_tools(ctx, params):
    tool = types.Tool(name="ping", input_schema={"type": "object", "properties": {}})
    return types.ListToolsResult(tools=[tool])

async def main():
    server = Server("floor", on_list_tools=on_list_tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())

anyio.run(main)
"""

# Module-name prefixes, most specific first. A module is charged to the first category
# matching its own name, else to its importer's category (see the module docstring).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("our sandbox (must be 0 without --sandbox)", ("truto_stripe_mcp.sandbox",)),
    ("truto_stripe_mcp (our modules)", ("truto_stripe_mcp",)),
    (
        "web stack: starlette, uvicorn, sse-starlette, click",
        ("starlette", "uvicorn", "sse_starlette", "click", "h11", "python_multipart", "multipart"),
    ),
    (
        "SDK HTTP transport, OAuth, OpenTelemetry",
        (
            "mcp.server.streamable_http",
            "mcp.server.streamable_http_manager",
            "mcp.server.sse",
            "mcp.server.auth",
            "mcp.shared.auth",
            "mcp.server._otel",
            "mcp.server.transport_security",
            "opentelemetry",
            "cryptography",
        ),
    ),
    ("SDK client side: mcp.client, httpx2", ("mcp.client", "httpx2", "httpcore2")),
    ("SDK MCPServer (decorator API, unused)", ("mcp.server.mcpserver",)),
    ("protocol models: mcp_types", ("mcp_types",)),
    ("rest of the SDK (mcp.*)", ("mcp",)),
    ("pydantic", ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions")),
    ("pydantic-settings (our config)", ("pydantic_settings", "dotenv")),
    (
        "jsonschema (argument checks)",
        ("jsonschema", "jsonschema_specifications", "referencing", "attr", "attrs", "rpds"),
    ),
    ("httpx (our Truto client)", ("httpx", "httpcore", "certifi", "idna")),
    ("anyio", ("anyio", "sniffio")),
)
OTHER = "stdlib and other"
NOT_NEEDED_FOR_STDIO = (
    "web stack: starlette, uvicorn, sse-starlette, click",
    "SDK HTTP transport, OAuth, OpenTelemetry",
    "SDK client side: mcp.client, httpx2",
    "SDK MCPServer (decorator API, unused)",
)


# -- timing one start ------------------------------------------------------------------


@dataclass
class Exchange:
    """One spawn: seconds from ``Popen`` to each answer, and what stderr said before the last."""

    initialize_s: float
    tools_list_s: float
    tools: int
    stderr_before_answer: list[str] = field(default_factory=list)


def _read_answer(stdout: Any, request_id: int) -> dict[str, Any]:
    while True:
        raw = stdout.readline()
        if not raw:
            raise RuntimeError("the server closed stdout before answering")
        message = json.loads(raw)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"request {request_id} failed: {message['error']}")
            return dict(message)


def spawn_to_tools_list(argv: Sequence[str], env: dict[str, str] | None = None) -> Exchange:
    """Spawn ``argv``, run the handshake and one ``tools/list``; the child is closed afterwards, untimed.

    stderr is drained by a thread (``-X importtime`` writes far more than a pipe holds);
    each line is stamped so the import profile can keep only what came before the answer.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    stamped: list[tuple[float, str]] = []
    stderr = proc.stderr

    def drain() -> None:
        for raw in stderr:
            stamped.append((time.perf_counter(), raw.decode(errors="replace")))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc.stdin.write(jsonrpc_line(initialize_request(0, "cold-start-bench")))
        proc.stdin.flush()
        _read_answer(proc.stdout, 0)
        initialized = time.perf_counter()
        proc.stdin.write(jsonrpc_line(INITIALIZED))
        proc.stdin.write(jsonrpc_line({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        proc.stdin.flush()
        answer = _read_answer(proc.stdout, 1)
        answered = time.perf_counter()
    except BaseException:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
        raise RuntimeError(
            f"{' '.join(argv[-3:])}: no tools/list answer; stderr: {''.join(s for _, s in stamped)[-800:]}"
        ) from None
    proc.stdin.close()  # end of input: the stdio server exits
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(timeout=5)
    return Exchange(
        initialize_s=initialized - started,
        tools_list_s=answered - started,
        tools=len(answer["result"]["tools"]),
        stderr_before_answer=[text for stamp, text in stamped if stamp <= answered],
    )


def spawn_to_output(argv: Sequence[str]) -> float:
    """Seconds from spawn to the child's first line of output, for commands that only start.

    Not to exit: tearing down an interpreter that holds the SDK's pydantic models takes a
    few hundred milliseconds, which no client waits for. Unbuffered so the line leaves the
    child when it is printed.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout
    first = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdout.read()
    if proc.wait() != 0 or not first:
        raise RuntimeError(f"{' '.join(argv)} failed (status {proc.returncode})")
    return elapsed


# -- the import profile ----------------------------------------------------------------


@dataclass
class Module:
    name: str
    self_us: int
    cumulative_us: int
    parent: Module | None = None


def parse_importtime(lines: Sequence[str]) -> list[Module]:
    """``-X importtime`` output as modules with their importer.

    The output is post-order: a module's children are the lines one level deeper that
    come just before it, so a stack of pending children per level rebuilds the tree.
    """
    modules: list[Module] = []
    pending: dict[int, list[Module]] = defaultdict(list)
    for text in lines:
        if not text.startswith("import time:") or "self [us]" in text:
            continue
        self_us, cumulative_us, name_field = text.removeprefix("import time:").split("|", 2)
        name_field = name_field.rstrip("\n")
        level = (len(name_field) - len(name_field.lstrip(" ")) - 1) // 2
        module = Module(name_field.strip(), int(self_us), int(cumulative_us))
        for child in pending.pop(level + 1, []):
            child.parent = module
        pending[level].append(module)
        modules.append(module)
    return modules


def _matches(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def category_of(module: Module) -> str:
    """The first category matching the module or, failing that, its nearest importer."""
    node: Module | None = module
    while node is not None:
        for category, prefixes in CATEGORIES:
            if _matches(node.name, prefixes):
                return category
        node = node.parent
    return OTHER


def by_category(modules: Sequence[Module]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for module in modules:
        totals[category_of(module)] += module.self_us / 1000
    return dict(totals)


def importtime_lines(argv: Sequence[str], env: dict[str, str] | None, exchange: bool) -> list[str]:
    """``-X importtime`` lines of one run: up to the tools/list answer, or of a whole script."""
    if exchange:
        return spawn_to_tools_list(argv, env).stderr_before_answer
    done = subprocess.run(list(argv), cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stderr.splitlines()


def median_profile(runs: list[list[Module]]) -> dict[str, Any]:
    """Per-category and per-module medians over runs (``-X importtime`` itself is noisy)."""
    categories = [by_category(modules) for modules in runs]
    names = {name for totals in categories for name in totals}
    per_category = {name: statistics.median(totals.get(name, 0.0) for totals in categories) for name in names}
    per_module: dict[str, list[float]] = defaultdict(list)
    for modules in runs:
        for module in modules:
            per_module[module.name].append(module.self_us / 1000)
    module_median = {name: statistics.median(values) for name, values in per_module.items()}
    return {
        "total_ms": statistics.median(sum(m.self_us for m in modules) / 1000 for modules in runs),
        "modules": len(module_median),
        "by_category_ms": dict(sorted(per_category.items(), key=lambda item: -item[1])),
        "module_self_ms": module_median,
    }


def import_profile(
    server_argv: list[str], env: dict[str, str], runs: int, before_each: Callable[[], object]
) -> dict[str, Any]:
    """The server's imports up to the first tools/list answer, against the SDK floor's.

    ``before_each`` runs before each server start (emptying its catalog cache: a cold start).
    """
    server_runs = []
    for _ in range(runs):
        before_each()
        lines = importtime_lines([sys.executable, "-X", "importtime", *server_argv], env, True)
        server_runs.append(parse_importtime(lines))
    floor_runs = [
        parse_importtime(
            importtime_lines([sys.executable, "-X", "importtime", "-c", SDK_IMPORTS], None, False)
        )
        for _ in range(runs)
    ]
    server, floor = median_profile(server_runs), median_profile(floor_runs)
    extra = {
        name: value for name, value in server["module_self_ms"].items() if name not in floor["module_self_ms"]
    }
    top_self = sorted(server["module_self_ms"].items(), key=lambda item: -item[1])[:12]
    not_needed = sum(server["by_category_ms"].get(name, 0.0) for name in NOT_NEEDED_FOR_STDIO)
    return {
        "runs": runs,
        "server": {key: value for key, value in server.items() if key != "module_self_ms"},
        "sdk_floor": {key: value for key, value in floor.items() if key != "module_self_ms"},
        "top_modules_self_ms": dict(top_self),
        "above_sdk_floor": {
            "modules": len(extra),
            "total_ms": sum(extra.values()),
            "top_self_ms": dict(sorted(extra.items(), key=lambda item: -item[1])[:12]),
        },
        "not_needed_for_stdio_ms": not_needed,
    }


# -- the benchmark ---------------------------------------------------------------------


COLD = "truto-stripe-mcp"
WARM = "truto-stripe-mcp, saved catalog"
PAIRED_GAIN = "saved catalog gain, paired per round"


def slow_tools_endpoint(url: str, delay: float) -> None:
    """Every tools request answers ``delay`` seconds late (the sandbox's control API): the
    round trip to a remote Truto, which the loopback sandbox does not have."""
    fault = {"resource": "tools", "delay": delay, "times": None}
    request = urllib.request.Request(
        f"{url}/_sandbox/faults", data=json.dumps(fault).encode(), headers=AUTH, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def emptied(directory: Path) -> Path:
    """``directory``, empty: a cold start must not find a catalog copy saved by the previous spawn."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def run(args: argparse.Namespace) -> dict[str, Any]:
    python = sys.executable
    with SandboxProcess() as sandbox:
        if args.tools_delay:
            slow_tools_endpoint(sandbox.url, args.tools_delay)
        cold_cache, warm_cache = bench_cache_dir() / "cold", bench_cache_dir() / "warm"
        env = server_env(sandbox.url, {"TRUTO_MCP_CACHE_DIR": str(cold_cache)})
        warm_env = server_env(sandbox.url, {"TRUTO_MCP_CACHE_DIR": str(warm_cache)})
        env_in_process = server_env("http://unused.invalid", {"TRUTO_MCP_SANDBOX": "true"})
        server_argv = [python, "-m", "truto_stripe_mcp"]
        ready = "; print('ready')"
        # Starts: spawn to the first line printed. Exchanges: spawn to the tools/list answer.
        starts: dict[str, list[str]] = {
            "python start-up": [python, "-c", ready.removeprefix("; ")],
            "SDK imports (lowlevel + stdio)": [python, "-c", SDK_IMPORTS + ready],
            "import truto_stripe_mcp.serve.server": [
                python,
                "-c",
                "import truto_stripe_mcp.serve.server" + ready,
            ],
            "truto-stripe-mcp --help": [*server_argv, "--help"],
        }
        exchanges: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "minimal SDK server": ([python, "-c", MINIMAL_SERVER], None),
            COLD: (server_argv, env),
            WARM: (server_argv, warm_env),
            "truto-stripe-mcp --sandbox": (server_argv, env_in_process),
        }
        spawn_to_tools_list(server_argv, warm_env)  # the earlier run that leaves the saved catalog
        if not any(warm_cache.glob("catalog-*.json")):
            raise RuntimeError(f"the pre-filling run saved no catalog in {warm_cache}")
        samples: dict[str, list[float]] = defaultdict(list)
        tool_counts: dict[str, int] = {}
        for rep in range(-1, args.repeat):  # round -1 warms the page cache and bytecode caches
            for name, argv in starts.items():
                elapsed = spawn_to_output(argv)
                if rep >= 0:
                    samples[name].append(elapsed)
            ordered = list(exchanges.items())
            shift = max(rep, 0) % len(ordered)  # each variant takes each place in the round in turn
            for name, (argv, child_env) in ordered[shift:] + ordered[:shift]:
                if name == COLD:
                    emptied(cold_cache)
                exchange = spawn_to_tools_list(argv, child_env)
                tool_counts[name] = exchange.tools
                if rep >= 0:
                    samples[f"{name}: initialize"].append(exchange.initialize_s)
                    samples[f"{name}: tools/list"].append(exchange.tools_list_s)
                    if name in (COLD, WARM):  # the catalog's share, without the start-up's noise
                        samples[f"{name}: after initialize"].append(
                            exchange.tools_list_s - exchange.initialize_s
                        )
            if rep >= 0:
                # Paired within the round, so a busy moment slows both starts alike.
                samples[PAIRED_GAIN].append(
                    samples[f"{COLD}: tools/list"][-1] - samples[f"{WARM}: tools/list"][-1]
                )
                print(
                    f"# run {rep + 1}/{args.repeat}: tools/list at "
                    f"{samples[f'{COLD}: tools/list'][-1]:.3f} s, with the saved catalog "
                    f"{samples[f'{WARM}: tools/list'][-1]:.3f} s "
                    f"(SDK floor {samples['minimal SDK server: tools/list'][-1]:.3f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        if tool_counts[WARM] != tool_counts[COLD]:
            raise RuntimeError(
                f"the saved catalog listed {tool_counts[WARM]} tools, Truto's {tool_counts[COLD]}"
            )
        profile = None
        if args.importtime_runs:
            profile = import_profile(server_argv[1:], env, args.importtime_runs, lambda: emptied(cold_cache))
    figures = {name: summarize(values) for name, values in samples.items()}
    ours = figures[f"{COLD}: tools/list"]["median"]
    warm = figures[f"{WARM}: tools/list"]["median"]

    def over(name: str) -> float:
        return ours / figures[name]["median"]

    return {
        "parameters": {
            "repeat": args.repeat,
            "importtime_runs": args.importtime_runs,
            "tools_delay_s": args.tools_delay,
            "target_s": TARGET_S,
        },
        "machine": machine(),
        "figures_s": figures,
        "tools_listed": tool_counts,
        "ratios": {
            "ours_over_minimal_sdk_server": over("minimal SDK server: tools/list"),
            "ours_over_sdk_imports": over("SDK imports (lowlevel + stdio)"),
            "ours_over_python_startup": over("python start-up"),
            "saved_catalog_over_minimal_sdk_server": warm
            / figures["minimal SDK server: tools/list"]["median"],
        },
        "added_over_minimal_sdk_server_s": ours - figures["minimal SDK server: tools/list"]["median"],
        "saved_catalog_gain_s": ours - warm,
        "import_profile": profile,
        "target": {"tools_list_median_max_s": TARGET_S, "met": ours < TARGET_S},
    }


def print_summary(report: dict[str, Any]) -> None:
    """One line per figure: medians (min-max) first, then ratios, then the import profile."""
    p, m, figures = report["parameters"], report["machine"], report["figures_s"]
    print(
        f"cold start: spawn to answer, medians of {p['repeat']} (min-max); {m['cpus']} cpus, "
        f"Python {m['python']}, load {m['loadavg_1min']:.2f}; tools endpoint delay {p['tools_delay_s']:.3f} s"
    )
    for name, figure in figures.items():
        line(name, f"{figure['median']:.3f} s ({figure['min']:.3f}-{figure['max']:.3f})")
    ratios = report["ratios"]
    line("ratio ours / minimal SDK server (tools/list)", f"{ratios['ours_over_minimal_sdk_server']:.2f}x")
    line("ratio ours / SDK imports alone", f"{ratios['ours_over_sdk_imports']:.2f}x")
    line("ratio ours / python start-up", f"{ratios['ours_over_python_startup']:.1f}x")
    line("added over the minimal SDK server", f"{report['added_over_minimal_sdk_server_s'] * 1000:.0f} ms")
    line(
        "ratio with the saved catalog / minimal SDK server",
        f"{ratios['saved_catalog_over_minimal_sdk_server']:.2f}x",
    )
    line(
        "tools/list sooner with the saved catalog",
        f"{report['saved_catalog_gain_s'] * 1000:.0f} ms between medians, "
        f"{figures[PAIRED_GAIN]['median'] * 1000:.0f} ms paired (after initialize: "
        f"{figures[f'{COLD}: after initialize']['median'] * 1000:.0f} ms -> "
        f"{figures[f'{WARM}: after initialize']['median'] * 1000:.0f} ms)",
    )
    verdict = "met" if report["target"]["met"] else "NOT met"
    line("target: tools/list median < 1.0 s", verdict)
    profile = report["import_profile"]
    if not profile:
        return
    server, floor = profile["server"], profile["sdk_floor"]
    label = f"imports (-X importtime self time, medians of {profile['runs']})"
    line(label, f"server {server['total_ms']:.0f} ms in {server['modules']} modules")
    line("imports: SDK floor (lowlevel + stdio)", f"{floor['total_ms']:.0f} ms in {floor['modules']} modules")
    for name, value in server["by_category_ms"].items():
        line(f"imports by category: {name}", f"{value:.1f} ms")
    line("imports not needed for stdio (all from the SDK)", f"{profile['not_needed_for_stdio_ms']:.1f} ms")
    above = profile["above_sdk_floor"]
    line("imports above the SDK floor", f"{above['total_ms']:.1f} ms in {above['modules']} modules")
    for name, value in list(above["top_self_ms"].items())[:8]:
        line(f"  above floor: {name}", f"{value:.1f} ms")
    for name, value in list(profile["top_modules_self_ms"].items())[:8]:
        line(f"  top self: {name}", f"{value:.1f} ms")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="spawns per variant; medians (default 10)")
    parser.add_argument(
        "--importtime-runs", type=int, default=3, help="-X importtime runs, 0 to skip (default 3)"
    )
    parser.add_argument(
        "--tools-delay",
        type=float,
        default=0.0,
        help="seconds the sandbox's tools endpoint waits before answering, to model a remote Truto "
        "(default 0: loopback)",
    )
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_summary(report)
    write_json(args.json, report)
    return 0 if report["target"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

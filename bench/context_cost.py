"""What the tool list costs a model's context, per configuration.

Spawns the server over stdio against the in-process sandbox, sends a raw
``tools/list`` and measures the JSON-RPC result exactly as it crosses the wire (the
bytes a client hands to the model), for the default surface, ``--toolsets all`` and
``--discovery``. Also checks that every selected tool stays callable in discovery mode
(through ``call_tool``).

    python -m bench.context_cost [--json PATH]

Targets: default under 12 KB, --discovery under 6 KB (1 KB = 1024 bytes here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from bench._common import bench_cache_dir

CONFIGURATIONS: dict[str, list[str]] = {
    "default": [],
    "toolsets all": ["--toolsets", "all"],
    "discovery": ["--discovery"],
    "discovery, toolsets all": ["--discovery", "--toolsets", "all"],
}
TARGETS = {"default": 12 * 1024, "discovery": 6 * 1024}


def _exchange(args: list[str], requests: list[dict[str, Any]]) -> list[str]:
    """Raw stdout lines answering ``requests`` (after the handshake), in order."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUTO_")}
    env["TRUTO_MCP_LOG_LEVEL"] = "WARNING"
    env["TRUTO_MCP_CACHE_DIR"] = str(bench_cache_dir())  # --sandbox keeps no copy; this is a safeguard
    process = subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp", "--sandbox", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdin and process.stdout
    handshake = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "context-cost", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    answers: dict[int, str] = {}
    for message in [*handshake, *requests]:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:
            while message["id"] not in answers:
                line = process.stdout.readline()
                parsed = json.loads(line)
                if "id" in parsed:
                    answers[parsed["id"]] = line
    process.stdin.close()
    process.wait(timeout=30)
    return [answers[message["id"]] for message in requests]


def measure(args: list[str]) -> dict[str, Any]:
    (line,) = _exchange(args, [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}])
    result = json.loads(line)["result"]
    wire = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
    return {"tools": len(result["tools"]), "bytes": len(wire), "approx_tokens": len(wire) // 4}


def discovery_reaches_everything() -> tuple[int, int]:
    """(callable, total): every tool of ``--toolsets all`` answered through call_tool/describe_tool."""
    (listing,) = _exchange(["--toolsets", "all"], [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}])
    names = [tool["name"] for tool in json.loads(listing)["result"]["tools"]]
    requests = [
        {
            "jsonrpc": "2.0",
            "id": index + 1,
            "method": "tools/call",
            "params": {"name": "describe_tool", "arguments": {"name": name}},
        }
        for index, name in enumerate(names)
        if name not in {"auto_paginate", "convert_timestamp"}
    ]
    answers = _exchange(["--discovery", "--toolsets", "all"], requests)
    reached = sum(1 for line in answers if not json.loads(line)["result"].get("isError"))
    return reached, len(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    options = parser.parse_args()
    figures: dict[str, Any] = {name: measure(args) for name, args in CONFIGURATIONS.items()}
    reached, total = discovery_reaches_everything()
    figures["discovery_reaches"] = {"callable": reached, "total": total}
    baseline = figures["toolsets all"]["bytes"]
    ok = reached == total
    for name, figure in figures.items():
        if name == "discovery_reaches":
            print(f"discovery reaches {reached}/{total} catalog tools through describe_tool/call_tool")
            continue
        target = TARGETS.get(name)
        verdict = "" if target is None else (" OK" if figure["bytes"] < target else " OVER TARGET")
        ok = ok and (target is None or figure["bytes"] < target)
        print(
            f"{name}: {figure['tools']} tools, {figure['bytes']:,} bytes (~{figure['approx_tokens']:,} tokens), "
            f"{figure['bytes'] / baseline:.2f}x of --toolsets all"
            + (f"; target < {target // 1024} KB{verdict}" if target else "")
        )
    if options.json:
        with open(options.json, "w") as file:
            json.dump(figures, file, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

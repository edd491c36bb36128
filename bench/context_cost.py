"""What the tool list costs a model's context, per configuration, on Stripe's whole catalog.

Spawns the server over stdio against the in-process sandbox (which serves the catalog
derived from Stripe's OpenAPI description), sends a raw ``tools/list`` and measures the
JSON-RPC result exactly as it crosses the wire (the bytes a client hands to the model),
for the default surface, the README's ``--toolsets core,sales``, ``--discovery``, and
``--toolsets all`` (which switches to discovery by itself above 80 tools; the full listing
is measured too, with the switch off). Then checks that the whole catalog stays reachable in discovery mode: every tool
the sandbox serves is described by ``describe_tool``, and every schema the server shows
(listed or described) is valid JSON Schema 2020-12.

    python -m bench.context_cost [--json PATH]

Targets: default at most 16 KB, --discovery at most 6 KB (1 KB = 1024 bytes here).
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
    # The README's one configuration for the seed's workflows (its Claude Desktop entry).
    "toolsets core,sales": ["--toolsets", "core,sales"],
    "discovery": ["--discovery"],
    "toolsets all": ["--toolsets", "all"],
    "toolsets all, listed in full": ["--toolsets", "all"],
}
FULL_LISTING = {
    "toolsets all, listed in full": {
        "TRUTO_MCP_DISCOVERY_THRESHOLD": "100000",
        "TRUTO_MCP_TOOLS_PAGE_SIZE": "0",
    }
}
TARGETS = {"default": 16 * 1024, "discovery": 6 * 1024}


def _exchange(
    args: list[str], requests: list[dict[str, Any]], extra_env: dict[str, str] | None = None
) -> list[str]:
    """Raw stdout lines answering ``requests`` (after the handshake), in order."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUTO_")}
    env["TRUTO_MCP_LOG_LEVEL"] = "WARNING"
    env.update(extra_env or {})
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


def measure(args: list[str], extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    (line,) = _exchange(args, [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}], extra_env)
    result = json.loads(line)["result"]
    wire = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
    invalid = [tool["name"] for tool in result["tools"] if not _valid_schema(tool["inputSchema"])]
    return {
        "tools": len(result["tools"]),
        "bytes": len(wire),
        "approx_tokens": len(wire) // 4,
        "invalid_schemas": invalid,
    }


def _valid_schema(schema: Any) -> bool:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


def discovery_reaches_everything() -> tuple[int, int, list[str]]:
    """(described, total, invalid): every tool the sandbox serves, through describe_tool."""
    from truto_stripe_mcp.sandbox import TOOLS

    requests = [
        {
            "jsonrpc": "2.0",
            "id": index + 1,
            "method": "tools/call",
            "params": {"name": "describe_tool", "arguments": {"name": tool["name"]}},
        }
        for index, tool in enumerate(TOOLS)
    ]
    answers = _exchange(["--discovery", "--toolsets", "all"], requests)
    reached, invalid = 0, []
    for line in answers:
        result = json.loads(line)["result"]
        if result.get("isError"):
            continue
        reached += 1
        described = result["structuredContent"]
        if not _valid_schema(described["inputSchema"]):
            invalid.append(described["name"])
    return reached, len(requests), invalid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    options = parser.parse_args()
    figures: dict[str, Any] = {
        name: measure(args, FULL_LISTING.get(name)) for name, args in CONFIGURATIONS.items()
    }
    reached, total, invalid = discovery_reaches_everything()
    figures["discovery_reaches"] = {"described": reached, "total": total, "invalid_schemas": invalid}
    ok = reached == total and not invalid
    for name, figure in figures.items():
        if name == "discovery_reaches":
            print(
                f"discovery reaches {reached}/{total} catalog tools through describe_tool; "
                f"{len(invalid)} described schemas invalid"
            )
            continue
        target = TARGETS.get(name)
        verdict = "" if target is None else (" OK" if figure["bytes"] <= target else " OVER TARGET")
        ok = ok and (target is None or figure["bytes"] <= target) and not figure["invalid_schemas"]
        print(
            f"{name}: {figure['tools']} tools, {figure['bytes']:,} bytes (~{figure['approx_tokens']:,} tokens), "
            f"{len(figure['invalid_schemas'])} invalid schemas"
            + (f"; target at most {target:,} bytes{verdict}" if target else "")
        )
    if options.json:
        with open(options.json, "w") as file:
            json.dump(figures, file, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the MCP conformance suite's server scenarios that apply to this server, and judge them.

Used by .ci/conformance.sh, which starts the server; this script only talks to it:

    python conformance/run.py --url http://127.0.0.1:PORT/mcp --conformance PATH/TO/conformance

Every scenario that `conformance list --server` prints runs, except those in
conformance/not-applicable.yml. A scenario passes when the suite exits 0 and its checks hold
at least one SUCCESS and no FAILURE or WARNING; some scenarios also get a check of our own
below, so that they cannot pass on an empty answer.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NOT_APPLICABLE = HERE / "not-applicable.yml"
SNAPSHOT = HERE.parent / "tests" / "snapshots" / "tools_list.json"

_ENTRY = re.compile(r'^([a-z0-9][a-z0-9-]*):\s*"(.+)"\s*$')
_LISTED = re.compile(r"^\s+-\s+([a-z0-9][a-z0-9/_-]*)(?:\s+\[.*\])?\s*$")


def read_not_applicable(path: Path = NOT_APPLICABLE) -> dict[str, str]:
    """`scenario: "reason"` lines; comments and blank lines are skipped, anything else is an error."""
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise SystemExit(f'{path}:{number}: expected `scenario: "reason"`, got {line!r}')
        name, reason = match.groups()
        if name in entries:
            raise SystemExit(f"{path}:{number}: {name} is listed twice")
        entries[name] = reason
    return entries


def server_scenarios(conformance: str) -> list[str]:
    """The suite's server scenarios, in its own order (the part of `list --server` before the client list)."""
    out = subprocess.run([conformance, "list", "--server"], check=True, capture_output=True, text=True).stdout
    names: list[str] = []
    for line in out.splitlines():
        if line.strip().lower().startswith("client scenarios"):
            break
        match = _LISTED.match(line)
        if match:
            names.append(match.group(1))
    if not names:
        raise SystemExit(f"`conformance list --server` printed no scenarios:\n{out}")
    return names


def _tools_list(details: dict[str, Any]) -> str | None:
    # The server runs with --toolsets all: every tool of the reviewed snapshot must be listed.
    expected = [tool["name"] for tool in json.loads(SNAPSHOT.read_text())["toolsets all"]]
    got = details.get("tools") or []
    if got != expected:
        return f"listed {len(got)} tools, expected the {len(expected)} of {SNAPSHOT.name} ['toolsets all']"
    return None


def _resources_list(details: dict[str, Any]) -> str | None:
    uris = details.get("resources") or []
    if not uris or not all(str(uri).startswith("truto-stripe://") for uri in uris):
        return f"expected the server's truto-stripe:// resources, got {uris!r}"
    return None


# Checks of our own on the details a scenario records, keyed by the check id.
OWN_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "tools-list": _tools_list,
    "resources-list": _resources_list,
}


def judge(checks: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    statuses = [check.get("status") for check in checks]
    if "SUCCESS" not in statuses:
        problems.append("no successful check")
    for check in checks:
        status = check.get("status")
        if status in {"FAILURE", "WARNING"}:
            problems.append(
                f"{status} {check.get('id')}: {check.get('errorMessage') or check.get('description')}"
            )
        own = OWN_CHECKS.get(str(check.get("id")))
        if status == "SUCCESS" and own is not None:
            problem = own(check.get("details") or {})
            if problem:
                problems.append(f"{check.get('id')}: {problem}")
    return problems


def run_scenario(conformance: str, url: str, scenario: str, out: Path) -> tuple[int, list[str], str]:
    target = out / scenario.replace("/", "_")
    target.mkdir(parents=True)
    proc = subprocess.run(
        [conformance, "server", "--url", url, "--scenario", scenario, "--output-dir", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    results = sorted(target.glob("*/checks.json"))
    if len(results) != 1:
        return proc.returncode, [f"expected one checks.json, found {len(results)}"], proc.stdout + proc.stderr
    problems = judge(json.loads(results[0].read_text()))
    if proc.returncode != 0 and not problems:
        problems.append(f"the suite exited {proc.returncode}")
    return proc.returncode, problems, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server's MCP endpoint")
    parser.add_argument("--conformance", required=True, help="path to the suite's `conformance` command")
    parser.add_argument("--output-dir", type=Path, help="keep the suite's results here (default: a temp dir)")
    args = parser.parse_args(argv)

    skipped = read_not_applicable()
    listed = server_scenarios(args.conformance)
    stale = sorted(set(skipped) - set(listed))
    if stale:
        print(f"conformance/not-applicable.yml names scenarios the suite does not list: {', '.join(stale)}")
        return 1
    applicable = [name for name in listed if name not in skipped]

    out = args.output_dir or Path(tempfile.mkdtemp(prefix="conformance-"))
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for scenario in applicable:
        started = time.monotonic()
        _, problems, output = run_scenario(args.conformance, args.url, scenario, out)
        took = time.monotonic() - started
        if problems:
            failed.append(scenario)
            print(f"  FAIL {scenario} ({took:.1f} s)")
            for problem in problems:
                print(f"       {problem}")
            if problems[0].startswith("expected one checks.json"):
                print(
                    "       suite output:\n"
                    + "\n".join("         " + line for line in output.splitlines()[-30:])
                )
        else:
            print(f"  pass {scenario} ({took:.1f} s)")
    print(f"  not applicable: {len(skipped)} (reasons in conformance/not-applicable.yml)")
    print(f"conformance: {len(applicable) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

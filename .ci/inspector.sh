#!/usr/bin/env bash
# The MCP Inspector CLI (@modelcontextprotocol/inspector, pinned in .npm-tools/package.json)
# as a real client of the stdio server on the sandbox: tools/list must equal the reviewed
# snapshot (tests/snapshots/tools_list.json, "default") with no schema-portability error, and
# a tools/call must succeed with the charge it asked for. Uses `python` from the active
# environment (.ci/run activates its venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=.ci/npm-tools.sh
. "$ROOT/.ci/npm-tools.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The server's catalog copy (none with --sandbox) goes here, never to the user's cache directory.
export TRUTO_MCP_CACHE_DIR="$work/catalog-cache"
export TRUTO_MCP_STATE="sqlite:///$work/state.sqlite3"
# Keep the Inspector's catalog and client config out of $HOME.
export MCP_CATALOG_PATH="$work/mcp.json" MCP_CLIENT_CONFIG_PATH="$work/client.json"
PYTHON="$(command -v python)"
inspector() {
  # --cwd: `python -m` imports the package of this checkout (installed or not).
  "$TOOLS/node_modules/.bin/mcp-inspector" --cli --format json --cwd "$ROOT" \
    "$PYTHON" -m truto_stripe_mcp --sandbox "$@"
}

echo "inspector $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/inspector/package.json').version") on Node $(node --version), stdio server: $PYTHON -m truto_stripe_mcp --sandbox"
list_status=0
inspector --method tools/list --strict >"$work/list.json" 2>"$work/list.err" || list_status=$?
call_status=0
inspector --method tools/call --tool-name get_single_stripe_charge_by_id \
  --tool-arg id=ch_sandbox_jane_1 >"$work/call.json" 2>"$work/call.err" || call_status=$?

python - "$work" "$list_status" "$call_status" <<'EOF'
import json, sys
from pathlib import Path

work, list_status, call_status = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
passed = failed = 0


def report(name, problems, err):
    global passed, failed
    if problems:
        failed += 1
        print(f"  FAIL {name}")
        for problem in problems:
            print(f"       {problem}")
        print("       inspector stderr (last 20 lines):")
        for line in (work / err).read_text().splitlines()[-20:]:
            print(f"         {line}")
    else:
        passed += 1
        print(f"  pass {name}")


def result_of(path):
    try:
        return json.loads((work / path).read_text())["result"], None
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"no JSON result ({exc!r}): {(work / path).read_text()[:300]!r}"


problems = []
if list_status != 0:
    problems.append(f"inspector exited {list_status} (6 = a tool schema portability error)")
result, error = result_of("list.json")
if error:
    problems.append(error)
else:
    expected = json.loads(Path("tests/snapshots/tools_list.json").read_text())["default"]
    tools = result.get("tools") or []
    names, want = [t.get("name") for t in tools], [t["name"] for t in expected]
    if names != want:
        problems.append(f"tools {names} != the snapshot's {want}")
    else:
        problems += [f"{t['name']} differs from the snapshot" for t, e in zip(tools, expected) if t != e]
    if result.get("nextCursor"):
        problems.append("tools/list was paged; expected one page")
report(f"tools/list ({len((result or {}).get('tools') or [])} tools, equal to the reviewed snapshot)", problems, "list.err")

problems = []
if call_status != 0:
    problems.append(f"inspector exited {call_status} (5 = the tool returned isError: true)")
result, error = result_of("call.json")
if error:
    problems.append(error)
else:
    if result.get("isError") is not False:
        problems.append(f"isError is {result.get('isError')!r}, expected false")
    charge = result.get("structuredContent") or {}
    if charge.get("id") != "ch_sandbox_jane_1" or charge.get("object") != "charge":
        problems.append(f"structuredContent is not charge ch_sandbox_jane_1: {str(charge)[:200]}")
    texts = [c.get("text", "") for c in result.get("content") or [] if c.get("type") == "text"]
    try:
        text_id = json.loads(texts[0]).get("id") if texts else None
    except ValueError:
        text_id = None
    if text_id != "ch_sandbox_jane_1":
        problems.append(f"the text content is not the charge's JSON: {str(texts)[:200]}")
report("tools/call get_single_stripe_charge_by_id id=ch_sandbox_jane_1", problems, "call.err")

print(f"inspector: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF

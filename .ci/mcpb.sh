#!/usr/bin/env bash
# The MCP Bundle for one-click install in Claude Desktop: stage it (mcpb/stage.py: manifest,
# server/main.py, this package and its dependencies in server/lib for this Python and
# platform), validate the manifest and pack it with the pinned `mcpb` CLI
# (@anthropic-ai/mcpb in .npm-tools/package.json), then check the packed file: mcpb info
# reads it, it unpacks to manifest.json and server/main.py, and the unpacked bundle, started
# as its manifest says under `python -I -S` (no site-packages: everything must come from the
# bundle), answers initialize and lists every tool the manifest declares. Uses `python` from
# the active environment (.ci/run activates its venv first). Writes
# dist/truto-stripe-mcp-<version>-<platform>-py<X.Y>.mcpb (dist/ is git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=.ci/npm-tools.sh
. "$ROOT/.ci/npm-tools.sh"
MCPB="$TOOLS/node_modules/.bin/mcpb"

PYTHON="$(command -v python || command -v python3)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The server's catalog copy (none with --sandbox) goes here, never to the user's cache directory.
export TRUTO_MCP_CACHE_DIR="$work/catalog-cache"
export TRUTO_MCP_STATE="sqlite:///$work/state.sqlite3"

echo "mcpb $("$MCPB" --version) on Node $(node --version); staging with $PYTHON"
"$PYTHON" mcpb/stage.py stage "$work/bundle"
target="$("$PYTHON" -c 'import json, sys; t = json.load(open(sys.argv[1])); print("%s-py%s" % (t["platform"], t["python"]))' "$work/bundle/server/bundle.json")"
version="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' mcpb/manifest.json)"
out="$ROOT/dist/truto-stripe-mcp-$version-$target.mcpb"
mkdir -p "$ROOT/dist"
rm -f "$out"

failed=0
step() {
  # step LOG LABEL COMMAND...: run it with its output in $work/LOG.log; say pass or FAIL.
  local log="$work/$1.log" label="$2" status=0
  shift 2
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    echo "  pass $label"
  else
    failed=$((failed + 1))
    echo "  FAIL $label (exit $status); its output:"
    tail -30 "$log" | sed 's/^/       /'
  fi
}

step validate "mcpb validate mcpb/manifest.json" "$MCPB" validate mcpb/manifest.json
step validate-staged "mcpb validate of the staged manifest (compatibility narrowed to $target)" \
  "$MCPB" validate "$work/bundle/manifest.json"
step pack "mcpb pack" "$MCPB" pack "$work/bundle" "$out"
grep -E '^(package size|unpacked size|total files|shasum):' "$work/pack.log" | sed 's/^/       /' || true
step info "mcpb info" "$MCPB" info "$out"
step unpack "mcpb unpack" "$MCPB" unpack "$out" "$work/unpacked"

size=$(stat -c %s "$out" 2>/dev/null || stat -f %z "$out" 2>/dev/null || echo 0)
if [ "$size" -gt 1000000 ]; then
  echo "  pass $(basename "$out") is $((size / 1024)) KiB"
else
  failed=$((failed + 1))
  echo "  FAIL $(basename "$out") is missing or only $size bytes"
fi
missing=""
for file in manifest.json server/main.py server/bundle.json server/lib/truto_stripe_mcp/cli.py; do
  [ -f "$work/unpacked/$file" ] || missing="$missing $file"
done
if [ -z "$missing" ]; then
  echo "  pass the unpacked bundle has manifest.json, server/main.py, server/lib/truto_stripe_mcp"
else
  failed=$((failed + 1))
  echo "  FAIL the unpacked bundle lacks:$missing"
fi
step run "the unpacked bundle starts under python -I -S and lists the manifest's tools" \
  "$PYTHON" mcpb/stage.py check "$work/unpacked" --isolated
sed -n 's/^bundle check: /       /p' "$work/run.log"

if [ "$failed" -eq 0 ]; then
  echo "mcpb: $(basename "$out") ($((size / 1024)) KiB) validated, packed and started; 0 failed"
else
  echo "mcpb: $failed failed"
  exit 1
fi

#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# .npm-tools/package.json) against this server over streamable HTTP, serving the sandbox.
# Runs every server scenario except those in conformance/not-applicable.yml (each with its
# reason) and fails if any of them fails. Uses `python` from the active environment, which
# must be able to import truto_stripe_mcp (.ci/run activates its venv first).
#
# No bearer token: the suite's client cannot send an Authorization header, and its
# dns-rebinding-protection scenario targets loopback servers without authentication. The
# server therefore listens on 127.0.0.1 only, on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=.ci/npm-tools.sh
. "$ROOT/.ci/npm-tools.sh"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 22 ]; then
  echo "conformance: needs Node 22, got $(node --version) from $(command -v node)" >&2
  exit 1
fi

work="$(mktemp -d)"
# The server's catalog copy (none with --sandbox) goes here, never to the user's cache directory.
export TRUTO_MCP_CACHE_DIR="$work/catalog-cache"
export TRUTO_MCP_STATE="sqlite:///$work/state.sqlite3"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/mcp"
# --toolsets all: the tools-list scenario then checks every tool of the sandbox catalog.
env -u TRUTO_MCP_HTTP_TOKEN python -m truto_stripe_mcp --sandbox --transport http \
  --host 127.0.0.1 --port "$port" --toolsets all >"$work/server.log" 2>&1 &
server_pid=$!

# Wait until the server answers HTTP (any status will do), or give up after 30 s.
if ! python - "$url" "$server_pid" <<'EOF'; then
import os, sys, time, urllib.error, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited before answering")
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answered
    except OSError:
        time.sleep(0.1)
sys.exit("the server did not answer within 30 s")
EOF
  echo "conformance: could not start the server; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

echo "conformance suite $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/conformance/package.json').version") on Node $(node --version), server at $url"
status=0
python conformance/run.py --url "$url" --conformance "$TOOLS/node_modules/.bin/conformance" \
  --output-dir "$work/results" || status=$?
if [ "$status" -ne 0 ]; then
  echo "server log (last 40 lines):" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"

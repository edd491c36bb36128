# Sourced by the CI steps that run npm tools (conformance.sh, inspector.sh), with ROOT set to
# the repo: installs the pinned tools in .npm-tools once, and puts the pinned Node 22 (the
# npm package `node`, no system install) first on PATH, as both tools need Node >= 22.
TOOLS="$ROOT/.npm-tools"
if [ ! -d "$TOOLS/node_modules" ]; then
  echo "installing the pinned npm tools (npm ci --prefix .npm-tools)"
  npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error
fi
export PATH="$TOOLS/node_modules/node/bin:$PATH"

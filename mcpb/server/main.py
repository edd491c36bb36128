"""Entry point of the MCP Bundle (``mcpb/manifest.json``, ``server.entry_point``).

The host app runs ``python3 <bundle>/server/main.py`` with the user's settings in the
environment. The server and every dependency are vendored in ``server/lib`` by
``mcpb/stage.py``; ``server/bundle.json`` records the Python version and platform they were
built for, since compiled dependencies (pydantic-core, rpds-py) only load there. This file
is copied into the bundle as is, so it must stay importable by old interpreters too: it is
what tells a user on the wrong Python what is wrong instead of a traceback.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "lib")
MINIMUM = (3, 11)


def _target() -> dict:
    try:
        with open(os.path.join(HERE, "bundle.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _fail(message: str) -> int:
    sys.stderr.write("truto-stripe-mcp bundle: " + message + "\n")
    return 1


def main() -> int:
    running = "Python {}.{} on {} ({})".format(*sys.version_info[:2], sys.platform, sys.executable)
    if sys.version_info < MINIMUM:
        return _fail(
            "needs Python {}.{} or newer; it was started with {}.".format(*MINIMUM, running)
            + " Install a newer Python (python.org) or the PyPI package: pip install truto-stripe-mcp."
        )
    # First on the path: the vendored packages win over anything installed for this Python.
    sys.path.insert(0, LIB)
    try:
        from truto_stripe_mcp.cli import main as cli_main
    except ImportError as exc:
        target = _target()
        built = "Python {} on {}".format(target.get("python", "?"), target.get("platform", "?"))
        return _fail(
            f"cannot load the server ({exc}). This bundle was built for {built}; it was started "
            f"with {running}. Use the bundle built for your system, or the PyPI package: "
            "pip install truto-stripe-mcp."
        )
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())

"""The package's public names: importable from the package, lazily, whatever file holds them.

Pinned before the modules moved into folders (catalog, pipeline, upstream, local, serve):
code written against these names keeps working.
"""

from __future__ import annotations

import subprocess
import sys

import truto_stripe_mcp

PUBLIC = {
    "Catalog",
    "ConfigError",
    "InvalidArgumentsError",
    "ProxyRequest",
    "ProxyResponse",
    "Selection",
    "Settings",
    "TOOLSETS",
    "ToolError",
    "ToolRefusedError",
    "ToolRunner",
    "ToolSpec",
    "TrutoClient",
    "UnknownToolError",
    "UpstreamError",
    "__version__",
    "load_settings",
    "open_runner",
}


def test_the_public_names_are_exported() -> None:
    assert set(truto_stripe_mcp.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(truto_stripe_mcp, name) is not None, name


def test_the_public_names_keep_their_meaning() -> None:
    from truto_stripe_mcp import (
        Catalog,
        Settings,
        ToolError,
        ToolRunner,
        ToolSpec,
        TrutoClient,
        UpstreamError,
    )

    assert issubclass(UpstreamError, ToolError)
    assert Catalog.from_entries([]).names() == []
    spec = ToolSpec(name="list_all_stripe_customers", description="", resource="customers", method="list")
    assert spec.is_read and "limit" in spec.input_schema["properties"]
    assert callable(ToolRunner) and callable(TrutoClient) and Settings.model_fields


def test_importing_the_package_loads_nothing_heavy() -> None:
    """The re-exports are lazy: ``--help`` and the sandbox command do not pay for httpx or jsonschema."""
    code = (
        "import sys, truto_stripe_mcp, truto_stripe_mcp.config;"
        "print(sorted(m for m in ('httpx', 'jsonschema', 'mcp') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"

"""truto-stripe-mcp: Stripe billing for AI agents, through Truto, over MCP.

The public API is re-exported here, lazily: importing any submodule runs this file first,
and eager re-exports would load the runner, httpx and jsonschema for every command (the
``sandbox`` subcommand, ``--help``) whether it needs them or not. Each name is imported on
first access. The sandbox lives in ``truto_stripe_mcp.sandbox`` and is imported only when
asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__ below
    from .catalog.spec import Catalog, ToolSpec
    from .catalog.toolsets import TOOLSETS, Selection
    from .config import ConfigError, Settings, load_settings
    from .errors import InvalidArgumentsError, ToolError, ToolRefusedError, UnknownToolError, UpstreamError
    from .runner import ToolRunner, open_runner
    from .upstream.client import ProxyRequest, ProxyResponse, TrutoClient

_EXPORTS: dict[str, str] = {
    "Catalog": "catalog.spec",
    "ToolSpec": "catalog.spec",
    "ProxyRequest": "upstream.client",
    "ProxyResponse": "upstream.client",
    "TrutoClient": "upstream.client",
    "ConfigError": "config",
    "Settings": "config",
    "load_settings": "config",
    "InvalidArgumentsError": "errors",
    "ToolError": "errors",
    "ToolRefusedError": "errors",
    "UnknownToolError": "errors",
    "UpstreamError": "errors",
    "ToolRunner": "runner",
    "open_runner": "runner",
    "TOOLSETS": "catalog.toolsets",
    "Selection": "catalog.toolsets",
}


def __getattr__(name: str) -> Any:
    """Import a re-exported name on first use and keep it, so later lookups skip this."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "TOOLSETS",
    "Catalog",
    "ConfigError",
    "InvalidArgumentsError",
    "ProxyRequest",
    "ProxyResponse",
    "Selection",
    "Settings",
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
]

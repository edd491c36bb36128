"""truto-stripe-mcp: Stripe billing for AI agents, through Truto, over MCP.

The public API is re-exported here; the sandbox lives in ``truto_stripe_mcp.sandbox``
and is imported only when asked for.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .catalog import Catalog, ToolSpec
from .client import ProxyRequest, ProxyResponse, TrutoClient
from .config import ConfigError, Settings, load_settings
from .errors import InvalidArgumentsError, ToolError, ToolRefusedError, UnknownToolError, UpstreamError
from .runner import ToolRunner, open_runner
from .toolsets import TOOLSETS, Selection

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

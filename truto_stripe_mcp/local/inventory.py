"""The server's own tools, as data: which are always listed and which only in discovery mode.

Like github-mcp-server's inventory, the runner reads these lists and never names a tool.
"""

from __future__ import annotations

from .auto_paginate import AUTO_PAGINATE
from .convert_timestamp import CONVERT_TIMESTAMP
from .discovery import CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS
from .tools import LocalTool

ALWAYS_LISTED: tuple[LocalTool, ...] = (AUTO_PAGINATE, CONVERT_TIMESTAMP, DESCRIBE_TOOL)
"""Listed on every surface: ``describe_tool`` too, since tools/list folds nested fields away."""

DISCOVERY: tuple[LocalTool, ...] = (AUTO_PAGINATE, CONVERT_TIMESTAMP, CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS)
"""Listed in discovery mode: the helpers and the three tools that reach the whole catalog."""

BY_NAME: dict[str, LocalTool] = {tool.name: tool for tool in DISCOVERY}
DISCOVERY_ONLY = frozenset(tool.name for tool in DISCOVERY) - frozenset(tool.name for tool in ALWAYS_LISTED)
"""Callable only while discovery mode is on (``search_tools``, ``call_tool``)."""

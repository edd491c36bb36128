"""The server's own tools, as data: which are always listed and which only in discovery mode.

Like github-mcp-server's inventory, the runner reads these lists and never names a tool.
"""

from __future__ import annotations

from .auto_paginate import AUTO_PAGINATE
from .code_mode.run_code import RUN_CODE
from .convert_timestamp import CONVERT_TIMESTAMP
from .discovery import CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS
from .tools import LocalTool

ALWAYS_LISTED: tuple[LocalTool, ...] = (AUTO_PAGINATE, CONVERT_TIMESTAMP, DESCRIBE_TOOL)
"""Listed on every surface: ``describe_tool`` too, since tools/list folds nested fields away."""

DISCOVERY: tuple[LocalTool, ...] = (AUTO_PAGINATE, CONVERT_TIMESTAMP, CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS)
"""Listed in discovery mode: the helpers and the three tools that reach the whole catalog."""

CODE_MODE: tuple[LocalTool, ...] = (RUN_CODE,)
"""Listed and callable only with ``--code-mode``, next to the other listed tools."""

CODE_MODE_DISCOVERY: tuple[LocalTool, ...] = (DESCRIBE_TOOL, RUN_CODE, SEARCH_TOOLS)
"""With ``--code-mode`` and discovery, the whole listing: find a tool, read its schema, run a program."""

BY_NAME: dict[str, LocalTool] = {tool.name: tool for tool in (*DISCOVERY, *CODE_MODE)}
DISCOVERY_ONLY = frozenset(tool.name for tool in DISCOVERY) - frozenset(tool.name for tool in ALWAYS_LISTED)
"""Callable only while discovery mode is on (``search_tools``, ``call_tool``)."""
CODE_MODE_ONLY = frozenset(tool.name for tool in CODE_MODE)

"""``auto_paginate``: every page of a list tool in one call, bounded, with an exact resume cursor.

Agents assume page one is everything. This tool walks ``next_cursor`` through the same
pipeline as any call (validation, filters, backoff), up to ``max_items``, and says whether
the list is complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentsError
from ..pipeline.call import CallOutcome
from .pagination import MAX_ITEMS_LIMIT, MAX_PAGES_LIMIT, Walk, walk
from .tools import CallContext, LocalTool, ToolHost


async def paginate(
    host: ToolHost,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    max_items: int,
    max_pages: int,
    budget_chars: int | None,
    ctx: CallContext,
) -> Walk:
    """Walk a list tool through the runner's own call path (validation, filters, backoff)."""
    spec = await host.resolve(tool)
    if spec.method != "list":
        raise InvalidArgumentsError(
            "auto_paginate",
            [f"{tool} is a {spec.kind} tool; auto_paginate walks list tools (names start with list_all_)"],
        )

    async def fetch(page_arguments: dict[str, Any]) -> Mapping[str, Any]:
        outcome = await host.run(spec, page_arguments, on_wait=ctx.on_wait, budget=False)
        return outcome.data

    async def on_page(pages: int, count: int) -> None:
        if ctx.on_progress is not None:
            await ctx.on_progress(count, max_items, f"page {pages}: {count} items so far")

    return await walk(
        fetch,
        dict(arguments),
        max_items=max_items,
        max_pages=max_pages,
        budget_chars=budget_chars,
        on_page=on_page,
    )


async def _auto_paginate(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    # The input schema (validated by the runner) bounds both; these are the defaults.
    max_items = arguments.get("max_items", 1000)
    max_pages = arguments.get("max_pages", 100)
    inner = arguments.get("arguments") or {}
    # Leave room for the envelope and the note inside the response budget.
    budget = max(1_000, host.settings.result_budget - 1_500)
    tool = arguments["tool"]
    result = await paginate(
        host, tool, inner, max_items=max_items, max_pages=max_pages, budget_chars=budget, ctx=ctx
    )
    # The pages were encoded as they arrived (for the budget); the text reuses that work.
    return CallOutcome(result.as_result(tool), text=result.as_text(tool))


AUTO_PAGINATE = LocalTool(
    name="auto_paginate",
    title="Fetch every page of a list",
    agent_description=(
        "All pages of a list tool in one call, up to `max_items` (default 1000); says if the list is "
        "complete, else gives the `next_cursor` to resume."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "tool": {"type": "string", "description": "A list tool, e.g. list_all_stripe_charges"},
            "arguments": {"type": "object", "description": "Its arguments (filters, fields, next_cursor)"},
            "max_items": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS_LIMIT},
            "max_pages": {"type": "integer", "minimum": 1, "maximum": MAX_PAGES_LIMIT},
        },
        "required": ["tool"],
        "additionalProperties": False,
    },
    handler=_auto_paginate,
)

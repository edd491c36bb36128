"""Tools the server answers itself, next to Truto's catalog.

``convert_timestamp`` and ``auto_paginate`` fix what agents get wrong with Stripe data
(epoch arithmetic, assuming page one is everything). They are tools, not only
resources, because most clients let the model call tools but leave resources to the
user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgumentsError
from .pagination import MAX_ITEMS_LIMIT, MAX_PAGES_LIMIT, Walk, walk
from .timestamps import TimestampError, convert_values, resolve_range, to_iso

if TYPE_CHECKING:
    from .confirmation import ApprovalGate
    from .retry import WaitListener
    from .runner import CallOutcome, ToolRunner

ProgressListener = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class CallContext:
    """What a local tool may use while it runs: progress reports and the wait listener."""

    on_wait: WaitListener | None = None
    on_progress: ProgressListener | None = None
    gate: ApprovalGate | None = None


Handler = Callable[["ToolRunner", dict[str, Any], CallContext], Awaitable["CallOutcome"]]


@dataclass(frozen=True)
class LocalTool:
    """A tool implemented here; shaped like :class:`~truto_stripe_mcp.catalog.ToolSpec` for listing."""

    @property
    def listed_schema(self) -> dict[str, Any]:
        return self.input_schema

    @property
    def listed_description(self) -> str:
        return self.agent_description

    name: str
    title: str
    agent_description: str
    input_schema: dict[str, Any]
    handler: Handler = field(repr=False, compare=False)
    read_only: bool = True
    open_world: bool = True

    @property
    def annotations(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": not self.read_only,
            "idempotentHint": self.read_only,
            "openWorldHint": self.open_world,
        }


async def _convert_timestamp(runner: ToolRunner, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    from .runner import CallOutcome

    values = arguments.get("values") or []
    expression = arguments.get("range")
    if not values and not expression:
        raise InvalidArgumentsError("convert_timestamp", ["pass `values`, `range`, or both"])
    data: dict[str, Any] = {}
    if values:
        data["conversions"] = convert_values(values)
    if expression:
        data["range"] = describe_range(expression)
    data["now_iso"] = to_iso(int(datetime.now(UTC).timestamp()))
    return CallOutcome(data)


def describe_range(expression: str) -> dict[str, Any]:
    """A phrase such as ``last 7 days`` as Stripe's ``gte``/``lte`` epochs (inclusive)."""
    try:
        gte, lte = resolve_range(expression, datetime.now(UTC))
    except TimestampError as exc:
        raise InvalidArgumentsError("convert_timestamp", [str(exc)]) from None
    return {
        "expression": expression,
        "gte": gte,
        "lte": lte,
        "gte_iso": to_iso(gte),
        "lte_iso": to_iso(lte),
        "filter": {"gte": gte, "lte": lte},
    }


async def paginate(
    runner: ToolRunner,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    max_items: int,
    max_pages: int,
    budget_chars: int | None,
    ctx: CallContext,
) -> Walk:
    """Walk a list tool through the runner's own call path (validation, filters, backoff)."""
    spec = await runner.resolve(tool)
    if spec.method != "list":
        raise InvalidArgumentsError(
            "auto_paginate",
            [f"{tool} is a {spec.kind} tool; auto_paginate walks list tools (names start with list_all_)"],
        )

    async def fetch(page_arguments: dict[str, Any]) -> Mapping[str, Any]:
        outcome = await runner.run(spec, page_arguments, on_wait=ctx.on_wait, budget=False)
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


async def _auto_paginate(runner: ToolRunner, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    from .runner import CallOutcome

    # The input schema (validated by the runner) bounds both; these are the defaults.
    max_items = arguments.get("max_items", 1000)
    max_pages = arguments.get("max_pages", 100)
    inner = arguments.get("arguments") or {}
    # Leave room for the envelope and the note inside the response budget.
    budget = max(1_000, runner.settings.result_budget - 1_500)
    tool = arguments["tool"]
    result = await paginate(
        runner, tool, inner, max_items=max_items, max_pages=max_pages, budget_chars=budget, ctx=ctx
    )
    # The pages were encoded as they arrived (for the budget); the text reuses that work.
    return CallOutcome(result.as_result(tool), text=result.as_text(tool))


CONVERT_TIMESTAMP = LocalTool(
    name="convert_timestamp",
    title="Convert timestamps",
    agent_description=(
        "Epoch seconds <-> ISO 8601 UTC for several values, and phrases ('last 7 days', 'this month', "
        "'Q1 2024') -> gte/lte epochs."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "values": {
                "type": "array",
                "items": {"type": ["number", "string"]},
                "maxItems": 100,
                "description": "Epochs or ISO dates.",
            },
            "range": {"type": "string", "description": "e.g. 'last 7 days'"},
        },
        "additionalProperties": False,
    },
    handler=_convert_timestamp,
    open_world=False,
)

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

LOCAL_TOOLS: tuple[LocalTool, ...] = (AUTO_PAGINATE, CONVERT_TIMESTAMP)

"""Search-then-call discovery: the whole selected catalog at a fraction of the context cost.

With ``--discovery`` (or when the selection is larger than the threshold) tools/list
shows a few essentials plus ``search_tools``, ``describe_tool`` and ``call_tool``. Every
selected tool stays callable through ``call_tool``, which goes through the same runner
path as a direct call: validation, filters, read-only, approval, backoff and shaping.
"""

from __future__ import annotations

from typing import Any

from ..catalog.search import NoMatch, no_match, search
from ..catalog.toolsets import Rule, Toolset
from ..errors import InvalidArgumentsError, ToolRefusedError, UnknownToolError
from ..pipeline.call import CallOutcome
from .code_mode.stubs import tool_signature
from .tools import CallContext, LocalTool, ToolHost

ESSENTIALS = Toolset(
    "essentials",
    "The few tools listed directly in discovery mode; everything else is one search away.",
    (Rule(("customers",), ("list",)), Rule(("charges",), ("list",))),
)


async def _search_tools(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    specs = await host.selected_tools()
    query = arguments["query"]
    try:
        hits = search(specs, query, limit=arguments.get("limit", 8))
    except ValueError as exc:
        raise InvalidArgumentsError("search_tools", [str(exc)]) from None
    results = [{"name": h.name, "method": h.method, "description": h.description} for h in hits]
    # No results is an answer: search only returns tools about the query, so an agent asked
    # for something Stripe does not do learns that here instead of from eight unrelated tools.
    note = (
        "Call describe_tool with a name for its input schema, then call_tool with that name and arguments."
        if results
        else _nothing_matched(
            query, no_match(specs, query), offered=len(specs), every_toolset=_all_toolsets(host)
        )
    )
    return CallOutcome({"results": results, "note": note})


def _all_toolsets(host: ToolHost) -> bool:
    return "all" in host.settings.toolsets


def _quoted(words: tuple[str, ...]) -> str:
    quoted = [f"'{word}'" for word in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _nothing_matched(query: str, why: NoMatch, *, offered: int, every_toolset: bool) -> str:
    """The note for an empty answer: that nothing matched, why, and what to try instead.

    Search sees only the tools this server offers, so the note speaks of those, not of Stripe.
    """
    sentences = [f"No tool matched {query!r}: none of the {offered} tools this server offers is about it."]
    if why.foreign:
        sentences.append(f"None of them mentions {_quoted(why.foreign)}.")
    if why.stripe_names:
        sentences.append(
            f"Their names use {_quoted(why.everyday)} only in {_quoted(why.stripe_names)}: "
            "search by one of those if that is what you meant."
        )
    wider = "" if every_toolset else ", or start the server with more toolsets (--toolsets)"
    sentences.append(
        "If it is a Stripe task, try other words (a resource such as 'invoice' or an action such as "
        f"'refund'){wider}."
    )
    return " ".join(sentences)


async def _describe_tool(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    spec = await host.resolve(arguments["name"])
    described = {
        "name": spec.name,
        "title": spec.title,
        "description": spec.agent_description,
        "inputSchema": spec.input_schema,
        "annotations": spec.annotations,
    }
    if host.settings.code_mode:  # how a run_code program calls it, types included
        described["python"] = tool_signature(spec)
    return CallOutcome(described)


async def _call_tool(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    name = arguments["name"]
    if name in META_NAMES:
        raise ToolRefusedError(f"call_tool cannot call {name}; call it directly.")
    try:
        return await host.call(
            name,
            arguments.get("arguments") or {},
            on_wait=ctx.on_wait,
            on_progress=ctx.on_progress,
            gate=ctx.gate,
        )
    except UnknownToolError as exc:
        raise UnknownToolError(f"{exc.agent_message()} Use search_tools to find the right name.") from None


SEARCH_TOOLS = LocalTool(
    name="search_tools",
    title="Search Stripe tools",
    agent_description=(
        "Find the Stripe tool for a task among all available tools (most are not listed directly). "
        "Returns ranked names, methods and one-line descriptions."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "description": "e.g. 'refund a charge', 'void invoice'",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 25},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    handler=_search_tools,
    open_world=False,
)
DESCRIBE_TOOL = LocalTool(
    name="describe_tool",
    title="Describe a Stripe tool",
    agent_description=(
        "One tool's full input schema and annotations, by name: the fields of nested objects that "
        "tools/list shows only as `object`, enums and limits."
    ),
    input_schema={
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}},
        "required": ["name"],
        "additionalProperties": False,
    },
    handler=_describe_tool,
    open_world=False,
)
CALL_TOOL = LocalTool(
    name="call_tool",
    title="Call a Stripe tool",
    agent_description=(
        "Call any available tool by name with its arguments (see describe_tool). Same checks, approvals "
        "and results as calling it directly."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "arguments": {"type": "object", "description": "The tool's arguments."},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    handler=_call_tool,
    read_only=False,
)
META_TOOLS: tuple[LocalTool, ...] = (CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS)
META_NAMES = frozenset(tool.name for tool in META_TOOLS)

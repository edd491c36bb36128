"""MCP wiring: the low-level SDK server, with handlers that delegate to the runner.

Tool schemas come from a remote catalog at run time, so the low-level
``mcp.server.lowlevel.Server`` fits better than the decorator-based ``MCPServer``.
Nothing here knows about HTTP or Stripe; it converts between MCP types and the runner.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import signal
import threading
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.shared.exceptions import MCPError

from ..catalog.spec import ToolSpec
from ..config import Settings
from ..errors import ToolError
from ..local import resources
from ..local.tools import LocalTool
from ..named_tools import check_named_tools
from ..pipeline.approval_gate import InputNeeded
from ..pipeline.call import CallOutcome
from ..pipeline.page_approvals import ApprovalPages, PageApprovals
from ..redaction import contains_secret, redact, redact_value
from ..runner import ToolRunner, open_runner
from ..upstream.governor import Wait
from ..version import __version__
from .approval_page import approval_pages
from .approval_reach import approval_gate, input_required, session_of
from .list_changed import ListChangedNotifier
from .stdio import pipe_stdio_server

logger = logging.getLogger(__name__)

SERVER_NAME = "truto-stripe-mcp"
LEAN_RESULTS = "Results leave out fields that are null or empty ({} or []), except what `fields` names. "
"""Said once here rather than in every result: an absent field is null or empty."""
INSTRUCTIONS = (
    "Stripe billing through Truto. Amounts are integers in the currency's minor unit "
    "(150000 = $1,500.00 USD). Timestamps are Unix epoch seconds, each with an ISO copy "
    "`<field>_iso`; time arguments also take ISO dates, and time filters (`created` ...) "
    "phrases like 'last 7 days' or a {gt,gte,lt,lte} range. "
    f"{LEAN_RESULTS}"
    "Lists are paginated: pass a response's `next_cursor` back as `next_cursor`, or use "
    "auto_paginate for everything. `limit` is the page size (1-100); `fields` (e.g. "
    "`id,email,created`) keeps only those fields; `expand` lists fields to return as whole "
    "objects instead of ids. tools/list shows nested objects only as `object`: describe_tool "
    "gives a tool's full schema. Writes accept `idempotency_key` to make your own retries "
    "safe. Calls that move money or destroy data need the user's approval: the user is asked "
    "directly, or the result says how (a link for the user to open and answer); once they have "
    "approved, repeat the identical call. Tool errors say what to fix; read them before retrying."
)


def server_instructions(settings: Settings) -> str:
    """The instructions an MCP client gives its model: without the sentence on left-out fields
    when ``--keep-empty`` keeps them."""
    return INSTRUCTIONS.replace(LEAN_RESULTS, "") if settings.keep_empty else INSTRUCTIONS


def listed_annotations(annotations: dict[str, Any]) -> types.ToolAnnotations:
    """The hints a client needs, in as few bytes as the spec allows.

    ``readOnlyHint`` and ``destructiveHint`` are always stated (UIs decide approval on
    them). ``idempotentHint`` means something only for a tool that writes, and
    ``openWorldHint`` defaults to true: each is stated only where it says more than the
    spec's default.
    """
    writes = not annotations["readOnlyHint"]
    return types.ToolAnnotations(
        read_only_hint=annotations["readOnlyHint"],
        destructive_hint=annotations["destructiveHint"],
        idempotent_hint=True if writes and annotations["idempotentHint"] else None,
        open_world_hint=False if not annotations["openWorldHint"] else None,
    )


def to_mcp_tool(spec: ToolSpec | LocalTool) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.listed_description,
        input_schema=spec.listed_schema,
        annotations=listed_annotations(spec.annotations),
    )


STRUCTURED_CONTENT_LIMIT = 1_000_000
"""Above this many characters of text, a result is sent once (as text) instead of twice:
the duplicate ``structuredContent`` doubled a 10,000-item walk's cost over stdio. Only
reachable when ``TRUTO_MCP_RESULT_BUDGET`` is raised far above its default."""


def success_result(outcome: CallOutcome) -> types.CallToolResult:
    text = outcome.json_text()
    data: Any = outcome.data
    if contains_secret(text):  # only if upstream echoed it back: never send it on
        text, data = redact(text), redact_value(data)
    content = [types.TextContent(type="text", text=text)]
    content.extend(types.TextContent(type="text", text=redact(note)) for note in outcome.notes)
    structured = data if len(text) <= STRUCTURED_CONTENT_LIMIT else None
    return types.CallToolResult(content=content, structured_content=structured)


def error_result(error: ToolError) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=redact(error.agent_message()))],
        structured_content={"error": redact_value(error.details())},
        is_error=True,
    )


def paginate_tools(
    tools: list[types.Tool], cursor: str | None, page_size: int
) -> tuple[list[types.Tool], str | None]:
    """One page of tools/list (the spec's opaque ``cursor``/``nextCursor``); 0 = no paging."""
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("tools:"))
        except ValueError:
            raise MCPError(
                types.INVALID_PARAMS, "Invalid tools/list cursor; start again without one."
            ) from None
        if not 0 <= start <= len(tools):
            raise MCPError(types.INVALID_PARAMS, "Stale tools/list cursor; start again without one.")
    if page_size <= 0:
        return tools[start:], None
    end = start + page_size
    next_cursor = base64.urlsafe_b64encode(f"tools:{end}".encode()).decode() if end < len(tools) else None
    return tools[start:end], next_cursor


class _StripeServer(Server[Any]):
    """The SDK server, advertising ``tools.listChanged`` whichever transport asks (HTTP calls
    ``create_initialization_options()`` with no arguments)."""

    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), *args, **kwargs
        )


def build_server(runner: ToolRunner, pages: ApprovalPages | None = None) -> Server[Any]:
    """The MCP server for one runner; handlers stay thin so the runner is the one path.

    ``pages`` shows approval pages to the person (a client that cannot show a question gets a
    link); without it, such a call only says what it would do.
    """

    notifier = ListChangedNotifier(runner.catalog_cache)
    page_approvals = (
        PageApprovals(runner.state, pages, runner.settings.confirmation_ttl) if pages is not None else None
    )
    process_session = secrets.token_hex(16)  # over stdio, this process serves one client: its session

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        generation = runner.catalog_cache.generation
        try:
            specs, local = await runner.listed_tools()
        except ToolError as exc:
            raise MCPError(
                types.INTERNAL_ERROR, redact(f"Could not load the tool catalog: {exc.agent_message()}")
            ) from exc
        await notifier.seen(ctx, generation)
        tools = [*(to_mcp_tool(spec) for spec in specs), *(to_mcp_tool(tool) for tool in local)]
        page, next_cursor = paginate_tools(
            tools, params.cursor if params else None, runner.settings.tools_page_size
        )
        return types.ListToolsResult(tools=page, next_cursor=next_cursor)

    async def on_call_tool(
        ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        generation = runner.catalog_cache.generation
        wants_progress = bool(ctx.meta and ctx.meta.get("progress_token") is not None)

        async def on_progress(progress: float, total: float | None, message: str) -> None:
            if wants_progress:
                await ctx.session.report_progress(progress, total, message)

        async def on_wait(pause: Wait) -> None:
            await on_progress(pause.next_attempt - 1, pause.max_attempts, pause.message())

        try:
            outcome = await runner.call(
                params.name,
                params.arguments,
                on_wait=on_wait,
                on_progress=on_progress,
                gate=approval_gate(
                    runner,
                    ctx,
                    params,
                    pages=page_approvals,
                    session=session_of(ctx, process_session),
                    on_progress=on_progress if wants_progress else None,
                ),
            )
        except InputNeeded as question:
            return input_required(question)
        except ToolError as exc:
            logger.info("%s failed: %s", params.name, exc.agent_message())
            return error_result(exc)
        except Exception:
            logger.exception("%s: unexpected error", params.name)
            return error_result(ToolError("Internal error in truto-stripe-mcp; the details are in its log."))
        finally:
            await notifier.seen(ctx, generation)
        return success_result(outcome)

    async def on_list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        try:
            specs = await runner.selected_tools()
        except ToolError:
            specs = []
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=item["uri"],
                    name=item["name"],
                    description=item["description"],
                    mime_type="application/json",
                )
                for item in resources.listed(specs)
            ]
        )

    async def on_list_resource_templates(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=item["uriTemplate"],
                    name=item["name"],
                    description=item["description"],
                    mime_type="application/json",
                )
                for item in resources.templates()
            ]
        )

    async def on_read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            document = await resources.read(runner, uri)
        except (ToolError, resources.ResourceError) as exc:
            message = exc.agent_message() if isinstance(exc, ToolError) else str(exc)
            raise MCPError(types.INVALID_PARAMS, redact(message)) from exc
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=redact(resources.dumps(document))
                )
            ]
        )

    return _StripeServer(
        SERVER_NAME,
        version=__version__,
        title="Stripe via Truto",
        instructions=server_instructions(runner.settings),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
    )


async def serve_stdio(settings: Settings) -> None:
    """Serve MCP over stdin/stdout until the client closes the stream or a signal arrives.

    SIGINT/SIGTERM cancel in-flight calls cleanly (their waits stop, no further upstream
    request is made) and the HTTP client is closed before the process exits.
    """
    async with (
        open_runner(settings, serving=True) as runner,
        approval_pages() as pages,
        anyio.create_task_group() as group,
    ):
        await check_named_tools(runner)
        group.start_soon(_stop_on_signal, group.cancel_scope)
        server = build_server(runner, pages)
        async with pipe_stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
        group.cancel_scope.cancel()


_EXIT_GRACE = 2.0
"""Seconds to finish cleanly after a signal before exiting anyway: when stdin is not a pipe,
the SDK's fallback transport reads it in a worker thread that cancellation cannot interrupt."""


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            logger.info("received %s: cancelling in-flight calls and stopping", signal.Signals(received).name)
            scope.cancel()
            watchdog = threading.Timer(_EXIT_GRACE, _exit_now)
            watchdog.daemon = True
            watchdog.start()
            return


def _exit_now() -> None:
    logger.info("stopped")
    logging.shutdown()
    os._exit(0)

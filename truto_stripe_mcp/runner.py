"""The runner: one integrated account's tools, and the one way every tool call is run.

Both the MCP handlers and the ``call`` subcommand go through :class:`ToolRunner`, so what a
person sees on the command line is exactly what an agent gets. A call flows one way:
catalog lookup (:meth:`ToolRunner.resolve`), then the pipeline of stages
(:mod:`~truto_stripe_mcp.pipeline.chain`), then the Truto client. The server's own tools
(:mod:`~truto_stripe_mcp.local.inventory`) get the runner as a
:class:`~truto_stripe_mcp.local.tools.ToolHost`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup
from pydantic import SecretStr

from .catalog.file import CatalogFile
from .catalog.spec import ToolSpec
from .catalog.store import CatalogCache
from .catalog.toolsets import Selection
from .config import ConfigError, Settings
from .errors import StateUnavailableError, ToolError, ToolRefusedError, UnknownToolError, UpstreamError
from .local import inventory
from .local.discovery import ESSENTIALS
from .local.tools import CallContext, LocalTool, ProgressListener
from .pipeline.approval_gate import ApprovalGate
from .pipeline.approval_tokens import ConfirmationTokens
from .pipeline.call import CallOutcome, ToolCall
from .pipeline.chain import PipelineSettings, build_pipeline
from .pipeline.check_arguments import validate_arguments
from .pipeline.idempotency import IdempotencyKeys
from .pipeline.object_reads import ObjectMissing
from .pipeline.send import Send
from .redaction import register_secret
from .state.memory import MemoryState
from .state.open import open_state
from .state.store import StateStore, account_namespace
from .upstream.client import TrutoClient
from .upstream.governor import RateLimitGovernor, WaitListener
from .upstream.retry_policy import RetryPolicy
from .upstream.sender import RetryingSender

logger = logging.getLogger(__name__)

_UNKNOWN_REFRESH_AFTER = 30.0
"""An unknown tool name refreshes the catalog if it is older than this (Truto may have
added the tool), without letting a loop of bad names hammer the tools endpoint."""
_NOT_ADDRESSING = frozenset({"expand", "fields", "limit", "next_cursor"})
"""Getter parameters that shape the answer and never address the object."""


class ToolRunner:
    """Runs tool calls for one integrated account.

    Owns the per-account state every call shares: the catalog cache, the rate-limit
    governor, the idempotency keys and the confirmation tokens, and the pipeline built on
    them.
    """

    def __init__(
        self,
        settings: Settings,
        client: TrutoClient,
        background: TaskGroup | None = None,
        state: StateStore | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.state: StateStore = state if state is not None else MemoryState()
        self.filter = Selection(
            toolsets=settings.toolsets,
            methods=settings.methods,
            tags=settings.tags,
            tools=settings.tools,
            exclude_tools=settings.exclude_tools,
            read_only=settings.read_only,
        )
        self.governor = RateLimitGovernor(self.state, max_block=settings.max_block)
        self.sender = RetryingSender(
            client,
            RetryPolicy(
                max_attempts=settings.max_attempts,
                max_wait=settings.max_wait,
                deadline=settings.deadline,
                max_block=settings.max_block,
            ),
            self.governor,
        )
        self.keys = IdempotencyKeys(settings.idempotency_window, self.state)
        self.tokens = ConfirmationTokens(self.state, ttl=settings.confirmation_ttl)
        self.pipeline = build_pipeline(
            PipelineSettings(
                max_argument_bytes=settings.max_argument_bytes,
                iso_timestamps=settings.iso_timestamps,
                result_budget=settings.result_budget,
                confirm=settings.confirm,
                deadline=settings.deadline,
                keep_empty=settings.keep_empty,
                approval=settings.approval,
            ),
            send=Send(self.sender),
            keys=self.keys,
            tokens=self.tokens,
            read=self.read_object,
        )
        self.catalog_cache = CatalogCache(
            self._fetch_tool_entries,
            settings.catalog_ttl,
            endpoint=f"GET {client.tools_path}",
            saved_file=self._catalog_file(),
            background=background,
        )

    # -- the catalog ---------------------------------------------------------------------------

    def catalog_query(self) -> dict[str, str]:
        """What the tools endpoint is asked for: the filters Truto applies itself, and undocumented
        tools when ``include_undocumented`` is on."""
        query = self.filter.upstream_query()
        if self.settings.include_undocumented:
            query["has_description"] = "false"
        return query

    def _catalog_file(self) -> CatalogFile | None:
        """Where this account's catalog is saved; none for the in-process sandbox, whose catalog is
        built in and cannot fail (and a try-out should leave nothing in the user's cache)."""
        if self.settings.sandbox:
            return None
        return CatalogFile.for_account(
            self.settings.catalog_cache_dir(),
            self.client.base_url,
            self.client.integrated_account_id,
            self.catalog_query(),
        )

    async def _fetch_tool_entries(self) -> Sequence[Mapping[str, Any]]:
        return await self.client.fetch_tool_entries(self.catalog_query(), send=self.sender.send)

    async def selected_tools(self, *, refresh: bool = False) -> list[ToolSpec]:
        """Every catalog tool this configuration may call, in a stable order."""
        catalog = await self.catalog_cache.get(refresh=refresh)
        return self.filter.apply(catalog.specs)

    def discovery_active(self, selected: int) -> bool:
        return self.settings.discovery or selected > self.settings.discovery_threshold

    async def listed_tools(self, *, refresh: bool = False) -> tuple[list[ToolSpec], list[LocalTool]]:
        """What tools/list shows: the selection, or in discovery mode a few essentials plus the
        meta-tools that reach the rest; with code mode, run_code too (in discovery mode, only
        the tools that find, describe and program the rest)."""
        selected = await self.selected_tools(refresh=refresh)
        code_mode = self.settings.code_mode
        if self.discovery_active(len(selected)):
            if code_mode:
                return [], self._allowed(inventory.CODE_MODE_DISCOVERY)
            essentials = [spec for spec in selected if ESSENTIALS.contains(spec)]
            return essentials, self._allowed(inventory.DISCOVERY)
        extra = inventory.CODE_MODE if code_mode else ()
        return selected, self._allowed((*inventory.ALWAYS_LISTED, *extra))

    def _allowed(self, tools: tuple[LocalTool, ...]) -> list[LocalTool]:
        return [tool for tool in tools if self.filter.local_refusal(tool.name) is None]

    async def _local_tool(self, name: str) -> LocalTool | None:
        tool = inventory.BY_NAME.get(name)
        if name in inventory.CODE_MODE_ONLY and not self.settings.code_mode:
            return None
        if tool is None or name not in inventory.DISCOVERY_ONLY:
            return tool
        return tool if self.discovery_active(len(await self.selected_tools())) else None

    async def resolve(self, name: str) -> ToolSpec:
        """The spec of a tool that may be called, or why it may not (the catalog lookup)."""
        catalog = await self.catalog_cache.get()
        spec = catalog.get(name)
        if spec is None:
            catalog = await self.catalog_cache.get(max_age=_UNKNOWN_REFRESH_AFTER)
            spec = catalog.get(name)
        if spec is None:
            raise UnknownToolError(
                f"Unknown tool {name!r}. Call tools/list to see the available tools"
                " (names look like list_all_stripe_customers)."
            )
        refusal = self.filter.refusal(spec)
        if refusal is not None:
            raise ToolRefusedError(f"Refused: {refusal} No request was sent to Stripe.")
        return spec

    # -- calls ---------------------------------------------------------------------------------

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        on_progress: ProgressListener | None = None,
        gate: ApprovalGate | None = None,
    ) -> CallOutcome:
        """Run one tool call by name; a :class:`~truto_stripe_mcp.errors.ToolError` says what went wrong."""
        local = await self._local_tool(name)
        if local is None:
            spec = await self.resolve(name)
            return await self.run(spec, arguments, on_wait=on_wait, gate=gate)
        refusal = self.filter.local_refusal(name)
        if refusal is not None:
            raise ToolRefusedError(f"Refused: {refusal}")
        checked = validate_arguments(
            local.name, local.input_schema, arguments, max_bytes=self.settings.max_argument_bytes
        )
        context = CallContext(on_wait=on_wait, on_progress=on_progress, gate=gate)
        return await local.handler(self, checked, context)

    async def run(
        self,
        spec: ToolSpec,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        budget: bool = True,
        gate: ApprovalGate | None = None,
        lean: bool = True,
    ) -> CallOutcome:
        """One catalog tool call through the pipeline (check, convert, approve, key, send, shape)."""
        call = ToolCall(
            spec=spec,
            arguments=dict(arguments or {}),
            on_wait=on_wait,
            gate=gate,
            budget=budget,
            lean=lean,
        )
        return await self.pipeline(call)

    def default_gate(self) -> ApprovalGate:
        """Approval without an MCP session (the ``call`` command): nobody to ask, so a preview
        (or, with ``--approval token``, a token)."""
        return ApprovalGate(self.tokens, self.settings.confirm, approval=self.settings.approval)

    async def read_object(
        self, resource: str, object_id: str, extra: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Read one object for an approval; ``None`` when it cannot be read, :class:`ObjectMissing`
        when Stripe said it does not exist. ``extra`` is narrowed to what the getter takes."""
        catalog = await self.catalog_cache.get()
        getter = next((s for s in catalog.specs if s.resource == resource and s.method == "get"), None)
        if getter is None:
            return None
        parents = {k: v for k, v in extra.items() if k in getter.query_params - _NOT_ADDRESSING}
        try:
            outcome = await self.run(getter, {"id": object_id, **parents}, budget=False, lean=False)
        except ToolError as exc:
            if isinstance(exc, UpstreamError) and exc.remote and exc.status == 404:
                said = str(exc.stripe.get("message") or exc.message)
                if object_id in said:
                    raise ObjectMissing(resource, object_id, said) from None
            logger.info(
                "could not read %s %s for a confirmation: %s", resource, object_id, exc.agent_message()
            )
            return None
        return outcome.data


@asynccontextmanager
async def open_runner(settings: Settings, *, serving: bool = False) -> AsyncIterator[ToolRunner]:
    """A runner with its HTTP client, closed on exit.

    ``serving`` (a server, not a one-shot command) gives the runner a task group for
    background work: the first tools/list is answered from the catalog's disk copy while
    Truto is asked, and saving the copy never delays an answer. It is cancelled on exit,
    except for a save under way, which finishes.

    With ``settings.sandbox`` the client talks to the embedded sandbox in-process (no
    port, no key needed); the sandbox package is imported only then, so the serving
    path against real Truto never loads it.
    """
    transport = None
    if settings.sandbox:
        import httpx

        from .sandbox import create_app

        transport = httpx.ASGITransport(app=create_app())
        settings = with_sandbox_account(settings)
    api_key, account_id = settings.require_credentials()
    register_secret(api_key)
    client = TrutoClient(
        base_url=settings.base_url,
        api_key=api_key,
        integrated_account_id=account_id,
        timeout=settings.timeout,
        transport=transport,
        max_response_bytes=settings.max_response_bytes,
    )
    async with client, _opened_state(settings) as state:
        if not serving:
            yield ToolRunner(settings, client, state=state)
            return
        async with anyio.create_task_group() as background:
            yield ToolRunner(settings, client, background, state=state)
            background.cancel_scope.cancel()


def with_sandbox_account(settings: Settings) -> Settings:
    """Under ``--sandbox``: the embedded sandbox's key, account and (never dialled) base URL."""
    if not settings.sandbox:
        return settings
    from .sandbox import SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY

    return settings.model_copy(
        update={
            "api_key": SecretStr(SANDBOX_API_KEY),
            "integrated_account_id": SANDBOX_ACCOUNT_ID,
            "base_url": "http://sandbox.invalid",
        }
    )


async def open_account_state(settings: Settings) -> StateStore:
    """The shared state of the account ``settings`` name (the sandbox's under ``--sandbox``)."""
    settings = with_sandbox_account(settings)
    _, account_id = settings.require_credentials()
    location = settings.state_location()
    if location.kind == "redis":
        register_secret(urlsplit(location.target).password)
    return await open_state(location, account_namespace(settings.base_url, account_id))


@asynccontextmanager
async def _opened_state(settings: Settings) -> AsyncIterator[StateStore]:
    """The account's shared state, reached once at start-up: one that cannot be used is a
    configuration problem to report now, not a surprise at the first refund."""
    try:
        state = await open_account_state(settings)
    except StateUnavailableError as exc:
        raise ConfigError(f"{exc} (choose another with --state or TRUTO_MCP_STATE)") from None
    try:
        yield state
    finally:
        with anyio.CancelScope(shield=True):
            await state.aclose()

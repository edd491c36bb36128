"""The one path every tool call takes: catalog lookup, checks, validation, the call.

Both the MCP handlers and the ``call`` subcommand go through :class:`ToolRunner`, so
what a person sees on the command line is exactly what an agent gets.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup
from pydantic import SecretStr

from .arguments import validate_arguments
from .catalog import ToolSpec
from .catalog_file import CatalogFile
from .catalog_store import CatalogCache
from .client import ProxyRequest, TrutoClient
from .config import Settings
from .confirmation import ApprovalGate, ConfirmationTokens
from .discovery import DESCRIBE_TOOL, ESSENTIALS, META_TOOLS
from .errors import (
    InvalidArgumentsError,
    ToolError,
    ToolRefusedError,
    UnknownToolError,
    UnusableResponseError,
)
from .idempotency import IdempotencyKeys, KeyChoice, canonical_arguments
from .local_tools import LOCAL_TOOLS, CallContext, LocalTool, ProgressListener
from .pagination import page_items_of
from .ratelimit import RetryPolicy
from .redaction import register_secret
from .retry import RateLimitGovernor, RetryingSender, WaitListener
from .shaping import compact_json, fit_to_budget, parse_fields, select_fields
from .time_arguments import convert_time_arguments
from .timestamps import TimestampError, annotate_timestamps
from .toolsets import Selection

logger = logging.getLogger(__name__)

_UNKNOWN_REFRESH_AFTER = 30.0
"""An unknown tool name refreshes the catalog if it is older than this (Truto may have
added the tool), without letting a loop of bad names hammer the tools endpoint."""


@dataclass(frozen=True)
class CallOutcome:
    """A successful call: the upstream JSON, plus notes the agent should read with it."""

    data: dict[str, Any]
    notes: tuple[str, ...] = ()
    text: str | None = None
    """``data`` as compact JSON, when the runner already encoded it to check the budget."""

    def json_text(self) -> str:
        return self.text if self.text is not None else compact_json(self.data)


class ToolRunner:
    """Runs tool calls for one integrated account.

    Owns the per-account state every call shares: the catalog cache, the rate-limit
    governor and the idempotency keys.
    """

    def __init__(self, settings: Settings, client: TrutoClient, background: TaskGroup | None = None) -> None:
        self.settings = settings
        self.client = client
        self.filter = Selection(
            toolsets=settings.toolsets,
            methods=settings.methods,
            tags=settings.tags,
            tools=settings.tools,
            exclude_tools=settings.exclude_tools,
            read_only=settings.read_only,
        )
        self.governor = RateLimitGovernor()
        self.sender = RetryingSender(
            client,
            RetryPolicy(
                max_attempts=settings.max_attempts, max_wait=settings.max_wait, deadline=settings.deadline
            ),
            self.governor,
        )
        self.keys = IdempotencyKeys(settings.idempotency_window)
        self.tokens = ConfirmationTokens(ttl=settings.confirmation_ttl)
        self.catalog_cache = CatalogCache(
            self._fetch_tool_entries,
            settings.catalog_ttl,
            endpoint=f"GET {client.tools_path}",
            saved_file=self._catalog_file(),
            background=background,
        )

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
        meta-tools that reach the rest."""
        selected = await self.selected_tools(refresh=refresh)
        if self.discovery_active(len(selected)):
            essentials = [spec for spec in selected if ESSENTIALS.contains(spec)]
            return essentials, [*self._allowed(LOCAL_TOOLS), *self._allowed(META_TOOLS)]
        return selected, self._allowed((*LOCAL_TOOLS, DESCRIBE_TOOL))

    def _allowed(self, tools: tuple[LocalTool, ...]) -> list[LocalTool]:
        return [tool for tool in tools if self.filter.local_refusal(tool.name) is None]

    async def _local_tool(self, name: str) -> LocalTool | None:
        if name in _LOCAL_BY_NAME:
            return _LOCAL_BY_NAME[name]
        if name in _META_BY_NAME and self.discovery_active(len(await self.selected_tools())):
            return _META_BY_NAME[name]
        return None

    async def resolve(self, name: str) -> ToolSpec:
        """The spec of a tool that may be called, or why it may not."""
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

    def validate(self, spec: ToolSpec | LocalTool, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        return validate_arguments(
            spec.name, spec.input_schema, arguments, max_bytes=self.settings.max_argument_bytes
        )

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        on_progress: ProgressListener | None = None,
        gate: ApprovalGate | None = None,
    ) -> CallOutcome:
        """Run one tool call; a :class:`~truto_stripe_mcp.errors.ToolError` says what went wrong."""
        local = await self._local_tool(name)
        if local is not None:
            refusal = self.filter.local_refusal(name)
            if refusal is not None:
                raise ToolRefusedError(f"Refused: {refusal}")
            checked = self.validate(local, arguments)
            context = CallContext(on_wait=on_wait, on_progress=on_progress, gate=gate)
            return await local.handler(self, checked, context)
        spec = await self.resolve(name)
        return await self.run(spec, arguments, on_wait=on_wait, gate=gate)

    def default_gate(self) -> ApprovalGate:
        """Approval without an MCP session (the ``call`` command): the token path."""
        return ApprovalGate(self.tokens, self.settings.confirm)

    async def read_object(
        self, resource: str, object_id: str, extra: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Read one object for a confirmation message; ``None`` when it cannot be read."""
        catalog = await self.catalog_cache.get()
        getter = next((s for s in catalog.specs if s.resource == resource and s.method == "get"), None)
        if getter is None:
            return None
        try:
            outcome = await self.run(getter, {"id": object_id, **extra}, budget=False)
        except ToolError as exc:
            logger.info(
                "could not read %s %s for a confirmation: %s", resource, object_id, exc.agent_message()
            )
            return None
        return outcome.data

    async def run(
        self,
        spec: ToolSpec,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        budget: bool = True,
        gate: ApprovalGate | None = None,
    ) -> CallOutcome:
        """Validate, ask for approval where needed, send (with backoff), shape the result."""
        checked = self.validate(spec, arguments)
        fields = _fields_argument(spec, checked.pop("fields", None))
        explicit_key = (
            _idempotency_key(spec, checked.pop("idempotency_key", None)) if not spec.is_read else None
        )
        token = checked.pop("confirmation_token", None) if not spec.is_read else None
        checked = _convert_time_filters(spec, checked)
        if not spec.is_read:
            fingerprint = canonical_arguments(spec.name, {**checked, "idempotency_key": explicit_key})
            await (gate or self.default_gate()).approve(spec, checked, fingerprint, token, self.read_object)
        path_id, query, body = spec.split_arguments(checked)
        request = ProxyRequest.for_tool(spec, path_id=path_id, query=query, body=body)
        choice = None
        if request.is_mutation:
            choice = self.keys.choose(spec.name, checked, explicit_key)
            request = replace(request, idempotency_key=choice.key)
        logger.info("%s: %s %s", spec.name, request.http_method, request.path)
        try:
            response = await self.sender.send(request, on_wait=on_wait)
            data: Any = response.json_object()
            if spec.method == "list":
                page_items_of(data)  # checked before `fields` shaping could drop a bad `result`
        except UnusableResponseError as exc:
            if choice is not None:
                exc.after_write(self.keys.repeat_advice(spec.name, choice))
            raise
        notes: list[str] = []
        if choice is not None and (choice.reused or response.replayed):
            notes.append(_replay_note(spec.name, choice, response.replayed))
            logger.info("%s: idempotent replay (key reused: %s)", spec.name, choice.reused)
        data = self.shape(data, fields)
        text = None
        if budget:
            # Encoded once here: the size check and the agent's text block share the same text.
            text = compact_json(data)
            if len(text) > self.settings.result_budget:
                data, cut = fit_to_budget(data, self.settings.result_budget)
                if cut is not None:
                    notes.append(cut.note)
                text = compact_json(data)
        return CallOutcome(data, tuple(notes), text)

    def shape(self, data: Any, fields: list[str] | None) -> Any:
        if fields:
            data = select_fields(data, fields)
        if self.settings.iso_timestamps:
            data = annotate_timestamps(data)
        return data


def _fields_argument(spec: ToolSpec, raw: Any) -> list[str] | None:
    if raw is None:
        return None
    try:
        return parse_fields(raw) or None
    except ValueError as exc:
        raise InvalidArgumentsError(spec.name, [f"`fields`: {exc}"]) from None


def _idempotency_key(spec: ToolSpec, key: str | None) -> str | None:
    """An agent's own key goes into an HTTP header: Stripe allows up to 255 characters, and a
    header cannot carry control or non-ASCII characters (httpx would fail mid-request)."""
    if key is None or _HEADER_SAFE.fullmatch(key):
        return key
    raise InvalidArgumentsError(
        spec.name,
        [
            "`idempotency_key`: use 1 to 255 printable ASCII characters (letters, digits, '-' and '_' are safest)"
        ],
    )


def _convert_time_filters(spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """ISO dates and phrases in time arguments become epoch seconds before anything is sent.

    Each argument is converted by the shape Stripe's schema gives it (a range filter or one
    instant, see :mod:`~truto_stripe_mcp.time_arguments`).
    """
    if not spec.time_params:
        return arguments
    try:
        return convert_time_arguments(arguments, spec.time_params, now=datetime.now(UTC))
    except TimestampError as exc:
        raise InvalidArgumentsError(spec.name, [str(exc)]) from None


_LOCAL_BY_NAME = {tool.name: tool for tool in (*LOCAL_TOOLS, DESCRIBE_TOOL)}
_META_BY_NAME = {tool.name: tool for tool in META_TOOLS}
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,255}")


def _replay_note(tool: str, choice: KeyChoice, stripe_said_replayed: bool) -> str:
    """Say exactly what is known: our key reuse, and whether Stripe marked the answer a replay."""
    if choice.reused:
        ago = max(0, round(time.monotonic() - choice.first_used_at))
        first = f"An identical {tool} call was made {ago} s ago, so this call reused its Idempotency-Key"
        if stripe_said_replayed:
            outcome = "Stripe returned the original result instead of doing it again (nothing new happened)"
        else:
            outcome = (
                "Stripe did not mark this answer as a replay, so the earlier call probably never reached "
                "Stripe and this call did the work now; either way Stripe never acts twice on one key"
            )
        return f"Replay: {first}. {outcome}. To really repeat it, call again with a new `idempotency_key`."
    return (
        "Replay: Stripe returned a stored result for this Idempotency-Key: an earlier attempt (a lost "
        "response, or your reused `idempotency_key`) already did this, and it was not done again."
    )


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

        from .sandbox import SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, create_app

        transport = httpx.ASGITransport(app=create_app())
        settings = settings.model_copy(
            update={
                "api_key": SecretStr(SANDBOX_API_KEY),
                "integrated_account_id": SANDBOX_ACCOUNT_ID,
                "base_url": "http://sandbox.invalid",
            }
        )
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
    async with client:
        if not serving:
            yield ToolRunner(settings, client)
            return
        async with anyio.create_task_group() as background:
            yield ToolRunner(settings, client, background)
            background.cancel_scope.cancel()

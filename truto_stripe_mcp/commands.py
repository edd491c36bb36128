"""The people-facing subcommands: ``tools``, ``call``, ``doctor`` and ``state``.

Each goes through the same :class:`~truto_stripe_mcp.runner.ToolRunner` an agent
uses, so what they show is what an agent would get.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .catalog.file import describe_age
from .catalog.spec import ToolSpec
from .catalog.store import CatalogStatus, CatalogUnavailableError
from .config import ConfigError, Settings
from .errors import StateUnavailableError, StripeCredentialsError, ToolError, UnknownToolError
from .local import inventory
from .local.tools import LocalTool
from .named_tools import check_named_tools, closest_names
from .pipeline.approval_gate import ApprovalNeeded
from .redaction import redact, redact_url
from .runner import ToolRunner, open_account_state, open_runner
from .serve.server import to_mcp_tool


def _out(text: str) -> None:
    """A line of output for the person at the terminal; secrets masked (errors can echo them)."""
    sys.stdout.write(redact(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(redact(text) + "\n")


async def print_tools(settings: Settings, as_json: bool) -> int:
    """The exposed catalog as a table, or the MCP tool definitions as JSON."""
    async with open_runner(settings) as runner:
        await check_named_tools(runner)
        try:
            specs, local = await runner.listed_tools()
        except ToolError as exc:
            _err(f"error: could not load the tool catalog: {exc.agent_message()}")
            return 1
    if as_json:
        tools = [
            to_mcp_tool(tool).model_dump(by_alias=True, exclude_none=True, mode="json")
            for tool in [*specs, *local]
        ]
        _out(json.dumps(tools, indent=2, ensure_ascii=False))
        return 0
    width = max((len(tool.name) for tool in [*specs, *local]), default=4)
    _out(f"{'NAME':<{width}}  {'METHOD':<8}  {'RESOURCE':<22}  TITLE")
    for spec in specs:
        _out(f"{spec.name:<{width}}  {spec.method:<8}  {spec.resource:<22}  {spec.title}")
    for tool in local:
        _out(f"{tool.name:<{width}}  {'local':<8}  {'(this server)':<22}  {tool.title}")
    _out("")
    _out(await _listed_summary(runner, specs, local))
    return 0


async def _listed_summary(runner: ToolRunner, specs: list[ToolSpec], local: list[LocalTool]) -> str:
    """How many tools an agent is shown, in the same words for ``tools`` and ``doctor``."""
    total = len(specs) + len(local)
    counts = f"{total} tools listed ({len(specs)} Stripe tools and {len(local)} of this server's own)"
    selected = len(await runner.selected_tools())
    if runner.discovery_active(selected):
        return (
            f"{counts}; discovery mode: search_tools and call_tool reach all {selected} selected "
            "Stripe tools."
        )
    return f"{counts}."


async def call_once(settings: Settings, tool: str, raw_arguments: str) -> int:
    """One tool call; prints the structured result (or the error an agent would read)."""
    try:
        arguments: Any = json.loads(raw_arguments)
    except ValueError as exc:
        _err(f"error: --args is not valid JSON: {exc}")
        return 2
    if not isinstance(arguments, dict):
        _err("error: --args must be a JSON object, e.g. '{\"limit\": 3}'")
        return 2
    async with open_runner(settings) as runner:
        await check_named_tools(runner)
        try:
            outcome = await runner.call(tool, arguments)
        except UnknownToolError:
            _err(f"error: {await _unknown_tool(runner, tool)}")
            return 1
        except ApprovalNeeded as exc:
            # The person at the terminal is the one who approves: re-running is the approval.
            _err(f"not done: this needs approval. About to: {exc.description}")
            _err("If you approve, run the same command again with --confirm none.")
            return 1
        except ToolError as exc:
            _err(f"error: {exc.agent_message()}")
            return 1
    _out(json.dumps(outcome.data, indent=2, ensure_ascii=False))
    for note in outcome.notes:
        _err(f"note: {note}")
    return 0


async def doctor(settings: Settings) -> int:
    """Check configuration, reachability, the key and the account; say what is wrong."""
    ok = True

    def report(passed: bool | None, text: str) -> None:
        """``None`` is a warning: worth reading, but the server works."""
        nonlocal ok
        ok = ok and passed is not False
        label = {True: "ok", False: "FAIL", None: "warn"}[passed]
        _out(f"[{label}] {text}")

    if settings.sandbox:
        report(True, "using the embedded sandbox (no Truto account needed)")
    else:
        report(True, f"TRUTO_API_KEY is set ({len(settings.api_key.get_secret_value())} characters)")
        report(True, f"TRUTO_INTEGRATED_ACCOUNT_ID is {settings.integrated_account_id}")
        report(True, f"Truto base URL is {redact_url(settings.base_url)}")
    if not await _check_state(settings, report):
        settings = settings.model_copy(update={"state": "memory"})  # check the rest regardless
    async with open_runner(settings) as runner:
        catalog = None
        try:
            catalog = await runner.catalog_cache.get(refresh=True)
        except CatalogUnavailableError as exc:
            report(False, _endpoint_failure(exc))
        status = await runner.catalog_cache.status()
        if catalog is not None and status.failure is None:
            report(
                True, f"reached Truto; the tools endpoint lists {len(catalog.specs)} tools for the account"
            )
        elif catalog is not None and status.failure is not None:
            report(None, f"{_ended(_endpoint_state(status))} Serving {_copy_words(status)}.")
            _out("       Tools work from that copy; it is refreshed when the endpoint answers again.")
        _report_saved_copy(report, status)
        if catalog is not None:
            try:
                await check_named_tools(runner)
            except ConfigError as exc:
                report(False, str(exc))
            specs, local = await runner.listed_tools()
            report(bool(specs), await _listed_summary(runner, specs, local))
            if not specs:
                _out("       Loosen --methods/--tags/--tools, or check --exclude-tools.")
    _out("all checks passed" if ok else "some checks failed")
    return 0 if ok else 1


async def _check_state(settings: Settings, report: Callable[[bool | None, str], None]) -> bool:
    """Report the shared state's backend and whether it can be used; False when it cannot."""
    location = settings.state_location()
    try:
        store = await open_account_state(settings)
    except StateUnavailableError as exc:
        report(False, f"shared state: {location.describe()} cannot be used: {exc.reason}")
        _out(
            "       Writes are refused until it can. Fix it, or choose another with --state / TRUTO_MCP_STATE."
        )
        return False
    try:
        counts = await store.summary()
    finally:
        await store.aclose()
    held = (
        f"idempotency keys held: {counts['idempotency_keys']}; used approval tokens: {counts['used_tokens']}"
    )
    if location.kind == "memory":
        report(None, f"shared state: {location.describe()}: not shared with other servers for this account")
        _out("       Two servers for one account (Claude Desktop and Cursor, replicas) then each keep their")
        _out("       own dedupe window and rate-limit budget. Use the default (sqlite) or redis://.")
        return True
    report(True, f"shared state: {location.describe()} is reachable ({held})")
    return True


async def state(settings: Settings, action: str) -> int:
    """``state show``: where this account's shared state lives and what it holds; ``state clear``."""
    try:
        store = await open_account_state(settings)
    except StateUnavailableError as exc:
        _err(f"error: {exc}")
        return 1
    try:
        _out(f"state: {settings.state_location().describe()}")
        if action == "clear":
            removed = await store.clear()
            _out(
                f"cleared {removed} entries for this account (idempotency keys, used tokens, window, secret)"
            )
            _out("Identical writes now get fresh keys, and approval tokens issued before no longer work.")
            return 0
        counts = await store.summary()
        _out(
            f"idempotency keys held: {counts['idempotency_keys']} (window {settings.idempotency_window:g} s)"
        )
        _out(f"approval tokens used and not yet expired: {counts['used_tokens']}")
        return 0
    finally:
        await store.aclose()


async def _unknown_tool(runner: ToolRunner, name: str) -> str:
    """The unknown-tool error in a person's words: the command that lists tools, the nearest names."""
    try:
        known = [spec.name for spec in (await runner.catalog_cache.get()).specs]
    except ToolError:
        known = []
    close = closest_names(name, [*known, *inventory.BY_NAME])
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return (
        f"Unknown tool {name!r}.{hint} Run `truto-stripe-mcp tools` to see the tools this "
        "configuration exposes (add --toolsets all for every tool)."
    )


def _reconnect_advice(exc: StripeCredentialsError) -> str:
    """Stripe (not Truto) refused the account: the token is fine, the connection needs re-authorising."""
    scopes = f", granting the missing scopes {', '.join(exc.missing_scopes)}" if exc.missing_scopes else ""
    return (
        f"Truto accepted the API key, but Stripe rejected this integrated account's credentials "
        f"({exc.status}: {exc.said().rstrip('.')}). Reconnect the Stripe account in Truto{scopes}. "
        "TRUTO_API_KEY needs no change."
    )


def _endpoint_state(status: CatalogStatus) -> str:
    """The endpoint and what it did, e.g. "the tools endpoint (GET ...) answered 410 Gone"."""
    assert status.failure is not None
    return f"the tools endpoint ({status.endpoint}) {status.failure.answer}"


def _copy_words(status: CatalogStatus) -> str:
    """What is served instead of the endpoint's answer, and how old it is."""
    age = describe_age(time.time() - status.fetched_at) if status.fetched_at is not None else "earlier"
    return f"the copy saved {age}" if status.source == "disk" else f"the catalog loaded {age}"


def _endpoint_failure(exc: CatalogUnavailableError) -> str:
    """Why no catalog could be served, with what to do about it."""
    status, answer = exc.status, f"the tools endpoint ({exc.endpoint}) {exc.failure.answer}"
    if isinstance(exc.failure.cause, StripeCredentialsError):
        return _reconnect_advice(exc.failure.cause)
    if exc.failure.credentials_refused:
        withheld = (
            f" The copy of the catalog saved {describe_age(exc.saved.age())} is not served meanwhile."
            if exc.saved is not None
            else ""
        )
        if status == 401:
            return (
                f"Truto rejected the API key: {_ended(answer)} Create a new token in the Truto dashboard."
                f"{withheld}"
            )
        return f"the API key may not use this integrated account: {_ended(answer)}{withheld}"
    if status == 404:
        return (
            f"{_ended(answer)} Truto does not know this integrated account: check "
            "TRUTO_INTEGRATED_ACCOUNT_ID (or Truto has removed the endpoint). There is no saved copy of "
            "the catalog yet to serve instead."
        )
    if exc.failure.kind == "no_answer":
        return f"cannot reach Truto: {_ended(answer)} Check TRUTO_BASE_URL and your network."
    return f"{_ended(answer)} There is no saved copy of the catalog yet to serve instead."


def _ended(text: str) -> str:
    """``text`` as a finished sentence, so that the next one starts clean."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _report_saved_copy(report: Callable[[bool | None, str], None], status: CatalogStatus) -> None:
    if status.saved_file is None:
        report(True, "no copy of the catalog is kept for the embedded sandbox")
    elif status.saved is None:
        report(None, f"no saved copy of the catalog yet (kept in {status.saved_file.parent})")
    else:
        report(
            True,
            f"the catalog copy on disk was saved {describe_age(status.saved.age())} ({status.saved_file})",
        )

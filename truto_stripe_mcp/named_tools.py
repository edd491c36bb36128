"""Tool names given in ``--tools`` / ``--exclude-tools`` are checked against the catalog.

A misspelled name used to be silently nothing: ``--exclude-tools create_a_stripe_refnd``
excluded nothing, and ``--tools list_all_stripe_custmers`` exposed nothing, with no word
said. Now it is a configuration error naming the name and the closest real ones, raised by
the server at start-up and by the ``tools``, ``call`` and ``doctor`` commands.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection, Sequence

from .catalog.store import CatalogUnavailableError
from .config import ConfigError
from .local import inventory
from .runner import ToolRunner

logger = logging.getLogger(__name__)

_FLAGS = (
    ("tools", "--tools (TRUTO_MCP_TOOLS)"),
    ("exclude_tools", "--exclude-tools (TRUTO_MCP_EXCLUDE_TOOLS)"),
)


def unknown_names_message(
    given: dict[str, Sequence[str]], known: Collection[str], narrowed_by: str | None = None
) -> str | None:
    """The error for names in ``given`` (flag field -> names) that are not ``known``, or ``None``.

    ``narrowed_by`` names the filters Truto applied to the catalog (``--methods list``), since a
    real tool outside them is not in ``known`` either.
    """
    sentences: list[str] = []
    for field, flag in _FLAGS:
        unknown = [name for name in dict.fromkeys(given.get(field, ())) if name not in known]
        if not unknown:
            continue
        what = "a tool" if len(unknown) == 1 else f"{len(unknown)} tools"
        where = f"the catalog Truto lists with {narrowed_by}" if narrowed_by else "this account's catalog"
        parts = ", ".join(_with_suggestion(name, known) for name in unknown)
        sentences.append(f"{flag} names {what} not in {where}: {parts}.")
    if not sentences:
        return None
    sentences.append(
        "Fix the spelling; `truto-stripe-mcp tools --toolsets all` lists every tool name "
        "(run it without --tools and --exclude-tools)."
    )
    return " ".join(sentences)


def _with_suggestion(name: str, known: Collection[str]) -> str:
    close = closest_names(name, known)
    if not close:
        return f"{name!r} (no tool has a similar name)"
    return f"{name!r} (did you mean {' or '.join(close)}?)"


def closest_names(name: str, known: Collection[str], limit: int = 3) -> list[str]:
    """The real names nearest ``name``: tool names share long prefixes (``list_all_stripe_``),
    so only those about as close as the closest one are offered, not every similar one."""
    scored = [
        (difflib.SequenceMatcher(None, name, candidate).ratio(), candidate)
        for candidate in difflib.get_close_matches(name, list(known), n=10, cutoff=0.6)
    ]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [candidate for score, candidate in scored if score >= best - 0.1][:limit]


async def check_named_tools(runner: ToolRunner) -> None:
    """Raise :class:`ConfigError` when a name in ``--tools``/``--exclude-tools`` is not a tool.

    Nothing is checked when neither is given. When no catalog can be had (Truto unreachable and
    no saved copy), the names cannot be checked: that is logged, and the call that needs the
    catalog reports the outage itself. A saved copy that lacks a name is refreshed once first,
    since Truto may have added the tool since.
    """
    selection = runner.filter
    given = {"tools": selection.tools, "exclude_tools": selection.exclude_tools}
    if not any(given.values()):
        return
    narrowed = ", ".join(
        f"--{key} {value}" for key, value in runner.catalog_query().items() if key in ("methods", "tags")
    )
    local = set(inventory.BY_NAME)
    try:
        catalog = await runner.catalog_cache.get()
        problem = unknown_names_message(given, {*catalog.names(), *local}, narrowed or None)
        if problem is not None and runner.catalog_cache.source != "truto":
            catalog = await runner.catalog_cache.get(refresh=True)
            problem = unknown_names_message(given, {*catalog.names(), *local}, narrowed or None)
    except CatalogUnavailableError as exc:
        logger.warning("could not check the names in --tools/--exclude-tools: %s", exc.agent_message())
        return
    if problem is not None:
        raise ConfigError(problem)

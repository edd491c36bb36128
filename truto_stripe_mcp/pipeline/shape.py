"""Stage, on the way back: the result an agent reads, shaped.

Only the `fields` the agent asked for, without the fields that hold nothing (null, ``{}``,
``[]``), an ISO copy next to every epoch timestamp, and the whole result cut to the result
budget at an item boundary (with a note saying how to get the rest). The text the agent
reads is encoded once, here, and reused for the budget check.

A list page cut to its first items must not keep the upstream cursor: it points past the
items left out, and an agent following it would silently skip them. Truto's cursors are
opaque (Stripe's ``starting_after`` is hidden behind them), so the one cursor that resumes
at the first item not shown is the one Truto gives for a page of exactly the items shown:
the page is asked for again with that ``limit`` (one more request, only when a page is
cut), as ``auto_paginate`` does when its budget runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ToolError
from ..result_budget import MIN_BUDGET_CHARS, TRUNCATION_KEY, BudgetCut, fit_to_budget
from ..shaping import compact_json, drop_empty, list_cursor_key, list_key, select_fields
from ..timestamps import annotate_timestamps
from .call import CallOutcome, Next, ToolCall

logger = logging.getLogger(__name__)

CURSOR_ROOM = 200
"""Characters of the budget kept free for the resume cursor put into a cut page (the
sandbox's are 90). A longer one is made room for on the next try."""
MAX_REFETCHES = 3
"""Requests for a page of exactly the items shown, at most: one unless the list changed
between two requests or the cursor was longer than the room kept for it."""


@dataclass(frozen=True)
class ShapeResult:
    """Stage: fields, empties, ISO timestamps and the budget, applied to the outcome on its way back."""

    iso_timestamps: bool
    result_budget: int
    keep_empty: bool = False

    def shape(self, call: ToolCall, data: Any) -> Any:
        """The agent's ``fields`` (all of them, null or not, since it named them), or else every
        field that holds something; then the ISO copies."""
        if call.fields:
            data = select_fields(data, call.fields)
        elif call.lean and not self.keep_empty:
            data = drop_empty(data)
        if self.iso_timestamps:
            data = annotate_timestamps(data)
        return data

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        outcome = await call_next(call)
        data = self.shape(call, outcome.data)
        if not call.budget:
            return replace(outcome, data=data)
        text = compact_json(data)
        if len(text) > self.result_budget:
            data = await self._fit(call, call_next, data)
            text = compact_json(data)
        return replace(outcome, data=data, text=text)

    async def _fit(self, call: ToolCall, call_next: Next, data: Any) -> Any:
        """``data`` cut to the budget; a cut list page gets a cursor that resumes at its first
        item not shown, or (when none can be had) no cursor and a note saying how to go on."""
        cursor_key = list_cursor_key(data)
        pageable = "limit" in call.spec.input_schema.get("properties", {})
        room = CURSOR_ROOM
        for _ in range(MAX_REFETCHES if cursor_key is not None and pageable else 0):
            if self.result_budget - room < MIN_BUDGET_CHARS:
                break
            shown, cut = fit_to_budget(data, self.result_budget, resumes=True, reserve=room)
            if cut is None or cut.cursor_key is None:
                return shown  # nothing was left out (an item only shrunk keeps its exact cursor)
            again = await self._page_of(call, call_next, cut.kept_items)
            if again is None:
                break
            resumed, same_items = _resumed(shown, again, cut)
            size = len(compact_json(resumed))
            if size <= self.result_budget:
                logger.debug("%s: %s", call.spec.name, cut.note)
                return resumed
            room += size - self.result_budget  # a longer cursor than the room kept for it
            if not same_items:
                data = again  # the list changed between the two requests: cut the newer page
        shown, cut = fit_to_budget(data, self.result_budget)
        if cut is not None:
            logger.debug("%s: %s", call.spec.name, cut.note)
        return shown

    async def _page_of(self, call: ToolCall, call_next: Next, limit: int) -> Any | None:
        """The same page asked for again with ``limit`` items, shaped; None if it cannot be had."""
        try:
            outcome = await call_next(replace(call, arguments={**call.arguments, "limit": limit}))
        except ToolError as exc:
            logger.info(
                "%s: the page of the %d items shown could not be fetched for its cursor (%s); the cut "
                "result has no cursor",
                call.spec.name,
                limit,
                exc.agent_message(),
            )
            return None
        again = self.shape(call, outcome.data)
        return again if list_key(again) is not None else None


def _resumed(shown: dict[str, Any], again: dict[str, Any], cut: BudgetCut) -> tuple[dict[str, Any], bool]:
    """The cut page ``shown`` with the cursor of ``again`` (the page of exactly its items), and
    whether ``again`` held the same items. If the list changed in between, ``again``'s items
    are shown instead: its cursor belongs to them."""
    key = list_key(shown)
    assert key is not None and cut.cursor_key is not None
    items = again[key]
    same = compact_json(items) == compact_json(shown[key])
    out = dict(shown)
    out[cut.cursor_key] = again.get(cut.cursor_key)
    if "has_more" in again:
        out["has_more"] = again["has_more"]
    if not same:
        out[key] = items
        if "result_count" in out:
            out["result_count"] = len(items)
        notice = dict(out[TRUNCATION_KEY])
        notice["kept_items"] = len(items)
        notice["omitted_items"] = max(0, cut.total_items - len(items))
        out[TRUNCATION_KEY] = notice
    return out, same

"""Stage, on the way back: the result an agent reads, shaped.

Only the `fields` the agent asked for, an ISO copy next to every epoch timestamp, and the
whole result cut to the result budget at an item boundary (with a note saying how to get
the rest). The text the agent reads is encoded once, here, and reused for the budget check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..result_budget import fit_to_budget
from ..shaping import compact_json, select_fields
from ..timestamps import annotate_timestamps
from .call import CallOutcome, Next, ToolCall


@dataclass(frozen=True)
class ShapeResult:
    """Stage: fields, ISO timestamps and the budget, applied to the outcome on its way back."""

    iso_timestamps: bool
    result_budget: int

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        outcome = await call_next(call)
        data = outcome.data
        if call.fields:
            data = select_fields(data, call.fields)
        if self.iso_timestamps:
            data = annotate_timestamps(data)
        if not call.budget:
            return replace(outcome, data=data)
        notes = outcome.notes
        text = compact_json(data)
        if len(text) > self.result_budget:
            data, cut = fit_to_budget(data, self.result_budget)
            if cut is not None:
                notes = (*notes, cut.note)
            text = compact_json(data)
        return replace(outcome, data=data, notes=notes, text=text)

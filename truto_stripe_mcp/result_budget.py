"""Fitting a tool result into a character budget, cut at item boundaries, never mid-JSON.

An agent's context is finite: a result larger than the budget keeps the longest prefix of
its items that fits (or, for one object, loses its largest fields) and says, in the result
itself, what was left out and how to get it (a smaller ``limit``, ``fields``, the cursor).
A cut list page tells the truth about itself: its counts are those of the items shown, and
it never keeps the upstream cursor, which would skip the items left out (the caller puts in
one that resumes at the first of them, see ``pipeline/shape.py``). Pure (no I/O).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .shaping import ALWAYS_KEPT, compact_json, list_cursor_key, list_key

#: Key that carries the truncation notice in a cut result (placed first so it is seen first).
TRUNCATION_KEY = "truncated"
#: Smallest budget accepted; below it not even a truncation notice can be guaranteed to fit.
MIN_BUDGET_CHARS = 256


@dataclass(frozen=True)
class BudgetCut:
    """What :func:`fit_to_budget` removed, for logs and for the caller that completes the cut."""

    total_items: int  # items before the cut (1 for a single object)
    kept_items: int
    omitted_items: int
    total_chars: int  # serialised size before the cut
    returned_chars: int  # serialised size of the returned value (<= budget_chars)
    budget_chars: int
    note: str  # plain sentences an agent can act on
    dropped_fields: tuple[str, ...] = field(default=())  # top-level fields removed from an object
    suggested_limit: int | None = None
    cursor_key: str | None = None
    """Set when a list page lost items: the key whose cursor now has to resume at the first item
    not shown (left null in the cut page: the upstream one would skip them)."""


def fit_to_budget(
    value: Any,
    budget_chars: int,
    *,
    dumps: Callable[[Any], str] = compact_json,
    resumes: bool = False,
    reserve: int = 0,
) -> tuple[Any, BudgetCut | None]:
    """Return ``value`` unchanged with None if ``dumps(value)`` fits, else a cut copy and its report.

    Lists (envelope ``result``, Stripe ``data``, or a bare list wrapped as ``{"result": [...]}``)
    keep their longest fitting prefix and gain a ``truncated`` key saying how many items were
    left out and how to get them. A cut page's counts are the items shown (``result_count``,
    ``is_partial_response: true``, Stripe's ``has_more: true``) and its cursor (``next_cursor``,
    a search's ``next_page``) is null: the upstream one would skip the items left out. With
    ``resumes`` the caller puts in a cursor that resumes at the first item not shown (and the
    notice says to follow it); without, the notice says to repeat with a ``limit`` that fits
    (a number is suggested). Both suggest ``fields``. A single object loses its largest
    top-level fields (never ``id`` or ``object``); so does the first item if even it alone is
    too big. The returned value's serialised size is always <= ``budget_chars``, which must be
    >= MIN_BUDGET_CHARS; a list cut leaves ``reserve`` of them free (for the cursor the caller
    puts in).
    """
    if budget_chars < MIN_BUDGET_CHARS:
        raise ValueError(f"budget_chars must be at least {MIN_BUDGET_CHARS}, got {budget_chars}.")
    total_chars = len(dumps(value))
    if total_chars <= budget_chars:
        return value, None
    key = list_key(value)
    if key is not None:
        cursor = list_cursor_key(value)
        return _cut_list(
            value, key, total_chars, budget_chars, dumps, cursor=cursor, resumes=resumes, reserve=reserve
        )
    if isinstance(value, list | tuple):
        wrapped = {"result": list(value)}
        return _cut_list(wrapped, "result", total_chars, budget_chars, dumps, cursor=None, resumes=False)
    if isinstance(value, dict):
        return _cut_object(value, total_chars, budget_chars, dumps)
    text = value if isinstance(value, str) else dumps(value)
    cut = _cut_string(text, lambda s: len(dumps(s)) <= budget_chars)
    note = f"The text was {total_chars} chars, over the {budget_chars}-char limit; its end was cut off."
    return cut, BudgetCut(1, 1, 0, total_chars, len(dumps(cut)), budget_chars, note)


def _largest_prefix(count: int, fits: Callable[[int], bool], hint: int) -> int:
    """Largest k < count with fits(k) (monotone), probing the estimate first; -1 if none fits."""
    if not fits(0):
        return -1
    low, high = 0, count  # fits(low) holds; fits(count) does not (the whole was too big)
    probes = [hint]
    while high - low > 1:
        mid = probes.pop() if probes and low < probes[-1] < high else (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
        if mid == hint:
            probes.append(mid + 1 if low == mid else mid - 1)
    return low


def _example_fields(item: Any) -> str:
    """A concrete ``fields`` value built from an item's small top-level keys."""
    names = ["id"]
    if isinstance(item, dict):
        for name, val in item.items():
            if len(names) == 4:
                break
            if name not in ALWAYS_KEPT and not name.endswith("_iso") and not isinstance(val, dict | list):
                names.append(name)
    return ",".join(names if len(names) > 1 else ["id", "created", "status"])


def _cut_list(
    container: dict[str, Any],
    key: str,
    total_chars: int,
    budget: int,
    dumps: Callable[[Any], str],
    *,
    cursor: str | None,
    resumes: bool,
    reserve: int = 0,
) -> tuple[Any, BudgetCut]:
    """Keep the longest prefix of ``container[key]`` that fits along with the truncation notice.

    ``cursor`` names the container's cursor to the next page (None: the list cannot be paged).
    The notice names ``budget``; what is kept fits in ``budget - reserve``.
    """
    items: list[Any] = container[key]
    count = len(items)
    if count == 0:
        return _cut_object(container, total_chars, budget, dumps)
    sizes = [len(dumps(item)) for item in items]
    average = math.ceil(sum(sizes) / count)
    example = _example_fields(items[0])
    follow = "next_page (pass it as page)" if cursor == "next_page" else "next_cursor"
    fields_hint = f' Or pass fields (e.g. fields="{example}") so each item is smaller and more fit.'

    def how(limit: int, tier: int = 0, shrunk: bool = False) -> str:
        """The hint; ``limit`` is the number that fitted here, so that limit is known to fit."""
        if shrunk:
            return (
                "Even one item is over the limit, so the item shown lost its largest fields. "
                f'Pass fields (e.g. fields="{example}") to choose what each item returns'
                + (f", then follow {follow}." if cursor else ".")
            )
        if cursor and resumes:
            if tier > 0:
                return f"Follow {follow} for the rest, or pass fields."
            return (
                f"This response's {follow} resumes at the first item not shown: follow it for the rest, "
                f"with limit={limit} so each page fits (items average {average} chars)." + fields_hint
            )
        if cursor:
            if tier > 0:
                return f"Repeat with limit={limit} and follow its {follow}, or pass fields."
            return (
                f"To see every item, repeat this call with the same arguments and limit={limit} "
                f"(items average {average} chars), then follow {follow} from that response; this "
                "response has none, as the upstream one would skip the items left out." + fields_hint
            )
        if tier > 0:
            return f"Use limit={limit} or pass fields."
        return (
            f"Narrow the request (e.g. limit={limit} or tighter filters; items average {average} chars)."
            + fields_hint
        )

    def reason(kept: int) -> str:
        return (
            f"The {count} items were {total_chars} chars of JSON, over the {budget}-char limit "
            f"for one result; only the first {kept} are shown."
        )

    def build(kept: list[Any], tier: int, dropped: tuple[str, ...] = ()) -> dict[str, Any]:
        info: dict[str, Any] = {"omitted_items": count - len(kept), "kept_items": len(kept)}
        if tier == 0:
            info["reason"] = reason(len(kept))
        if dropped and tier < 2:
            info["first_item_dropped_fields"] = list(dropped) if tier == 0 else len(dropped)
        if tier < 2:
            info["how_to_get_more"] = how(max(1, len(kept)), tier, bool(dropped) and tier == 0)
        out: dict[str, Any] = {TRUNCATION_KEY: info}
        out.update((k, kept if k == key else v) for k, v in container.items() if k != TRUNCATION_KEY)
        return _told_truthfully(out, cursor, len(kept), count)

    room = budget - reserve
    for tier in (0, 1, 2):
        empty = len(dumps(build([], tier)))
        hint, used = 0, empty
        while hint < count and used + sizes[hint] + (hint > 0) <= room:
            used += sizes[hint] + (hint > 0)
            hint += 1
        kept = _largest_prefix(count, lambda k, t=tier: len(dumps(build(items[:k], t))) <= room, hint)
        if kept < 0:
            continue
        result, dropped = build(items[:kept], tier), ()
        if kept == 0:
            shrunk = _shrink(items[0], lambda c, d, t=tier: len(dumps(build([c], t, d))) <= room, dumps)
            if shrunk is not None:
                result, dropped = build([shrunk[0]], tier, shrunk[1]), shrunk[1]
        kept_count = len(result[key])
        note = f"{reason(kept_count)} {how(max(1, kept_count), 0, bool(dropped))}"
        if dropped:
            note += f" The one item shown lost its largest fields: {', '.join(dropped)}."
        size = len(dumps(result))
        return result, BudgetCut(
            count,
            kept_count,
            count - kept_count,
            total_chars,
            size,
            budget,
            note,
            dropped,
            max(1, kept_count),
            cursor if 0 < kept_count < count else None,
        )
    result = {TRUNCATION_KEY: {"omitted_items": count}}
    note = f"All {count} items were left out: even one did not fit in {budget} chars. {how(1)}"
    return result, BudgetCut(count, 0, count, total_chars, len(dumps(result)), budget, note, (), 1)


def _told_truthfully(page: dict[str, Any], cursor: str | None, kept: int, count: int) -> dict[str, Any]:
    """A cut page's own counts and cursor, made true of the items it shows.

    ``result_count`` is the items shown; Truto's ``is_partial_response`` and Stripe's
    ``has_more`` say more follow; the cursor is left null, since the upstream one would
    skip the items left out. An item only shrunk (all of them shown) keeps the cursor.
    """
    if kept == count:
        return page
    if "result_count" in page:
        page["result_count"] = kept
    if "is_partial_response" in page or cursor == "next_cursor":
        page["is_partial_response"] = True
    if "has_more" in page:
        page["has_more"] = True
    if cursor is not None:
        page[cursor] = None
    return page


def _shrink(
    item: Any, fits: Callable[[Any, tuple[str, ...]], bool], dumps: Callable[[Any], str]
) -> tuple[Any, tuple[str, ...]] | None:
    """Drop an object's largest top-level fields (never id/object) until ``fits``; None if it can't.

    Strings are cut short instead. Other values cannot shrink.
    """
    if isinstance(item, str):
        cut = _cut_string(item, lambda s: fits(s, ()))
        return (cut, ()) if fits(cut, ()) else None
    if not isinstance(item, dict):
        return None
    current = dict(item)
    if fits(current, ()):
        return current, ()
    droppable = [k for k in current if k not in ALWAYS_KEPT and k != TRUNCATION_KEY]
    droppable.sort(key=lambda k: len(dumps(current[k])), reverse=True)
    dropped: list[str] = []
    for name in droppable:
        del current[name]
        dropped.append(name)
        if fits(current, tuple(dropped)):
            return current, tuple(dropped)
    return None


def _cut_object(
    obj: dict[str, Any], total_chars: int, budget: int, dumps: Callable[[Any], str]
) -> tuple[Any, BudgetCut]:
    """Drop an object's largest top-level fields, naming them in a ``truncated`` notice."""

    def build(kept: dict[str, Any], dropped: tuple[str, ...], tier: int) -> dict[str, Any]:
        info: dict[str, Any] = {"dropped_fields": list(dropped) if tier == 0 else len(dropped)}
        if tier == 0:
            info["how_to_get_more"] = _object_hint(obj, dropped, total_chars, budget)
        return {TRUNCATION_KEY: info, **{k: v for k, v in kept.items() if k != TRUNCATION_KEY}}

    for tier in (0, 1):
        shrunk = _shrink(obj, lambda c, d, t=tier: len(dumps(build(c, d, t))) <= budget, dumps)
        if shrunk is not None:
            result, dropped = build(shrunk[0], shrunk[1], tier), shrunk[1]
            note = _object_hint(obj, dropped, total_chars, budget)
            return result, BudgetCut(1, 1, 0, total_chars, len(dumps(result)), budget, note, dropped)
    result = {TRUNCATION_KEY: {"reason": "object too large to show any part"}}
    note = f"The object was {total_chars} chars and nothing fitted in {budget}; pass fields to select parts."
    return result, BudgetCut(1, 0, 1, total_chars, len(dumps(result)), budget, note, tuple(obj))


def _object_hint(obj: dict[str, Any], dropped: tuple[str, ...], total_chars: int, budget: int) -> str:
    """Sentence naming what was dropped and a concrete ``fields`` call that would reach it."""
    first = dropped[0] if dropped else "id"
    sample = obj.get(first)
    if isinstance(sample, dict) and isinstance(sample.get("data"), list):
        deeper = f"{first}.data.id"
    elif isinstance(sample, dict) and sample:
        deeper = f"{first}.{next(iter(sample))}"
    else:
        deeper = first
    return (
        f"This object was {total_chars} chars of JSON, over the {budget}-char limit, so these "
        f"top-level fields were left out: {', '.join(dropped) or 'none'}. To see them, call again "
        f'with fields naming only the parts you need, e.g. fields="id,{deeper}".'
    )


def _cut_string(text: str, fits: Callable[[str], bool]) -> str:
    """Longest prefix of ``text`` (plus an ellipsis marker) that ``fits``; binary search."""
    low, high = 0, len(text)
    marker = "… [cut {} chars]"
    while low < high:
        mid = (low + high + 1) // 2
        if fits(text[:mid] + marker.format(len(text) - mid)):
            low = mid
        else:
            high = mid - 1
    return text[:low] + marker.format(len(text) - low)

"""Auto-pagination: follow ``next_cursor`` page after page, bounded, and say where it stopped.

Agents assume page one is everything. :func:`walk` collects a whole list (or as much
as the bounds allow) and, when it stops early, returns a cursor that resumes exactly
after the last item returned: page sizes are chosen so a page never has to be cut.

An upstream whose cursor does not move on (the same ``next_cursor`` page after page, or
pages of items already read) would fill the walk with copies of the same items up to its
bounds; the walk returns each item once and stops there, saying why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..shaping import compact_json, page_items_of

MAX_PAGE_SIZE = 100
MAX_ITEMS_LIMIT = 10_000
MAX_PAGES_LIMIT = 1_000

FetchPage = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]
PageListener = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class Walk:
    """What a walk collected and whether the list is complete."""

    items: list[Any]
    complete: bool
    next_cursor: str | None
    pages: int
    stopped_by: str | None
    """"max_items", "max_pages", "budget", "loop" (a cursor came back), "repeat" (a page of
    items already read) or None when complete."""
    encoded: tuple[str, ...]
    """Each page's items as compact JSON without the brackets ("" for an empty page).

    The walk encodes each page once, as it arrives, to check the budget; :meth:`as_text`
    joins these instead of encoding every item a second time."""
    repeated: int = 0
    """Items left out because an earlier page of the walk had already returned them."""

    def as_result(self, tool: str) -> dict[str, Any]:
        return {"tool": tool, "result": self.items, **self._summary()}

    def as_text(self, tool: str) -> str:
        """``compact_json(self.as_result(tool))``, from the pages' encoded items."""
        head = compact_json({"tool": tool})[:-1]  # '{"tool":"..."' without its closing brace
        items = ",".join(part for part in self.encoded if part)
        return f'{head},"result":[{items}],{compact_json(self._summary())[1:]}'

    def _summary(self) -> dict[str, Any]:
        return {
            "count": len(self.items),
            "complete": self.complete,
            "pages": self.pages,
            "next_cursor": self.next_cursor,
            "note": self.note(),
        }

    def note(self) -> str:
        repeats = (
            f" {self.repeated} items that an earlier page had already returned were left out."
            if self.repeated
            else ""
        )
        if self.complete:
            return f"Complete: all {len(self.items)} items ({self.pages} pages).{repeats}"
        if self.stopped_by in ("loop", "repeat"):
            what = (
                "Truto sent a next_cursor it had already sent, pointing back at pages already read"
                if self.stopped_by == "loop"
                else "a page brought only items already returned: Truto's cursor did not move on"
            )
            return (
                f"The walk stopped after page {self.pages} with {len(self.items)} distinct items because "
                f"{what}, so following it would return the same items again and again.{repeats} The "
                "list may hold more items that this cursor cannot reach: try again later, or read the "
                "list in parts with filters (e.g. `created`)."
            )
        why = {
            "max_items": "it reached max_items",
            "max_pages": "it reached max_pages",
            "budget": "the result would not fit in the response size budget",
        }.get(self.stopped_by or "", "a bound was reached")
        return (
            f"The list was cut after {len(self.items)} items because {why}; more items remain. "
            f'To continue, call again with `next_cursor` set to "{self.next_cursor}" in `arguments`'
            + (" (and `fields` to get fewer fields per item)." if self.stopped_by == "budget" else ".")
        )


def _encode_items(items: list[Any]) -> str:
    """The items as they appear inside a compact JSON array: ``compact_json(items)[1:-1]``.

    One encode per page: item by item took 1.7x as long (the per-call overhead of
    ``json.dumps``). Its length plus one is what the page adds to the result, counting the
    separating comma.
    """
    return compact_json(items)[1:-1]


async def walk(
    fetch: FetchPage,
    arguments: Mapping[str, Any],
    *,
    max_items: int,
    max_pages: int,
    budget_chars: int | None = None,
    on_page: PageListener | None = None,
) -> Walk:
    """Collect items from ``fetch`` (one list call per page) within the bounds.

    Each page asks for at most the items still wanted, so stopping at ``max_items``
    leaves Truto's own cursor pointing at the next unseen item. When ``budget_chars``
    would be passed mid-page, that page is fetched again with a smaller ``limit`` so
    the returned cursor is still exact (one extra request, only when cut). An item an
    earlier page returned is not returned again; a cursor that comes back, or a page
    with nothing new, ends the walk (stopped by "loop" or "repeat", no cursor).
    """
    base = {key: value for key, value in arguments.items() if key not in {"next_cursor", "limit"}}
    page_size = min(int(arguments.get("limit") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    cursor: str | None = arguments.get("next_cursor")
    cursors = {cursor} if cursor else set()
    seen: set[str] = set()
    items: list[Any] = []
    encoded: list[str] = []
    used = repeated = pages = 0

    def done(complete: bool, resume: str | None, stopped_by: str | None) -> Walk:
        return Walk(items, complete, resume, pages, stopped_by, tuple(encoded), repeated)

    while True:
        if pages >= max_pages:
            return done(False, cursor, "max_pages")
        want = min(page_size, max_items - len(items))
        page_arguments = {**base, "limit": want, **({"next_cursor": cursor} if cursor else {})}
        page = await fetch(page_arguments)
        pages += 1
        page_items = page_items_of(page)
        next_cursor = page.get("next_cursor") or None
        fresh = _unseen(page_items, seen)
        if page_items and not fresh:
            repeated += len(page_items)
            return done(False, None, "repeat")
        text = _encode_items(fresh)
        whole = len(text) + 1 if fresh else 0
        if budget_chars is not None and used + whole > budget_chars:
            fitting = _items_within(page_items, budget_chars - used, seen)
            if fitting == 0 and not items:
                fitting = 1  # one item always comes back; the budget cut shrinks it
            if fitting == 0:
                return done(False, cursor, "budget")
            again = await fetch({**page_arguments, "limit": fitting})
            pages += 1
            taken = page_items_of(again)[:fitting]
            kept = _unseen(taken, seen)
            repeated += len(taken) - len(kept)
            seen.update(map(_identity, kept))
            items.extend(kept)
            encoded.append(_encode_items(kept))
            return done(False, again.get("next_cursor") or None, "budget")
        used += whole
        repeated += len(page_items) - len(fresh)
        seen.update(map(_identity, fresh))
        items.extend(fresh)
        encoded.append(text)
        if on_page is not None:
            await on_page(pages, len(items))
        if next_cursor in cursors:
            return done(False, None, "loop")
        if not next_cursor:
            return done(True, None, None)
        cursors.add(next_cursor)
        cursor = next_cursor
        if len(items) >= max_items:
            return done(False, cursor, "max_items")


def _identity(item: Any) -> str:
    """What makes an item the same item: its Stripe id, else its whole JSON."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return item["id"]
    return compact_json(item)


def _unseen(items: list[Any], seen: set[str]) -> list[Any]:
    """The ``items`` not in ``seen`` (nor earlier in ``items``); ``seen`` is left as it was."""
    fresh = []
    here: set[str] = set()
    for item in items:
        identity = _identity(item)
        if identity not in seen and identity not in here:
            here.add(identity)
            fresh.append(item)
    return fresh


def _items_within(items: list[Any], room: int, seen: set[str]) -> int:
    """How many leading ``items`` fit in ``room`` characters (the page where the budget runs out);
    an item in ``seen`` costs nothing, as it is not returned again."""
    fitting = 0
    for item in items:
        size = 0 if _identity(item) in seen else len(compact_json(item)) + 1
        if size > room:
            break
        room -= size
        fitting += 1
    return fitting

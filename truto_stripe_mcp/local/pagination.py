"""Auto-pagination: follow ``next_cursor`` page after page, bounded, and say where it stopped.

Agents assume page one is everything. :func:`walk` collects a whole list (or as much
as the bounds allow) and, when it stops early, returns a cursor that resumes exactly
after the last item returned: page sizes are chosen so a page never has to be cut.
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
    stopped_by: str | None  # "max_items", "max_pages", "budget" or None when complete
    encoded: tuple[str, ...]
    """Each page's items as compact JSON without the brackets ("" for an empty page).

    The walk encodes each page once, as it arrives, to check the budget; :meth:`as_text`
    joins these instead of encoding every item a second time."""

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
        if self.complete:
            return f"Complete: all {len(self.items)} items ({self.pages} pages)."
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
    the returned cursor is still exact (one extra request, only when cut).
    """
    base = {key: value for key, value in arguments.items() if key not in {"next_cursor", "limit"}}
    page_size = min(int(arguments.get("limit") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    cursor: str | None = arguments.get("next_cursor")
    items: list[Any] = []
    encoded: list[str] = []
    used = 0
    pages = 0
    while True:
        if pages >= max_pages:
            return Walk(items, False, cursor, pages, "max_pages", tuple(encoded))
        want = min(page_size, max_items - len(items))
        page_arguments = {**base, "limit": want, **({"next_cursor": cursor} if cursor else {})}
        page = await fetch(page_arguments)
        pages += 1
        page_items = page_items_of(page)
        next_cursor = page.get("next_cursor") or None
        text = _encode_items(page_items)
        whole = len(text) + 1 if page_items else 0
        if budget_chars is not None and used + whole > budget_chars:
            fitting = _items_within(page_items, budget_chars - used)
            if fitting == 0 and not items:
                fitting = 1  # one item always comes back; the budget cut shrinks it
            if fitting == 0:
                return Walk(items, False, cursor, pages, "budget", tuple(encoded))
            again = await fetch({**page_arguments, "limit": fitting})
            pages += 1
            kept = page_items_of(again)[:fitting]
            items.extend(kept)
            encoded.append(_encode_items(kept))
            return Walk(items, False, again.get("next_cursor") or None, pages, "budget", tuple(encoded))
        used += whole
        items.extend(page_items)
        encoded.append(text)
        cursor = next_cursor
        if on_page is not None:
            await on_page(pages, len(items))
        if not cursor:
            return Walk(items, True, None, pages, None, tuple(encoded))
        if len(items) >= max_items:
            return Walk(items, False, cursor, pages, "max_items", tuple(encoded))


def _items_within(items: list[Any], room: int) -> int:
    """How many leading ``items`` fit in ``room`` characters (the page where the budget runs out)."""
    fitting = 0
    for item in items:
        size = len(compact_json(item)) + 1
        if size > room:
            break
        room -= size
        fitting += 1
    return fitting

"""Shape tool results for agents: the fields they asked for, and the items of a list page.

Stripe objects are large (a subscription is kilobytes) and list pages multiply that, so an
unshaped result can flood an agent's context. :func:`select_fields` keeps only the dotted
paths an agent asks for, :func:`drop_empty` leaves out the fields that hold nothing
(:mod:`.result_budget` then cuts what is still too large); :func:`page_items_of` reads the
items of Truto's list envelope, refusing anything that is not a list. Pure (no I/O);
imports only the package's errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import UnexpectedBodyError, body_preview, json_kind

#: Top-level keys every item keeps: an agent needs the id to take its next step.
ALWAYS_KEPT = ("id", "object")

_PATH_RE = re.compile(r"^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$")
_LIST_NOISE_RE = re.compile(r"\[\*?\]")  # "items.data[].price" -> "items.data.price"
_Tree = dict[str, Any]  # path tree: key -> subtree, or None meaning "keep the whole value"


def compact_json(value: Any) -> str:
    """Serialise for a tool result's text block: no spaces, real UTF-8, ``str()`` for oddities."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def parse_fields(spec: str | Sequence[str]) -> list[str]:
    """Parse a ``fields`` argument (``"id, email,metadata.plan"`` or a list) into dotted paths.

    Trims, drops empties and duplicates (order kept), and tolerates ``data[]`` list markers.
    Raises ValueError naming the bad path, so an agent can correct its call.
    """
    if isinstance(spec, str):
        parts = spec.split(",")
    elif isinstance(spec, Sequence) and all(isinstance(item, str) for item in spec):
        parts = [part for item in spec for part in item.split(",")]
    else:
        raise ValueError(f"fields must be a comma-separated string or a list of strings, got {spec!r}.")
    paths: list[str] = []
    for part in parts:
        path = _LIST_NOISE_RE.sub("", part.strip())
        if not path:
            continue
        if not _PATH_RE.match(path):
            raise ValueError(
                f"Invalid field path {part.strip()!r}: use dot-separated names of letters, digits, "
                "'_', '-' or ':' (e.g. 'id', 'metadata.plan', 'items.data.price.id')."
            )
        if path not in paths:
            paths.append(path)
    return paths


def _build_tree(paths: Sequence[str]) -> _Tree:
    """Merge dotted paths into a tree; a shorter path wins over its extensions (keeps all)."""
    tree: _Tree = {}
    for path in paths:
        node: _Tree | None = tree
        steps = path.split(".")
        for depth, step in enumerate(steps):
            assert node is not None
            if depth == len(steps) - 1:
                node[step] = None
            elif node.get(step, {}) is None:
                break  # an ancestor is already kept whole
            else:
                node = node.setdefault(step, {})
    return tree


_STRIPE_LISTS = frozenset({"list", "search_result"})


def list_key(value: Any) -> str | None:
    """Name of the item list in a Truto envelope (``result``) or a Stripe list or search result
    (``data``), if any."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("result"), list) and "object" not in value:
        return "result"
    if value.get("object") in _STRIPE_LISTS and isinstance(value.get("data"), list):
        return "data"
    return None


def list_cursor_key(value: Any) -> str | None:
    """The key of a list page's cursor to the page after it: Truto's ``next_cursor`` (passed back
    as ``next_cursor``), Stripe search's ``next_page`` (passed back as ``page``); None for a list
    that no argument can page (a Stripe list embedded in an object, a bare list)."""
    key = list_key(value)
    if key == "result":
        return "next_cursor"
    if key == "data" and value.get("object") == "search_result":
        return "next_page"
    return None


def drop_empty(value: Any) -> Any:
    """A copy of ``value`` without the fields that hold nothing: null, ``{}`` or ``[]``.

    Stripe writes every field of an object, set or not (a charge's ``failure_code: null``,
    ``metadata: {}``): a sixth of a charge list and a third of a customer say nothing. Only
    object fields are left out, at any depth, and an object left with no field is left out
    in turn; ``false``, ``0`` and ``""`` are values and stay (``""`` is how Stripe reads an
    unset, so it may matter). A list keeps every element, in place. The keys of a list
    envelope (``next_cursor: null``, an empty ``result``) stay: they say where the list ends.
    """
    key = list_key(value)
    if key is not None:
        return {k: ([_lean(item) for item in v] if k == key else v) for k, v in value.items()}
    return _lean(value)


def _lean(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for name, item in value.items():
            if item is None:
                continue
            item_kind = type(item)
            if item_kind is dict or item_kind is list:
                item = _lean(item)
                if not item:
                    continue
            out[name] = item
        return out
    if kind is list:
        return [_lean(item) if type(item) in (dict, list) else item for item in value]
    return value


def _project(value: Any, tree: _Tree) -> Any:
    """Apply a path tree: dicts keep selected keys (and their ``_iso`` siblings), lists map.

    A scalar where the path expects an object (an unexpanded ``"cus_..."`` id) is kept as is,
    so the agent still sees the reference.
    """
    if isinstance(value, dict):
        out = {}
        for key, val in value.items():
            if key in tree:
                sub = tree[key]
                out[key] = val if sub is None else _project(val, sub)
            elif isinstance(key, str) and key.endswith("_iso") and tree.get(key[:-4], 0) is None:
                out[key] = val
        return out
    if isinstance(value, list):
        return [_project(item, tree) for item in value]
    return value


def select_fields(value: Any, fields: str | Sequence[str]) -> Any:
    """Keep only the given dotted paths of each object, returning new data.

    Applies per item to a Truto envelope's ``result`` (other envelope keys untouched), a
    Stripe list's ``data``, or a bare list; otherwise to the object itself. A path step that
    meets a list applies the rest of the path to every element (``items.data.price.id``).
    Each top-level item always keeps ``id`` and ``object`` even if not asked for. A selected
    ``created`` also keeps ``created_iso``. Missing paths are absent. Empty ``fields`` returns
    ``value`` unchanged.
    """
    paths = parse_fields(fields)
    if not paths:
        return value
    tree = _build_tree(paths)
    top = {**tree, **dict.fromkeys(ALWAYS_KEPT)}
    key = list_key(value)
    if key is not None:
        return {k: ([_project(i, top) for i in v] if k == key else v) for k, v in value.items()}
    if isinstance(value, list):
        return [_project(item, top) for item in value]
    return _project(value, top)


def page_items_of(page: Mapping[str, Any]) -> list[Any]:
    """The items of one list page: its ``result``, which must be a list.

    ``list()`` of anything else would count a string's characters or an object's keys as
    items and report a wrong list as complete, so any other ``result`` is an error.
    """
    items = page.get("result")
    if isinstance(items, list):
        return items
    if "result" not in page:
        found = "no `result`"
    else:
        shown = body_preview(compact_json(items))
        found = f"`result` as a JSON {json_kind(items)} ({shown})"
    raise UnexpectedBodyError(
        f"A page of the list came back with {found} instead of a list of items, so the walk stopped "
        "and counted nothing from it.",
        page_keys=sorted(str(key) for key in page)[:20],
    )

"""Shape tool results for agents: the fields they asked for, and the items of a list page.

Stripe objects are large (a subscription is kilobytes) and list pages multiply that, so an
unshaped result can flood an agent's context. :func:`select_fields` keeps only the dotted
paths an agent asks for (:mod:`.result_budget` then cuts what is still too large);
:func:`page_items_of` reads the items of Truto's list envelope, refusing anything that is
not a list. Pure (no I/O); imports only the package's errors.
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


def list_key(value: Any) -> str | None:
    """Name of the item list in a Truto envelope (``result``) or Stripe list (``data``), if any."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("result"), list) and "object" not in value:
        return "result"
    if value.get("object") == "list" and isinstance(value.get("data"), list):
        return "data"
    return None


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

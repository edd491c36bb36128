"""List calls on stateful resources: Stripe's filters, read from the tool's own query schema.

A list tool's query schema is Stripe's: a parameter that is a range filter (an ``anyOf``
with a ``gt``/``gte``/``lt``/``lte`` hash) filters the same-named epoch field by range, a
list-valued one (``ids``, ``lookup_keys``) by membership, anything else by equality on the
same-named field. The few filters Stripe defines differently (a subscription's ``price``
and ``status``) are spelled out here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .store import Store, StripeObject, decode_offset, encode_offset

DEFAULT_LIMIT = 10
_CLOSED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})
_NOT_FILTERS = frozenset({"limit", "next_cursor", "expand", "created"})
_MEMBERSHIP = {"ids": "id", "lookup_keys": "lookup_key"}
Predicate = Callable[[StripeObject], bool]


def bounds(value: Any) -> tuple[int | None, int | None]:
    """A Stripe range filter (an epoch, or a gt/gte/lt/lte hash) as inclusive (low, high)."""
    if isinstance(value, int):
        return value, value
    low = high = None
    if "gt" in value:
        low = value["gt"] + 1
    if "gte" in value:
        low = value["gte"] if low is None else max(low, value["gte"])
    if "lt" in value:
        high = value["lt"] - 1
    if "lte" in value:
        high = value["lte"] if high is None else min(high, value["lte"])
    return low, high


def _is_range(schema: Mapping[str, Any]) -> bool:
    for branch in schema.get("anyOf") or ():
        props = branch.get("properties") if isinstance(branch, Mapping) else None
        if isinstance(props, Mapping) and {"gt", "gte", "lt", "lte"} & props.keys():
            return True
    return False


def _subscription_filter(name: str, value: Any) -> Predicate | None:
    if name == "status":
        if value == "all":
            return None
        if value == "ended":
            return lambda o: o["status"] in _CLOSED_SUBSCRIPTION
        return lambda o: o["status"] == value
    if name == "price":
        return lambda o: any(item["price"]["id"] == value for item in o["items"]["data"])
    return _field_filter(name, value, {})


def _field_filter(name: str, value: Any, schema: Mapping[str, Any]) -> Predicate:
    if _is_range(schema):
        low, high = bounds(value)
        return lambda o: (
            (v := o.get(name)) is not None and (low is None or v >= low) and (high is None or v <= high)
        )
    if name in _MEMBERSHIP and isinstance(value, list):
        field, wanted = _MEMBERSHIP[name], set(value)
        return lambda o: o.get(field) in wanted
    if isinstance(value, dict):  # a sub-hash such as a price's `recurring[interval]`
        return lambda o: isinstance(o.get(name), dict) and all(o[name].get(k) == v for k, v in value.items())
    return lambda o: o.get(name) == value


def predicates(
    collection: str, query: Mapping[str, Any], tool: Mapping[str, Any], parent: str | None
) -> list[Predicate]:
    """The filters a list call asks for, as predicates over stored objects."""
    schema_props = (tool.get("query_schema") or {}).get("properties") or {}
    found: list[Predicate] = []
    for name, value in query.items():
        if name in _NOT_FILTERS or name == parent:
            continue
        if collection == "subscriptions":
            predicate = _subscription_filter(name, value)
        else:
            predicate = _field_filter(name, value, schema_props.get(name) or {})
        if predicate is not None:
            found.append(predicate)
    if collection == "subscriptions" and "status" not in query:
        found.append(lambda o: o["status"] not in _CLOSED_SUBSCRIPTION)  # Stripe's default
    if parent is not None and query.get(parent) is not None:
        parent_id = query[parent]
        found.append(lambda o: o.get(parent) == parent_id)
    return found


def envelope(items: list[StripeObject], cursor: str | None) -> dict[str, Any]:
    """Truto's list envelope around one page."""
    return {
        "result": items,
        "next_cursor": cursor,
        "prev_cursor": None,
        "result_count": len(items),
        "is_partial_response": False,
    }


def list_objects(
    store: Store, collection: str, query: Mapping[str, Any], tool: Mapping[str, Any], *, parent: str | None
) -> dict[str, Any]:
    """One page of a stateful collection, newest first, in Truto's envelope."""
    found = predicates(collection, query, tool, parent)
    low = high = None
    if "created" in query:
        low, high = bounds(query["created"])
    items, cursor = store.page(
        collection,
        limit=query.get("limit", DEFAULT_LIMIT),
        cursor=query.get("next_cursor"),
        predicate=(lambda o: all(p(o) for p in found)) if found else None,
        created_low=low,
        created_high=high,
    )
    expand = [path.removeprefix("data.") for path in query.get("expand") or []]
    if expand:
        items = [store.expand(obj, expand) for obj in items]
    return envelope(items, cursor)


def embedded_page(
    store: Store, query: Mapping[str, Any], *, parent: str, parent_collection: str, embedded: str
) -> dict[str, Any]:
    """A page of the list embedded in the parent object (an invoice's lines), in Truto's envelope."""
    owner = store.require(parent_collection, str(query[parent]), param=parent)
    data: list[StripeObject] = owner[embedded]["data"]
    start = decode_offset(query["next_cursor"]) if query.get("next_cursor") else 0
    limit = int(query.get("limit", DEFAULT_LIMIT))
    page = data[start : start + limit]
    more = start + limit < len(data)
    return envelope(page, encode_offset(start + limit) if more else None)

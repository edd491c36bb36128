"""Dispatch of validated proxy calls to Stripe semantics, plus the generic list and get.

Each write operation lives in `ops_payments` / `ops_billing` and registers itself with
`@operation(collection, method)`; nested resources (customer_subscriptions,
customer_tax_ids) share their collection's operations, with the parent id checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .catalog import SPECS, TOOL_INDEX
from .errors import invalid, missing, truto_error
from .schemas import ResourceSpec
from .store import Store, StripeObject
from .validation import validate_call

Operation = Callable[["Call"], StripeObject]
OPERATIONS: dict[tuple[str, str], Operation] = {}

DEFAULT_LIMIT = 10
CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
_CLOSED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})


def operation(collection: str, method: str) -> Callable[[Operation], Operation]:
    """Register the Stripe semantics of one write or custom method."""

    def register(func: Operation) -> Operation:
        OPERATIONS[(collection, method)] = func
        return func

    return register


@dataclass
class Call:
    """One validated proxy call."""

    store: Store
    spec: ResourceSpec
    method: str
    path_id: str | None
    query: dict[str, Any]
    body: dict[str, Any]

    @property
    def object_id(self) -> str:
        """The target id: the path segment, or the body `id` for custom methods."""
        return self.path_id if self.path_id is not None else str(self.body["id"])

    @property
    def parent_id(self) -> str | None:
        return self.query.get(self.spec.parent) if self.spec.parent else None

    def now(self) -> int:
        return self.store.clock()

    def target(self) -> StripeObject:
        """The addressed object, checked against the parent for nested resources."""
        obj = self.store.require(self.spec.collection, self.object_id)
        if self.spec.parent and obj.get(self.spec.parent) != self.parent_id:
            raise missing(self.store.collection(self.spec.collection).object_name, self.object_id)
        return obj


def money(amount: int, currency: str) -> str:
    """Stripe's way of quoting amounts in messages: `$1,500.00`."""
    symbol = CURRENCY_SYMBOLS.get(currency, "")
    text = f"{amount / 100:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def merge_metadata(obj: StripeObject, metadata: dict[str, str] | None) -> None:
    """Stripe merges metadata keys; an empty value removes a key."""
    for key, value in (metadata or {}).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value


def clean_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (metadata or {}).items() if v != ""}


def set_fields(obj: StripeObject, body: dict[str, Any], names: tuple[str, ...]) -> None:
    """Copy plain fields from the body; metadata is merged, never replaced."""
    for name in names:
        if name in body:
            obj[name] = body[name]
    if "metadata" in body:
        merge_metadata(obj, body["metadata"])


def prepare(
    store: Store, resource: str, method: str, path_id: str | None, query: dict[str, Any], body: Any
) -> Call:
    """Resolve the tool and validate its parameters (no side effects, so never cached)."""
    spec = SPECS.get(resource)
    if spec is None:
        raise truto_error(404, f"Resource {resource} is not available for this integration")
    tool = TOOL_INDEX.get((resource, method))
    if tool is None:
        raise truto_error(404, f"Method {method} is not available on resource {resource}")
    if body is not None and not isinstance(body, dict):
        raise truto_error(400, "The request body must be a JSON object")
    clean_query, clean_body = validate_call(tool, query, body, path_id=path_id)
    return Call(store, spec, method, path_id, clean_query, clean_body)


def execute(call: Call) -> StripeObject:
    """Run the call against the store; returns the list envelope or a Stripe object."""
    if call.method == "list":
        return list_objects(call)
    if call.method == "get":
        return get_object(call)
    if call.spec.parent and call.parent_id is not None:
        call.store.require("customers", call.parent_id, param=call.spec.parent)
    func = OPERATIONS[(call.spec.collection, call.method)]
    with call.store.lock:
        result = func(call)
    expand = call.query.get("expand") or call.body.get("expand") or []
    return call.store.expand(result, expand) if expand and "deleted" not in result else result


def get_object(call: Call) -> StripeObject:
    coll = call.store.collection(call.spec.collection)
    if call.spec.collection == "customers" and call.object_id in coll.deleted:
        return coll.deleted[call.object_id]  # Stripe still answers for deleted customers
    obj = call.target()
    return call.store.expand(obj, call.query.get("expand") or [])


def _bounds(value: Any) -> tuple[int | None, int | None]:
    """A Stripe range filter as inclusive (low, high)."""
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


def _predicate(call: Call, name: str, value: Any) -> Callable[[StripeObject], bool] | None:
    schema = call.spec.filters[name]
    if call.spec.collection == "subscriptions" and name == "status":
        if value == "all":
            return None
        if value == "ended":
            return lambda o: o["status"] in _CLOSED_SUBSCRIPTION
        return lambda o: o["status"] == value
    if call.spec.collection == "subscriptions" and name == "price":
        return lambda o: any(item["price"]["id"] == value for item in o["items"]["data"])
    if isinstance(schema.get("type"), list):  # timestamp range
        low, high = _bounds(value)
        return lambda o: (
            (v := o.get(name)) is not None and (low is None or v >= low) and (high is None or v <= high)
        )
    return lambda o: o.get(name) == value


def list_objects(call: Call) -> dict[str, Any]:
    """Truto's list envelope around one page of Stripe objects."""
    store, q = call.store, call.query
    predicates = [
        p
        for name in call.spec.filters
        if name in q and name != "created"  # `created` is served by the store's bisect
        if (p := _predicate(call, name, q[name]))
    ]
    if call.spec.collection == "subscriptions" and "status" not in q:
        predicates.append(lambda o: o["status"] not in _CLOSED_SUBSCRIPTION)  # Stripe's default
    if call.spec.parent:
        parent = call.parent_id
        store.require("customers", str(parent), param=call.spec.parent)
        predicates.append(lambda o: o.get(call.spec.parent or "") == parent)
    low = high = None
    if "created" in q:
        low, high = _bounds(q["created"])
    items, cursor = store.page(
        call.spec.collection,
        limit=q.get("limit", DEFAULT_LIMIT),
        cursor=q.get("next_cursor"),
        predicate=(lambda o: all(p(o) for p in predicates)) if predicates else None,
        created_low=low,
        created_high=high,
    )
    expand = [path.removeprefix("data.") for path in q.get("expand") or []]
    if expand:
        items = [store.expand(obj, expand) for obj in items]
    return {
        "result": items,
        "next_cursor": cursor,
        "prev_cursor": None,
        "result_count": len(items),
        "is_partial_response": False,
    }


def require_customer(call: Call, customer_id: str | None, param: str = "customer") -> StripeObject | None:
    """Resolve an optional customer parameter (404 naming the parameter if unknown)."""
    if customer_id is None:
        return None
    return call.store.require("customers", customer_id, param=param)


def unexpected_state(message: str) -> Exception:
    """Stripe's error for acting on a PaymentIntent in the wrong status."""
    return invalid(message, code="payment_intent_unexpected_state")

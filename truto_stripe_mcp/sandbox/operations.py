"""Dispatch of validated proxy calls: Stripe semantics where the sandbox keeps state,
schema-shaped answers everywhere else.

Every call is first validated against its tool's real Stripe schemas (any tool of the
catalog). Resources of the billing core (:data:`STATEFUL`) are served from the store:
lists and gets generically, writes and custom methods by the operations that register
themselves here with ``@operation(collection, method)`` (in ``ops_payments``,
``ops_billing``, ``ops_extra``). Nested resources (customer_subscriptions,
customer_tax_ids, charge_refunds) share their collection's operations, with the parent id
checked here. Any other operation is answered by :class:`~.synthetic.Synthesizer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import invalid, missing, truto_error
from .listing import embedded_page, list_objects
from .store import Store, StripeObject
from .stripe_spec import StripeRoute, load_spec
from .synthetic import Synthesizer
from .validation import validate_call

Operation = Callable[["Call"], StripeObject]
OPERATIONS: dict[tuple[str, str], Operation] = {}

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
MAX_LIMIT = 100


@dataclass(frozen=True)
class Stateful:
    """A Truto resource whose objects live in the store.

    ``parent`` is the query property carrying the parent id of a nested resource (and the
    field of each object that holds it); ``parent_collection`` where that parent lives.
    ``key`` is the field a path id matches (a charge's dispute is addressed by the charge
    id); ``embedded`` names the list inside the parent object that a nested list reads
    (an invoice's ``lines``).
    """

    collection: str
    parent: str | None = None
    parent_collection: str = "customers"
    key: str = "id"
    embedded: str | None = None


STATEFUL: dict[str, Stateful] = {
    "customers": Stateful("customers"),
    "charges": Stateful("charges"),
    "refunds": Stateful("refunds"),
    "charge_refunds": Stateful("refunds", parent="charge", parent_collection="charges"),
    "disputes": Stateful("disputes"),
    "payment_intents": Stateful("payment_intents"),
    "customer_tax_ids": Stateful("tax_ids", parent="customer"),
    "subscriptions": Stateful("subscriptions"),
    "customer_subscriptions": Stateful("subscriptions", parent="customer"),
    "invoices": Stateful("invoices"),
    "products": Stateful("products"),
    "prices": Stateful("prices"),
    "payment_links": Stateful("payment_links"),
    "charge_dispute": Stateful("disputes", key="charge"),
    "invoice_lines": Stateful("invoices", parent="invoice", parent_collection="invoices", embedded="lines"),
    "payment_link_line_items": Stateful(
        "payment_links", parent="payment_link", parent_collection="payment_links", embedded="line_items"
    ),
}


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
    tool: dict[str, Any]
    route: StripeRoute
    model: Stateful | None
    path_id: str | None
    query: dict[str, Any]
    body: dict[str, Any]

    @property
    def method(self) -> str:
        return str(self.tool["method"])

    @property
    def collection(self) -> str:
        assert self.model is not None
        return self.model.collection

    @property
    def object_id(self) -> str:
        """The target id: the path segment, or the body `id` for custom methods."""
        return self.path_id if self.path_id is not None else str(self.body["id"])

    @property
    def parent_id(self) -> str | None:
        parent = self.model.parent if self.model else None
        return self.query.get(parent) if parent else None

    def now(self) -> int:
        return self.store.clock()

    def require(self, name: str) -> Any:
        """A body parameter the operation cannot do without (Stripe's 400 when absent)."""
        value = self.body.get(name)
        if value is None or value == "":
            raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return value

    def target(self) -> StripeObject:
        """The addressed object, checked against the parent for nested resources."""
        if self.model is not None and self.model.key != "id":
            return self._by_key(self.model.key)
        obj = self.store.require(self.collection, self.object_id)
        parent = self.model.parent if self.model else None
        if parent and obj.get(parent) != self.parent_id:
            raise missing(self.store.collection(self.collection).object_name, self.object_id)
        return obj

    def _by_key(self, key: str) -> StripeObject:
        """The object whose ``key`` field is the path id (the dispute of charge ``ch_...``)."""
        found = next(iter(self.store.list(self.collection, **{key: self.object_id})), None)
        if found is None:
            kind = self.store.collection(self.collection).object_name
            raise missing(f"{kind} for {key}", self.object_id)
        return found


def money(amount: int, currency: str) -> str:
    """Stripe's way of quoting amounts in messages: `$1,500.00`."""
    symbol = CURRENCY_SYMBOLS.get(currency, "")
    text = f"{amount / 100:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def merge_metadata(obj: StripeObject, metadata: dict[str, str] | str | None) -> None:
    """Stripe merges metadata keys; an empty value removes a key, and ``""`` clears them all."""
    if metadata == "" or metadata == {}:
        if metadata == "":
            obj["metadata"] = {}
        return
    for key, value in (metadata or {}).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value


def clean_metadata(metadata: dict[str, str] | str | None) -> dict[str, str]:
    if not isinstance(metadata, dict):
        return {}
    return {k: v for k, v in metadata.items() if v != ""}


def set_fields(obj: StripeObject, body: dict[str, Any], names: tuple[str, ...]) -> None:
    """Copy plain fields from the body (``""`` unsets one); metadata is merged, never replaced."""
    for name in names:
        if name in body:
            obj[name] = None if body[name] == "" else body[name]
    if "metadata" in body:
        merge_metadata(obj, body["metadata"])


def prepare(
    store: Store, resource: str, method: str, path_id: str | None, query: dict[str, Any], body: Any
) -> Call:
    """Resolve the tool and validate its parameters (no side effects, so never cached)."""
    spec = load_spec()
    if resource not in spec.resources():
        raise truto_error(404, f"Resource {resource} is not available for this integration")
    tool = spec.tool(resource, method)
    if tool is None:
        raise truto_error(404, f"Method {method} is not available on resource {resource}")
    if body is not None and not isinstance(body, dict):
        raise truto_error(400, "The request body must be a JSON object")
    clean_query, clean_body = validate_call(tool, query, body, path_id=path_id)
    limit = clean_query.get("limit")
    if isinstance(limit, int) and not 1 <= limit <= MAX_LIMIT:
        # Stripe's bound, which its schema does not state.
        raise invalid(
            f"Invalid limit: must be between 1 and {MAX_LIMIT}",
            code="parameter_invalid_integer",
            param="limit",
        )
    if method == "delete":
        body_names = set((tool.get("body_schema") or {}).get("properties") or {})
        clean_body.update({name: clean_query.pop(name) for name in list(clean_query) if name in body_names})
    return Call(
        store, tool, spec.routes[tool["name"]], STATEFUL.get(resource), path_id, clean_query, clean_body
    )


def execute(call: Call) -> StripeObject:
    """Run the call; returns Truto's list envelope or a Stripe object."""
    model = call.model
    if model is None or (
        call.method not in ("list", "get") and (model.collection, call.method) not in OPERATIONS
    ):
        return _synthetic(call)
    if model.parent and call.parent_id is not None:
        call.store.require(model.parent_collection, call.parent_id, param=model.parent)
        if call.method == "create":
            call.body.setdefault(model.parent, call.parent_id)
    if call.method == "list" and model.embedded and model.parent:
        return embedded_page(
            call.store,
            call.query,
            parent=model.parent,
            parent_collection=model.parent_collection,
            embedded=model.embedded,
        )
    if call.method == "list":
        return list_objects(call.store, model.collection, call.query, call.tool, parent=model.parent)
    if call.method == "get":
        return get_object(call)
    func = OPERATIONS[(model.collection, call.method)]
    with call.store.lock:
        result = func(call)
    expand = call.query.get("expand") or call.body.get("expand") or []
    if not expand or "deleted" in result or result.get("object") in ("list", "search_result"):
        return result
    return call.store.expand(result, expand)


_OWNERS = {
    "customer": "customers",
    "charge": "charges",
    "invoice": "invoices",
    "subscription": "subscriptions",
    "subscription_exposed_id": "subscriptions",
}
"""Stripe path parameters that name a stored object: a synthetic answer about a customer's
cards or an invoice's lines still needs that customer or invoice to exist."""


def _synthetic(call: Call) -> StripeObject:
    """A schema-shaped answer; ids of stored objects that the call names must be real."""
    if call.model is not None and (call.path_id is not None or "id" in call.body):
        call.target()
    for prop, param in call.route.parents.items():
        if param in _OWNERS and call.query.get(prop) is not None:
            call.store.require(_OWNERS[param], str(call.query[prop]), param=prop)
    if call.route.id_param in _OWNERS and call.model is None:
        call.store.require(_OWNERS[call.route.id_param], call.object_id, param="id")
    for name, value in {**call.query, **call.body}.items():
        # A parameter that names a stored object (preview a credit note of `invoice`, an
        # invoice item for `customer`) must name a real one, as at Stripe.
        if name in _OWNERS and isinstance(value, str) and value and name not in call.route.parents:
            call.store.require(_OWNERS[name], value, param=name)
    synthesizer = Synthesizer(load_spec(), int(call.store.anchor))
    return synthesizer.answer(call.tool, call.route, path_id=call.path_id, query=call.query, body=call.body)


def get_object(call: Call) -> StripeObject:
    coll = call.store.collection(call.collection)
    if call.collection == "customers" and call.object_id in coll.deleted:
        return coll.deleted[call.object_id]  # Stripe still answers for deleted customers
    obj = call.target()
    return call.store.expand(obj, call.query.get("expand") or [])


def require_customer(call: Call, customer_id: str | None, param: str = "customer") -> StripeObject | None:
    """Resolve an optional customer parameter (404 naming the parameter if unknown)."""
    if customer_id is None:
        return None
    return call.store.require("customers", customer_id, param=param)


def unexpected_state(message: str) -> Exception:
    """Stripe's error for acting on a PaymentIntent in the wrong status."""
    return invalid(message, code="payment_intent_unexpected_state")

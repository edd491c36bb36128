"""Catalog parsing, schema merging, annotations, filters and request routing."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec, parse_tool
from truto_stripe_mcp.catalog.toolsets import Selection
from truto_stripe_mcp.errors import CatalogFormatError, InvalidArgumentsError
from truto_stripe_mcp.pipeline.check_arguments import validate_arguments
from truto_stripe_mcp.pipeline.send import route
from truto_stripe_mcp.upstream.client import encode_path_id, encode_query, extract_tools

LIST_CUSTOMERS = {
    "name": "list_all_stripe_customers",
    "description": "List all customers.",
    "resource": "customers",
    "method": "list",
    "query_schema": {
        "type": "object",
        "properties": {"email": {"type": "string"}, "limit": {"type": "integer"}},
    },
    "body_schema": {"type": "object", "properties": {}},
    "required": [],
    "tags": ["customers"],
}
CREATE_REFUND = {
    "name": "create_a_stripe_refund",
    "description": "Refund a charge.",
    "resource": "refunds",
    "method": "create",
    "query_schema": None,
    "body_schema": {
        "type": "object",
        "properties": {
            "charge": {"type": "string"},
            "amount": {"type": "integer"},
            "metadata": {"type": "object"},
        },
    },
    "required": ["charge"],
    "tags": ["refunds"],
}
UPDATE_CUSTOMER = {
    "name": "update_a_stripe_customer_by_id",
    "description": "Update a customer.",
    "resource": "customers",
    "method": "update",
    "body_schema": {"type": "object", "properties": {"name": {"type": "string"}}},
    "tags": ["customers"],
}
GET_SUB = {
    "name": "get_single_stripe_customer_subscription_by_id",
    "resource": "customer_subscriptions",
    "method": "get",
    "query_schema": {"type": "object", "properties": {"customer": {"type": "string"}}},
    "required": ["customer"],
}
DELETE_CUSTOMER = {"name": "delete_a_stripe_customer_by_id", "resource": "customers", "method": "delete"}
CAPTURE = {
    "name": "capture_a_stripe_payment_intent",
    "resource": "payment_intents",
    "method": "capture",
    "body_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    "required": ["id"],
}
ALL = [LIST_CUSTOMERS, CREATE_REFUND, UPDATE_CUSTOMER, GET_SUB, DELETE_CUSTOMER, CAPTURE]


@pytest.mark.parametrize(
    "payload",
    [{"result": ALL}, {"results": ALL}, ALL, {"result": ALL, "next_cursor": None}],
    ids=["result", "results", "bare", "null-cursor"],
)
def test_every_catalog_shape_parses(payload: object) -> None:
    entries, cursor = extract_tools(payload)
    assert cursor is None
    catalog = Catalog.from_entries(entries)
    assert catalog.names() == sorted(tool["name"] for tool in ALL)


def test_catalog_cursor_is_returned() -> None:
    _, cursor = extract_tools({"result": [], "next_cursor": "abc"})
    assert cursor == "abc"


@pytest.mark.parametrize("payload", [{"data": []}, "nope", 3, {"result": "x"}])
def test_bad_catalog_shapes_are_errors(payload: object) -> None:
    with pytest.raises(CatalogFormatError):
        extract_tools(payload)


def test_missing_schemas_become_empty() -> None:
    spec = parse_tool(DELETE_CUSTOMER)
    assert spec.query_schema == {} and spec.body_schema == {}
    assert spec.input_schema["required"] == ["id"]


def test_list_schema_has_limit_and_cursor_and_hints() -> None:
    spec = parse_tool(LIST_CUSTOMERS)
    props = spec.input_schema["properties"]
    assert set(props) == {"email", "limit", "next_cursor", "fields"}
    # Truto's definition, with Stripe's bounds (which Stripe's own schema does not state).
    assert props["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": "Page size (1-100).",
    }
    assert spec.agent_description == "List all customers. Paged by `next_cursor`."
    assert spec.input_schema["additionalProperties"] is False


def test_merged_schema_and_required() -> None:
    spec = parse_tool(CREATE_REFUND)
    schema = spec.input_schema
    assert set(schema["properties"]) == {
        "charge",
        "amount",
        "metadata",
        "idempotency_key",
        "confirmation_token",
    }
    assert schema["required"] == ["charge"]
    assert "idempotency_key" not in parse_tool(LIST_CUSTOMERS).input_schema["properties"]
    spec = parse_tool(GET_SUB)
    assert spec.input_schema["required"] == ["id", "customer"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (LIST_CUSTOMERS, {"readOnlyHint": True, "idempotentHint": True, "destructiveHint": False}),
        (CREATE_REFUND, {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False}),
        (UPDATE_CUSTOMER, {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True}),
        (DELETE_CUSTOMER, {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True}),
        (CAPTURE, {"readOnlyHint": False, "destructiveHint": True}),
    ],
)
def test_annotations_follow_the_method(raw: dict, expected: dict) -> None:
    annotations = parse_tool(raw).annotations
    assert annotations["openWorldHint"] is True
    for key, value in expected.items():
        assert annotations[key] is value, key


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        (LIST_CUSTOMERS, "List Stripe customers"),
        (CREATE_REFUND, "Create a Stripe refund"),
        (GET_SUB, "Get a Stripe customer subscription"),
        (CAPTURE, "Capture a Stripe payment intent"),
    ],
)
def test_titles(raw: dict, title: str) -> None:
    assert parse_tool(raw).title == title


def _names(selection: Selection) -> set[str]:
    return {spec.name for spec in selection.apply(Catalog.from_entries(ALL).specs)}


def test_filters() -> None:
    everything = {tool["name"] for tool in ALL}
    every = ("all",)
    assert _names(Selection(toolsets=every)) == everything
    assert _names(Selection(methods=("read",))) == {"list_all_stripe_customers", GET_SUB["name"]}
    assert _names(Selection(methods=("write",))) == {
        "create_a_stripe_refund",
        "update_a_stripe_customer_by_id",
        "delete_a_stripe_customer_by_id",
    }
    assert _names(Selection(methods=("custom",))) == {"capture_a_stripe_payment_intent"}
    assert _names(Selection(methods=("capture",))) == {"capture_a_stripe_payment_intent"}
    assert _names(Selection(tags=("customers",))) == {
        "list_all_stripe_customers",
        "update_a_stripe_customer_by_id",
    }
    assert _names(Selection(tags=("customers",), methods=("list",))) == {"list_all_stripe_customers"}
    allow = ("list_all_stripe_customers", "create_a_stripe_refund")
    assert _names(Selection(tools=allow)) == set(allow)
    # exclusion wins over the allow list; read-only wins over everything.
    assert _names(Selection(tools=allow, exclude_tools=("create_a_stripe_refund",))) == {allow[0]}
    assert _names(Selection(tools=allow, read_only=True)) == {"list_all_stripe_customers"}
    assert _names(Selection(methods=("write",), read_only=True)) == set()


def test_refusal_messages_name_the_reason() -> None:
    refund = parse_tool(CREATE_REFUND)
    assert "read-only" in (Selection(read_only=True).refusal(refund) or "")
    assert "excluded" in (Selection(exclude_tools=(refund.name,)).refusal(refund) or "")
    assert Selection(toolsets=("all",)).refusal(refund) is None


def test_upstream_query() -> None:
    assert Selection(methods=("read", "capture"), tags=("a", "b")).upstream_query() == {
        "methods": "read,capture",
        "tags": "a,b",
    }
    assert Selection(read_only=True).upstream_query() == {}


@pytest.mark.parametrize(
    ("raw", "arguments", "method", "path", "query", "body"),
    [
        (
            LIST_CUSTOMERS,
            {"email": "a@b.c", "limit": 2},
            "GET",
            "/proxy/customers",
            {"email": "a@b.c", "limit": "2"},
            None,
        ),
        (
            CREATE_REFUND,
            {"charge": "ch_1", "amount": 5},
            "POST",
            "/proxy/refunds",
            {},
            {"charge": "ch_1", "amount": 5},
        ),
        (UPDATE_CUSTOMER, {"id": "cus_1", "name": "N"}, "PATCH", "/proxy/customers/cus_1", {}, {"name": "N"}),
        (DELETE_CUSTOMER, {"id": "cus_1"}, "DELETE", "/proxy/customers/cus_1", {}, None),
        (
            GET_SUB,
            {"id": "sub_1", "customer": "cus_1"},
            "GET",
            "/proxy/customer_subscriptions/sub_1",
            {"customer": "cus_1"},
            None,
        ),
        (CAPTURE, {"id": "pi_1"}, "POST", "/proxy/payment_intents/capture", {}, {"id": "pi_1"}),
    ],
)
def test_routes(raw: dict, arguments: dict, method: str, path: str, query: dict, body: dict | None) -> None:
    spec = parse_tool(raw)
    checked = validate_arguments(spec.name, spec.input_schema, arguments, max_bytes=10_000)
    path_id, q, b = spec.split_arguments(checked)
    request = route(spec, path_id=path_id, query=q, body=b)
    assert (request.http_method, request.path) == (method, path)
    assert dict(request.query) == query
    assert request.body == body


def test_bracket_encoding() -> None:
    assert encode_query({"created": {"gte": 1, "lt": 2}, "expand": ["customer", "invoice"]}) == [
        ("created[gte]", "1"),
        ("created[lt]", "2"),
        ("expand[]", "customer"),
        ("expand[]", "invoice"),
    ]
    assert encode_query({"items": [{"price": "p", "quantity": 2}], "active": True, "x": None}) == [
        ("items[0][price]", "p"),
        ("items[0][quantity]", "2"),
        ("active", "true"),
    ]


@pytest.mark.parametrize("object_id", ["../customers", "a/b", "x?y=1", "#frag", "%2F", "cus 1", "ü"])
def test_ids_stay_one_segment(object_id: str) -> None:
    encoded = encode_path_id(object_id)
    assert "/" not in encoded and "?" not in encoded and "#" not in encoded
    assert unquote(encoded) == object_id


@pytest.mark.parametrize("object_id", [".", "..", "", "a\nb"])
def test_dot_and_control_ids_are_refused(object_id: str) -> None:
    with pytest.raises(InvalidArgumentsError):
        encode_path_id(object_id)


def test_validation_names_every_problem() -> None:
    spec = parse_tool(CREATE_REFUND)
    with pytest.raises(InvalidArgumentsError) as caught:
        validate_arguments(spec.name, spec.input_schema, {"amount": "ten", "emial": 1}, max_bytes=10_000)
    text = str(caught.value)
    assert "missing required `charge`" in text
    assert "`amount` must be integer" in text
    assert "unknown argument `emial`" in text


def test_validation_size_limit() -> None:
    spec = parse_tool(CREATE_REFUND)
    with pytest.raises(InvalidArgumentsError, match="byte limit"):
        validate_arguments(spec.name, spec.input_schema, {"charge": "x" * 2000}, max_bytes=1000)


def test_toolspec_is_deterministic() -> None:
    a = ToolSpec(name="n", description="", resource="r", method="list")
    b = ToolSpec(name="n", description="", resource="r", method="list")
    assert a.input_schema == b.input_schema

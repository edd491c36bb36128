"""The sandbox serves Stripe's whole API: every operation of the derived catalog answers.

Stateful resources answer from the store; every other operation answers with an object
shaped by Stripe's response schema. Real loopback server, plain httpx.
"""

from __future__ import annotations

from typing import Any

import httpx

# The fixtures `server`, `sandbox` (reseeded per test) and `client` are in this folder's conftest.
from tests.sandbox_http.conftest import ACCOUNT, NOW
from tests.stripe_arguments import required_arguments
from truto_stripe_mcp.sandbox import (
    JANE_CHARGE_ID,
    JANE_CUSTOMER_ID,
    Sandbox,
)
from truto_stripe_mcp.sandbox.catalog import all_tools
from truto_stripe_mcp.sandbox.stripe_spec import load_spec
from truto_stripe_mcp.upstream.client import encode_query


def call_tool(
    client: httpx.Client, tool: dict[str, Any], overrides: dict[str, Any] | None = None
) -> httpx.Response:
    """One call by the contract's route table, with every required argument filled in."""
    query_props = (tool.get("query_schema") or {}).get("properties") or {}
    body_props = (tool.get("body_schema") or {}).get("properties") or {}
    args = required_arguments({**query_props, **body_props}, tool["required"])
    args.update(overrides or {})
    path_id = str(args.pop("id", "x")) if tool["method"] in ("get", "update", "delete") else None
    query = {k: v for k, v in args.items() if k in query_props}
    body = {k: v for k, v in args.items() if k in body_props or k not in query_props}
    params = [*ACCOUNT.items(), *encode_query(query)]
    resource, method = tool["resource"], tool["method"]
    if method == "list":
        return client.get(f"/proxy/{resource}", params=params)
    if method == "get":
        return client.get(f"/proxy/{resource}/{path_id}", params=params)
    if method == "create":
        return client.post(f"/proxy/{resource}", params=params, json=body)
    if method == "update":
        return client.patch(f"/proxy/{resource}/{path_id}", params=params, json=body)
    if method == "delete":
        return client.delete(f"/proxy/{resource}/{path_id}", params=params)
    return client.post(f"/proxy/{resource}/{method}", params=params, json=body)


def test_every_operation_answers(client: httpx.Client) -> None:
    """All 468 operations are routed: a Stripe answer or a Stripe error, never Truto's 404 or a 500."""
    tools = all_tools()
    assert len(tools) == 468
    unanswered = []
    for tool in tools:
        response = call_tool(client, tool)
        body = response.json()
        if response.status_code == 200:
            if tool["method"] == "list":
                assert set(body) >= {"result", "next_cursor", "result_count"}, tool["name"]
            continue
        if response.status_code >= 500 or not body.get("truto_is_remote_error"):
            unanswered.append((tool["name"], response.status_code, body.get("message")))
    assert unanswered == []


def test_synthetic_answers_are_shaped_by_stripe(client: httpx.Client) -> None:
    spec = load_spec()
    coupon_tools = {t["method"]: t for t in spec.tools if t["resource"] == "coupons"}
    got = call_tool(client, coupon_tools["get"], {"id": "SUMMER20"}).json()
    assert (got["id"], got["object"]) == ("SUMMER20", "coupon")
    assert isinstance(got["created"], int) and NOW - 31 * 86_400 <= got["created"] <= NOW
    created = call_tool(client, coupon_tools["create"], {"percent_off": 20, "duration": "once"}).json()
    assert created["percent_off"] == 20 and created["duration"] == "once" and created["object"] == "coupon"
    again = call_tool(client, coupon_tools["create"], {"percent_off": 20, "duration": "once"}).json()
    assert again == created  # deterministic: the same call, the same answer
    listed = call_tool(client, coupon_tools["list"], {"limit": 2}).json()
    assert listed["result_count"] == 2 and listed["next_cursor"] is None
    assert all(item["object"] == "coupon" for item in listed["result"])
    deleted = call_tool(client, coupon_tools["delete"], {"id": "SUMMER20"}).json()
    assert deleted == {"deleted": True, "id": "SUMMER20", "object": "coupon"}
    payout = call_tool(client, spec.tool("payouts", "get"), {"id": "po_123"}).json()
    assert payout["id"] == "po_123" and payout["object"] == "payout" and payout["amount"] == 1000
    assert payout["balance_transaction"].startswith("txn_")  # expandable fields carry real prefixes
    items = call_tool(client, spec.tool("invoiceitems", "list"), {"limit": 1}).json()["result"]
    assert items[0]["id"].startswith("ii_") and items[0]["customer"].startswith("cus_")


def test_stateful_ids_must_exist(client: httpx.Client) -> None:
    """A modelled resource never invents an object: unmodelled actions still 404 on unknown ids."""
    spec = load_spec()
    response = call_tool(client, spec.tool("payment_intents", "verify_microdeposits"), {"id": "pi_nope"})
    assert (
        response.status_code == 404 and response.json()["raw_response"]["error"]["code"] == "resource_missing"
    )
    cards = call_tool(client, spec.tool("customer_cards", "list"), {"customer": "cus_nope"})
    assert cards.status_code == 404 and "cus_nope" in cards.json()["message"]
    balance = call_tool(client, spec.tool("customer_cash_balance", "get"), {"id": JANE_CUSTOMER_ID})
    assert balance.status_code == 200 and balance.json()["customer"] == JANE_CUSTOMER_ID


def test_search(client: httpx.Client) -> None:
    spec = load_spec()
    search = spec.tool("customers", "search")
    found = call_tool(client, search, {"query": "email:'jane@example.com'"}).json()
    assert found["object"] == "search_result" and [c["id"] for c in found["data"]] == [JANE_CUSTOMER_ID]
    both = call_tool(
        client, search, {"query": "email:'jane@example.com' OR metadata['plan']:'business'"}
    ).json()
    assert JANE_CUSTOMER_ID in {c["id"] for c in both["data"]}
    big = call_tool(
        client, spec.tool("charges", "search"), {"query": "amount>=150000 AND currency:'usd'"}
    ).json()
    assert big["data"] and all(c["amount"] >= 150_000 and c["currency"] == "usd" for c in big["data"])
    paged = call_tool(
        client, spec.tool("charges", "search"), {"query": "status:'succeeded'", "limit": 5}
    ).json()
    assert paged["has_more"] and paged["next_page"]
    more = call_tool(
        client,
        spec.tool("charges", "search"),
        {"query": "status:'succeeded'", "limit": 5, "page": paged["next_page"]},
    ).json()
    assert not {c["id"] for c in more["data"]} & {c["id"] for c in paged["data"]}
    bad = call_tool(client, search, {"query": "email is jane"})
    assert bad.status_code == 400 and bad.json()["raw_response"]["error"]["param"] == "query"


def test_nested_views_of_stored_objects(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = load_spec()
    disputed = sandbox.store.list("charges", disputed=True)[0]
    dispute = call_tool(client, spec.tool("charge_dispute", "get"), {"id": disputed["id"]}).json()
    assert dispute["object"] == "dispute" and dispute["charge"] == disputed["id"]
    none = call_tool(client, spec.tool("charge_dispute", "get"), {"id": JANE_CHARGE_ID})
    assert none.status_code == 404
    invoice = sandbox.store.list("invoices", status="paid")[0]
    lines = call_tool(client, spec.tool("invoice_lines", "list"), {"invoice": invoice["id"]}).json()
    assert [line["id"] for line in lines["result"]] == [line["id"] for line in invoice["lines"]["data"]]
    refund = call_tool(
        client, spec.tool("charge_refunds", "create"), {"charge": JANE_CHARGE_ID, "amount": 500}
    )
    assert refund.json()["charge"] == JANE_CHARGE_ID and refund.json()["amount"] == 500
    listed = call_tool(client, spec.tool("charge_refunds", "list"), {"charge": JANE_CHARGE_ID}).json()
    assert [r["id"] for r in listed["result"]] == [refund.json()["id"]]


def test_stripe_schemas_validate_like_stripe(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = load_spec()
    update = spec.tool("customers", "update")
    cleared = call_tool(client, update, {"id": JANE_CUSTOMER_ID, "metadata": ""}).json()
    assert cleared["metadata"] == {}  # `""` unsets every key, Stripe's enum [""]
    wrong = call_tool(client, update, {"id": JANE_CUSTOMER_ID, "metadata": "nope"})
    assert wrong.status_code == 400
    exact = call_tool(
        client, spec.tool("charges", "list"), {"created": {"gte": int(NOW) - 86_400 * 7}}
    ).json()
    assert all(c["created"] >= int(NOW) - 86_400 * 7 for c in exact["result"])
    too_many = call_tool(client, spec.tool("charges", "list"), {"limit": 101})
    assert too_many.status_code == 400 and too_many.json()["raw_response"]["error"]["param"] == "limit"
    price = call_tool(
        client,
        spec.tool("prices", "create"),
        {"currency": "usd", "unit_amount": 5_000, "product_data": {"name": "Workshop"}},
    ).json()
    assert (
        price["product"].startswith("prod_")
        and sandbox.store.get("products", price["product"])["name"] == "Workshop"
    )

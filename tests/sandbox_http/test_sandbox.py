"""The sandbox follows Truto's contract: routes, envelopes, errors, Stripe semantics.

Most tests talk to a real loopback server (SandboxServer) with plain httpx.Client; one
goes through httpx.ASGITransport, the in-process mode the MCP server can use.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

# The fixtures `server`, `sandbox` (reseeded per test) and `client` are in this folder's conftest.
from tests.sandbox_http.conftest import ACCOUNT, AUTH, NOW
from truto_stripe_mcp.sandbox import (
    JANE_CHARGE_ID,
    JANE_CUSTOMER_ID,
    SANDBOX_ACCOUNT_ID,
    SANDBOX_API_KEY,
    Sandbox,
    SandboxConfig,
    SandboxServer,
    create_app,
)


def get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params={**ACCOUNT, **params})


def post(client: httpx.Client, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return client.post(path, params=ACCOUNT, json=body, **kw)


def stripe_error(response: httpx.Response) -> dict[str, Any]:
    """Assert the Truto envelope of a Stripe error and return Stripe's own error."""
    body = response.json()
    assert body["statusCode"] == response.status_code
    assert body["truto_is_remote_error"] is True
    assert body["details"] == {}
    error = body["raw_response"]["error"]
    assert body["message"] == error["message"]
    return error


def truto_error(response: httpx.Response, status: int) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"statusCode", "error", "message", "details"}
    assert body["statusCode"] == status
    return body


# -- auth, accounts, routes --------------------------------------------------------------
def test_auth_is_required(server: SandboxServer, sandbox: Sandbox) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert truto_error(anonymous.get("/proxy/customers", params=ACCOUNT), 401)["error"] == "Unauthorized"
        wrong = anonymous.get("/proxy/customers", params=ACCOUNT, headers={"Authorization": "Bearer nope"})
        truto_error(wrong, 401)
        truto_error(anonymous.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools"), 401)


def test_unknown_account_and_missing_account(client: httpx.Client) -> None:
    truto_error(client.get("/proxy/customers", params={"integrated_account_id": "nope"}), 404)
    truto_error(client.get("/integrated-account/nope/tools"), 404)
    truto_error(client.get("/proxy/customers"), 400)


def test_unknown_routes_resources_and_methods(client: httpx.Client) -> None:
    truto_error(get(client, "/nothing/here"), 404)
    truto_error(get(client, "/proxy/widgets"), 404)
    truto_error(post(client, "/proxy/charges/explode", {"id": JANE_CHARGE_ID}), 404)
    truto_error(client.delete(f"/proxy/charges/{JANE_CHARGE_ID}", params=ACCOUNT), 404)  # no delete tool
    truto_error(client.put(f"/proxy/charges/{JANE_CHARGE_ID}", params=ACCOUNT, json={}), 405)


# -- catalog -----------------------------------------------------------------------------
def tools_of(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = client.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools", params=params)
    assert response.status_code == 200
    return response.json()["result"]


DOCUMENTED = 463
"""Stripe's 468 operations, less the 5 that Stripe leaves undocumented (Truto lists those only
with ``has_description=false``)."""


def test_catalog_tools_have_the_contract_shape(client: httpx.Client) -> None:
    tools = tools_of(client)
    assert len(tools) == len({t["name"] for t in tools}) == DOCUMENTED
    for tool in tools:
        assert {"name", "description", "resource", "method", "required", "tags"} <= set(tool)
        assert set(tool) <= {
            "name",
            "description",
            "resource",
            "method",
            "query_schema",
            "body_schema",
            "required",
            "tags",
        }
        assert tool["description"], tool["name"]
        props = {
            **((tool.get("query_schema") or {}).get("properties") or {}),
            **((tool.get("body_schema") or {}).get("properties") or {}),
        }
        assert set(tool["required"]) <= set(props), tool["name"]
    by_name = {t["name"]: t for t in tools}
    customers = by_name["list_all_stripe_customers"]["query_schema"]["properties"]
    assert {"limit", "next_cursor", "email", "created", "expand"} <= set(customers)
    assert "starting_after" not in customers  # Truto hides Stripe's cursors behind next_cursor
    created = by_name["list_all_stripe_charges"]["query_schema"]["properties"]["created"]
    assert "type" not in created and {"gt", "gte", "lt", "lte"} == set(created["anyOf"][0]["properties"])
    assert created["anyOf"][1] == {"type": "integer"}
    assert by_name["list_all_stripe_customer_subscriptions"]["required"] == ["customer"]
    assert "customer" in by_name["create_a_stripe_customer_tax_id"]["query_schema"]["properties"]
    capture = by_name["capture_a_stripe_payment_intent"]
    assert (
        capture["method"] == "capture"
        and "id" in capture["body_schema"]["properties"]
        and "id" in capture["required"]
    )
    refund = by_name["create_a_stripe_refund"]["body_schema"]["properties"]
    assert refund["reason"]["enum"] == ["duplicate", "fraudulent", "requested_by_customer"]
    assert {"type": "string", "enum": [""]} in refund["metadata"]["anyOf"]  # Stripe's unset
    assert by_name["search_a_stripe_charge"]["required"] == ["query"]
    assert by_name["preview_a_stripe_credit_note"]["query_schema"]["properties"]["effective_at"] == {
        "description": by_name["preview_a_stripe_credit_note"]["query_schema"]["properties"]["effective_at"][
            "description"
        ],
        "format": "unix-time",
        "type": "integer",
    }
    # Every schema form the contract allows appears at least once.
    assert any("query_schema" not in t for t in tools)
    assert any("query_schema" in t and t["query_schema"] is None for t in tools)
    assert any("body_schema" in t and t["body_schema"] is None for t in tools)
    assert any("body_schema" not in t for t in tools)
    assert any(t.get("body_schema") == {} for t in tools)
    assert any(t.get("body_schema") == {"type": "object", "properties": {}} for t in tools)


def test_catalog_filters(client: httpx.Client) -> None:
    assert {t["method"] for t in tools_of(client, methods="read")} == {"list", "get"}
    assert {t["method"] for t in tools_of(client, methods="write")} == {"create", "update", "delete"}
    custom = {t["name"] for t in tools_of(client, methods="custom")}
    assert {
        "close_a_stripe_dispute",
        "confirm_a_stripe_payment_intent",
        "capture_a_stripe_payment_intent",
        "resume_a_stripe_subscription",
        "pay_a_stripe_invoice",
        "search_a_stripe_customer",
        "retrieve_a_stripe_balance",
        "post_a_stripe_test_helpers_treasury_outbound_payment",
    } <= custom
    assert all(
        t["method"] not in {"list", "get", "create", "update", "delete"}
        for t in tools_of(client, methods="custom")
    )
    assert {t["name"] for t in tools_of(client, methods="capture")} == {
        "capture_a_stripe_charge",
        "capture_a_stripe_payment_intent",
        "capture_a_stripe_test_helpers_issuing_authorization",
    }
    both = tools_of(client, methods="list,delete", tags="customers")
    assert "list_all_stripe_customers" in {t["name"] for t in both}
    assert all(t["method"] in {"list", "delete"} and "customers" in t["tags"] for t in both)
    assert tools_of(client, tags="no-such-tag") == []


def test_catalog_undocumented_tools(client: httpx.Client) -> None:
    everything = tools_of(client, has_description="false")
    undocumented = {t["name"] for t in everything if not t["description"]}
    assert len(everything) == 468 and len(undocumented) == 5
    assert "close_a_stripe_charge_dispute" in undocumented
    assert not undocumented & {t["name"] for t in tools_of(client)}
    assert len(tools_of(client, has_description="true")) == DOCUMENTED


@pytest.mark.parametrize("shape", ["result", "results", "bare"])
def test_catalog_shapes(client: httpx.Client, sandbox: Sandbox, shape: str) -> None:
    sandbox.configure(catalog_shape=shape)
    body = client.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools").json()
    tools = body if shape == "bare" else body[shape]
    assert len(tools) == DOCUMENTED


def test_catalog_pagination(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(catalog_page_size=70)
    names: list[str] = []
    cursor = None
    while True:
        params = {"next_cursor": cursor} if cursor else {}
        body = client.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools", params=params).json()
        assert len(body["result"]) <= 70
        names += [t["name"] for t in body["result"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(names) == len(set(names)) == DOCUMENTED
    bad = client.get(f"/integrated-account/{SANDBOX_ACCOUNT_ID}/tools", params={"next_cursor": "garbage!"})
    truto_error(bad, 400)


# -- lists -------------------------------------------------------------------------------
def test_list_envelope(client: httpx.Client) -> None:
    body = get(client, "/proxy/customers", limit=3).json()
    assert set(body) == {"result", "next_cursor", "prev_cursor", "result_count", "is_partial_response"}
    assert body["result_count"] == 3 and len(body["result"]) == 3
    assert body["prev_cursor"] is None and body["is_partial_response"] is False
    assert isinstance(body["next_cursor"], str)
    assert len(get(client, "/proxy/customers").json()["result"]) == 10  # default limit


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        extra = {"next_cursor": cursor} if cursor else {}
        body = get(client, path, **params, **extra).json()
        items += body["result"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_pagination_returns_every_item_once_newest_first(client: httpx.Client, sandbox: Sandbox) -> None:
    items = walk(client, "/proxy/customers", limit=100)
    ids = [c["id"] for c in items]
    assert len(ids) == len(set(ids)) == 300
    keys = [(c["created"], c["id"]) for c in items]
    assert keys == sorted(keys, reverse=True)
    assert ids == [c["id"] for c in sandbox.store.list("customers")]
    assert [c["id"] for c in walk(client, "/proxy/customers", limit=7)] == ids


def test_cursor_is_stable_across_inserts(client: httpx.Client) -> None:
    first = get(client, "/proxy/charges", limit=5).json()
    created = post(client, "/proxy/customers", {"email": "new@example.com"}).json()
    second = get(client, "/proxy/charges", limit=5, next_cursor=first["next_cursor"]).json()
    assert created["id"].startswith("cus_")
    first_ids = {c["id"] for c in first["result"]}
    assert not first_ids & {c["id"] for c in second["result"]}
    assert second["result"][0]["created"] <= first["result"][-1]["created"]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_bad_limit(client: httpx.Client, limit: str) -> None:
    response = get(client, "/proxy/customers", limit=limit)
    assert response.status_code == 400
    error = stripe_error(response)
    assert error["type"] == "invalid_request_error" and error["param"] == "limit"


def test_bad_cursor(client: httpx.Client) -> None:
    truto_error(get(client, "/proxy/customers", next_cursor="not-a-cursor"), 400)
    customers_cursor = get(client, "/proxy/customers", limit=1).json()["next_cursor"]
    truto_error(get(client, "/proxy/charges", next_cursor=customers_cursor), 400)


def test_filters(client: httpx.Client) -> None:
    jane = get(client, "/proxy/customers", email="jane@example.com").json()["result"]
    assert [c["id"] for c in jane] == [JANE_CUSTOMER_ID]
    assert jane[0]["name"] == "Jane Doe"
    since = int(NOW) - 30 * 86_400
    recent = walk(client, "/proxy/charges", limit=100, **{"created[gte]": since})
    assert recent and all(c["created"] >= since for c in recent)
    older = walk(client, "/proxy/charges", limit=100, **{"created[lt]": since})
    assert len(recent) + len(older) == 400
    exact = get(client, "/proxy/charges", created=recent[-1]["created"]).json()["result"]
    assert recent[-1]["id"] in {c["id"] for c in exact}
    janes = get(client, "/proxy/charges", customer=JANE_CUSTOMER_ID).json()["result"]
    assert JANE_CHARGE_ID in {c["id"] for c in janes} and all(
        c["customer"] == JANE_CUSTOMER_ID for c in janes
    )


def test_subscription_status_filter(client: httpx.Client) -> None:
    default = walk(client, "/proxy/subscriptions", limit=100)
    everything = walk(client, "/proxy/subscriptions", limit=100, status="all")
    canceled = walk(client, "/proxy/subscriptions", limit=100, status="canceled")
    assert all(s["status"] != "canceled" for s in default)
    assert canceled and all(s["status"] == "canceled" for s in canceled)
    assert len(default) + len(canceled) == len(everything) == 120
    statuses = {s["status"] for s in everything}
    assert {"active", "trialing", "past_due", "canceled"} <= statuses


def test_expand_customer(client: httpx.Client) -> None:
    charge = get(client, f"/proxy/charges/{JANE_CHARGE_ID}", **{"expand[]": "customer"}).json()
    assert charge["customer"]["email"] == "jane@example.com"
    listed = get(client, "/proxy/charges", customer=JANE_CUSTOMER_ID, **{"expand[]": "data.customer"}).json()
    assert all(isinstance(c["customer"], dict) for c in listed["result"])
    plain = get(client, f"/proxy/charges/{JANE_CHARGE_ID}").json()
    assert plain["customer"] == JANE_CUSTOMER_ID  # expansion never leaks into the store


# -- single objects ----------------------------------------------------------------------
def test_get_jane_charge(client: httpx.Client) -> None:
    charge = get(client, f"/proxy/charges/{JANE_CHARGE_ID}").json()
    assert charge["object"] == "charge" and charge["livemode"] is False
    assert (charge["amount"], charge["currency"], charge["status"]) == (150_000, "usd", "succeeded")
    assert charge["billing_details"]["email"] == "jane@example.com"
    assert charge["refunds"]["object"] == "list"


def test_missing_id_is_a_stripe_404(client: httpx.Client) -> None:
    response = get(client, "/proxy/customers/cus_doesnotexist")
    assert response.status_code == 404
    error = stripe_error(response)
    assert error["code"] == "resource_missing" and "cus_doesnotexist" in error["message"]


def test_encoded_slash_stays_one_segment(client: httpx.Client, sandbox: Sandbox) -> None:
    response = client.get(f"{client.base_url}/proxy/customers/cus%2F..%2Fcharges", params=ACCOUNT)
    assert response.status_code == 404
    assert stripe_error(response)["message"] == "No such customer: 'cus/../charges'"
    double = client.get(f"{client.base_url}/proxy/customers/cus%252Fx", params=ACCOUNT)
    assert stripe_error(double)["message"] == "No such customer: 'cus%2Fx'"  # decoded exactly once
    paths = [r.path for r in sandbox.requests_to("customers", "GET")]
    assert "/proxy/customers/cus%2F..%2Fcharges" in paths


def test_customer_lifecycle(client: httpx.Client, sandbox: Sandbox) -> None:
    created = post(
        client, "/proxy/customers", {"email": "ada@example.com", "name": "Ada", "metadata": {"a": "1"}}
    )
    assert created.status_code == 200
    cus = created.json()
    assert cus["id"].startswith("cus_") and cus["object"] == "customer" and cus["metadata"] == {"a": "1"}
    assert get(client, "/proxy/customers", limit=1).json()["result"][0]["id"] == cus["id"]
    updated = client.patch(
        f"/proxy/customers/{cus['id']}",
        params=ACCOUNT,
        json={"name": "Ada L.", "metadata": {"b": "2", "a": ""}},
    ).json()
    assert (
        updated["name"] == "Ada L."
        and updated["metadata"] == {"b": "2"}
        and updated["email"] == "ada@example.com"
    )
    deleted = client.delete(f"/proxy/customers/{cus['id']}", params=ACCOUNT).json()
    assert deleted == {"id": cus["id"], "object": "customer", "deleted": True}
    again = client.delete(f"/proxy/customers/{cus['id']}", params=ACCOUNT)
    assert again.status_code == 404 and stripe_error(again)["code"] == "resource_missing"
    assert get(client, f"/proxy/customers/{cus['id']}").json()["deleted"] is True
    assert sandbox.store.count("customers") == 300


def test_parameter_errors(client: httpx.Client) -> None:
    missing = post(client, "/proxy/charges", {"currency": "usd"})
    assert missing.status_code == 400
    assert (stripe_error(missing)["code"], stripe_error(missing)["param"]) == ("parameter_missing", "amount")
    wrong = post(client, "/proxy/charges", {"amount": "lots", "currency": "usd"})
    assert stripe_error(wrong)["code"] == "parameter_invalid_integer"
    unknown = post(client, "/proxy/customers", {"emali": "x@example.com"})
    assert stripe_error(unknown)["code"] == "parameter_unknown"
    enum = post(client, "/proxy/refunds", {"charge": JANE_CHARGE_ID, "reason": "because"})
    assert stripe_error(enum)["param"] == "reason"
    nested = post(client, "/proxy/payment_links", {"line_items": [{"price": "price_x"}]})
    assert stripe_error(nested)["param"] == "line_items[0][quantity]"


# -- Stripe semantics --------------------------------------------------------------------
def test_refunds_never_exceed_the_charge(client: httpx.Client, sandbox: Sandbox) -> None:
    too_much = post(client, "/proxy/refunds", {"charge": JANE_CHARGE_ID, "amount": 150_001})
    assert too_much.status_code == 400
    error = stripe_error(too_much)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "amount_too_large",
        "amount",
    )
    part = post(
        client, "/proxy/refunds", {"charge": JANE_CHARGE_ID, "amount": 50_000, "reason": "duplicate"}
    ).json()
    assert part["id"].startswith("re_") and part["amount"] == 50_000
    charge = get(client, f"/proxy/charges/{JANE_CHARGE_ID}").json()
    assert (charge["amount_refunded"], charge["refunded"]) == (50_000, False)
    rest = post(client, "/proxy/refunds", {"charge": JANE_CHARGE_ID}).json()
    assert rest["amount"] == 100_000
    charge = get(client, f"/proxy/charges/{JANE_CHARGE_ID}").json()
    assert (charge["amount_refunded"], charge["refunded"], charge["refunds"]["total_count"]) == (
        150_000,
        True,
        2,
    )
    done = post(client, "/proxy/refunds", {"charge": JANE_CHARGE_ID, "amount": 1})
    assert stripe_error(done)["code"] == "charge_already_refunded"
    assert sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == 2
    listed = get(client, "/proxy/refunds", charge=JANE_CHARGE_ID).json()["result"]
    expected = sorted([rest, part], key=lambda r: (r["created"], r["id"]), reverse=True)  # ties: id desc
    assert [r["id"] for r in listed] == [r["id"] for r in expected]


def test_cancel_subscription_twice(client: httpx.Client, sandbox: Sandbox) -> None:
    sub = sandbox.store.list("subscriptions", status="active")[0]
    canceled = client.delete(f"/proxy/subscriptions/{sub['id']}", params=ACCOUNT).json()
    assert canceled["status"] == "canceled" and canceled["canceled_at"] >= NOW
    again = client.delete(f"/proxy/subscriptions/{sub['id']}", params=ACCOUNT)
    assert again.status_code == 400 and stripe_error(again)["type"] == "invalid_request_error"


def test_nested_customer_resources(client: httpx.Client, sandbox: Sandbox) -> None:
    no_parent = get(client, "/proxy/customer_subscriptions")
    assert stripe_error(no_parent)["param"] == "customer"
    owner = sandbox.store.list("subscriptions", status="active")[0]["customer"]
    subs = get(client, "/proxy/customer_subscriptions", customer=owner).json()["result"]
    assert subs and all(s["customer"] == owner and s["status"] != "canceled" for s in subs)
    # Stripe's nested list has no status filter: an unknown parameter, as at Stripe.
    unknown = get(client, "/proxy/customer_subscriptions", customer=owner, status="all")
    assert stripe_error(unknown)["code"] == "parameter_unknown"
    other = get(client, f"/proxy/customer_subscriptions/{subs[0]['id']}", customer=JANE_CUSTOMER_ID + "x")
    assert other.status_code == 404
    params = {**ACCOUNT, "customer": JANE_CUSTOMER_ID}
    tax = client.post(
        "/proxy/customer_tax_ids", params=params, json={"type": "eu_vat", "value": "DE123"}
    ).json()
    assert tax["id"].startswith("txi_") and tax["customer"] == JANE_CUSTOMER_ID and tax["country"] == "DE"
    listed = client.get("/proxy/customer_tax_ids", params=params).json()["result"]
    assert tax["id"] in {t["id"] for t in listed}
    gone = client.delete(f"/proxy/customer_tax_ids/{tax['id']}", params=params).json()
    assert gone["deleted"] is True


def test_subscription_create_update_and_resume(client: httpx.Client, sandbox: Sandbox) -> None:
    price = get(client, "/proxy/prices", type="recurring").json()["result"][0]
    sub = post(
        client, "/proxy/subscriptions", {"customer": JANE_CUSTOMER_ID, "items": [{"price": price["id"]}]}
    )
    sub_obj = sub.json()
    assert sub_obj["status"] == "active" and sub_obj["items"]["data"][0]["price"]["id"] == price["id"]
    assert get(client, f"/proxy/invoices/{sub_obj['latest_invoice']}").json()["status"] == "paid"
    one_time = get(client, "/proxy/prices", type="one_time").json()["result"][0]
    bad = post(
        client, "/proxy/subscriptions", {"customer": JANE_CUSTOMER_ID, "items": [{"price": one_time["id"]}]}
    )
    assert stripe_error(bad)["param"] == "items[0][price]"
    updated = client.patch(
        f"/proxy/subscriptions/{sub_obj['id']}", params=ACCOUNT, json={"cancel_at_period_end": True}
    ).json()
    assert updated["cancel_at"] == updated["current_period_end"]
    paused = sandbox.store.list("subscriptions", status="paused")[0]
    resumed = post(client, "/proxy/subscriptions/resume", {"id": paused["id"]}).json()
    assert resumed["status"] == "active"
    assert stripe_error(post(client, "/proxy/subscriptions/resume", {"id": paused["id"]}))["type"]


def test_invoice_custom_methods(client: httpx.Client) -> None:
    draft = post(
        client, "/proxy/invoices", {"customer": JANE_CUSTOMER_ID, "description": "Consulting"}
    ).json()
    assert draft["status"] == "draft" and draft["number"] is None
    final = post(client, "/proxy/invoices/finalize", {"id": draft["id"]}).json()
    assert final["status"] == "open" and final["number"]
    assert stripe_error(post(client, "/proxy/invoices/finalize", {"id": draft["id"]}))
    paid = post(client, "/proxy/invoices/pay", {"id": draft["id"]}).json()
    assert paid["status"] == "paid" and paid["status_transitions"]["paid_at"]
    assert post(client, "/proxy/invoices/void", {"id": draft["id"]}).status_code == 400
    missing_id = post(client, "/proxy/invoices/void", {})
    assert (stripe_error(missing_id)["code"], stripe_error(missing_id)["param"]) == (
        "parameter_missing",
        "id",
    )
    other = post(client, "/proxy/invoices", {"customer": JANE_CUSTOMER_ID}).json()
    assert client.delete(f"/proxy/invoices/{other['id']}", params=ACCOUNT).json()["deleted"] is True


def test_payment_intent_manual_capture(client: httpx.Client, sandbox: Sandbox) -> None:
    body = {"amount": 2_000, "currency": "usd", "customer": JANE_CUSTOMER_ID, "capture_method": "manual"}
    intent = post(client, "/proxy/payment_intents", body).json()
    assert intent["status"] == "requires_payment_method"
    confirmed = post(
        client, "/proxy/payment_intents/confirm", {"id": intent["id"], "payment_method": "pm_card_visa"}
    )
    assert confirmed.json()["status"] == "requires_capture"
    early = post(client, "/proxy/payment_intents/capture", {"id": intent["id"], "amount_to_capture": 5_000})
    assert stripe_error(early)["code"] == "amount_too_large"
    captured = post(client, "/proxy/payment_intents/capture", {"id": intent["id"]}).json()
    assert captured["status"] == "succeeded" and captured["amount_received"] == 2_000
    cancel = post(client, "/proxy/payment_intents/cancel", {"id": intent["id"]})
    assert stripe_error(cancel)["code"] == "payment_intent_unexpected_state"
    assert sandbox.store.get("charges", captured["latest_charge"])["captured"] is True


def test_dispute_close(client: httpx.Client, sandbox: Sandbox) -> None:
    dispute = sandbox.store.list("disputes", status="needs_response")[0]
    closed = post(client, "/proxy/disputes/close", {"id": dispute["id"]}).json()
    assert closed["status"] == "lost"
    assert post(client, "/proxy/disputes/close", {"id": dispute["id"]}).status_code == 400


# -- idempotency -------------------------------------------------------------------------
def test_idempotency_replays_the_first_response(client: httpx.Client, sandbox: Sandbox) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = post(client, "/proxy/customers", {"email": "once@example.com"}, headers=headers)
    second = post(client, "/proxy/customers", {"email": "once@example.com"}, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert sandbox.store.count("customers", email="once@example.com") == 1
    refund = {"charge": JANE_CHARGE_ID, "amount": 100}
    r1 = post(client, "/proxy/refunds", refund, headers={"Idempotency-Key": "r"})
    r2 = post(client, "/proxy/refunds", refund, headers={"Idempotency-Key": "r"})
    assert r1.json() == r2.json() and sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == 1


def test_idempotency_key_reused_for_another_request(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "key-2"}
    assert post(client, "/proxy/customers", {"email": "a@example.com"}, headers=headers).status_code == 200
    clash = post(client, "/proxy/customers", {"email": "b@example.com"}, headers=headers)
    assert clash.status_code == 400 and stripe_error(clash)["type"] == "idempotency_error"
    without = [post(client, "/proxy/customers", {"email": "c@example.com"}) for _ in range(2)]
    assert without[0].json()["id"] != without[1].json()["id"]


# -- recording, determinism, in-process ----------------------------------------------------
def test_requests_are_recorded(client: httpx.Client, sandbox: Sandbox) -> None:
    get(client, "/proxy/charges", limit=2, **{"created[gte]": 1})
    post(client, "/proxy/customers", {"email": "rec@example.com"})
    listed, created = sandbox.requests
    assert (listed.method, listed.path, listed.status, listed.action) == (
        "GET",
        "/proxy/charges",
        200,
        "list",
    )
    assert listed.query["created"] == {"gte": "1"} and "created%5Bgte%5D=1" in listed.query_string
    assert listed.headers["authorization"] == f"Bearer {SANDBOX_API_KEY}"
    assert created.json == {"email": "rec@example.com"} and created.resource == "customers"
    assert sandbox.requests_to("customers", "post") == [created]
    assert sandbox.requests_to(action="list") == [listed]
    sandbox.reset_requests()
    assert sandbox.requests == []


def test_same_seed_and_now_give_identical_data() -> None:
    def dump(sb: Sandbox) -> str:
        return json.dumps({n: sb.store.list(n) for n in sb.store.collections}, sort_keys=True)

    one = Sandbox(SandboxConfig(now=NOW, seed=7))
    two = Sandbox(SandboxConfig(now=NOW, seed=7))
    assert dump(one) == dump(two)
    assert dump(one) != dump(Sandbox(SandboxConfig(now=NOW, seed=8)))
    charges = one.store.list("charges")
    assert len(charges) == 400 and all(NOW - 366 * 86_400 <= c["created"] < NOW for c in charges)


def test_in_process_asgi_transport() -> None:
    async def main() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=AUTH) as c:
            response = await c.get("/proxy/customers", params={**ACCOUNT, "limit": 5})
            assert response.status_code == 200
            return response.json()

    body = anyio.run(main)
    assert body["result_count"] == 5 and body["result"][0]["id"].startswith("cus_")

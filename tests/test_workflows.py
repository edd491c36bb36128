"""The seed's billing workflows end to end: the agent-style code of
``examples/billing_workflows.py`` drives the real server process (stdio, SDK client)
against the loopback sandbox, then the sandbox's own state and request log are checked."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import assert_no_leak, server_env, spawn_server, subprocess_env
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "billing_workflows.py"
OPEN = {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
LINK_URL = re.compile(r"https://buy\.stripe\.com/test_\w+")


def load_example() -> ModuleType:
    """The example is a script, not a package: load it by path (registered first, for dataclasses)."""
    spec = importlib.util.spec_from_file_location("billing_workflows_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


workflows = load_example()


def writes_since(sandbox: SandboxServer, start: int) -> list[Any]:
    return [r for r in sandbox.sandbox.requests[start:] if r.path.startswith("/proxy/") and r.method != "GET"]


def churn_candidates(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    """Customers with an open dispute, an active subscription and a refundable undisputed
    successful charge, read straight from the store: customer -> its latest such charge."""
    store = sandbox.sandbox.store
    found = {}
    for dispute in store.list("disputes"):
        customer = store.get("charges", dispute["charge"])["customer"]
        if dispute["status"] not in OPEN or not store.list(
            "subscriptions", customer=customer, status="active"
        ):
            continue
        paid = [c for c in store.list("charges", customer=customer, status="succeeded") if not c["disputed"]]
        latest = max(paid, key=lambda c: c["created"], default=None)
        if latest is not None and latest["amount_refunded"] == 0:
            found[customer] = latest
    return found


@pytest.mark.anyio
async def test_churn_cancels_and_refunds_once_then_finds_nothing_to_do(sandbox: SandboxServer) -> None:
    store = sandbox.sandbox.store
    candidates = churn_candidates(sandbox)
    assert candidates, "the seed must hold a customer to churn"
    log: list[str] = []
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        customer = await workflows.find_churn_customer(client, say=log.append)
        assert customer in candidates
        charge = candidates[customer]
        active = [s["id"] for s in store.list("subscriptions", customer=customer, status="active")]
        disputes_before = {d["id"]: d["status"] for d in store.list("disputes")}
        refunds_before = store.count("refunds")
        start = len(sandbox.sandbox.requests)

        first = await workflows.churn(client, customer, say=log.append)
        after_first = len(sandbox.sandbox.requests)
        second = await workflows.churn(client, customer, say=log.append)

        # Not a disputing customer: the workflow refuses before it writes anything.
        with pytest.raises(workflows.WorkflowError, match="no open dispute"):
            await workflows.churn(client, JANE_CUSTOMER_ID, say=log.append)

    # What the workflow reported.
    assert first.open_disputes and set(first.open_disputes) == set(second.open_disputes)
    assert first.canceled_subscriptions == active and first.changed
    assert (first.refunded_charge, first.refund_amount) == (charge["id"], charge["amount"])
    assert not second.changed and second.canceled_subscriptions == [] and second.refund is None
    assert second.notes == [
        "no active subscription: nothing to cancel",
        f"{charge['id']} is already fully refunded: nothing to refund",
    ]
    assert "  done: nothing to do, the customer is already churned" in log

    # What reached Stripe: one cancel and one full refund across both runs, nothing else.
    writes = writes_since(sandbox, start)
    assert [(r.method, r.path) for r in writes] == [
        *[("DELETE", f"/proxy/subscriptions/{sub}") for sub in active],
        ("POST", "/proxy/refunds"),
    ]
    assert all(r.status == 200 for r in writes)
    assert writes[-1].json["charge"] == charge["id"] and writes[-1].json["amount"] == charge["amount"]
    assert writes[-1].headers["idempotency-key"] == f"churn-refund-{charge['id']}-{charge['amount']}"
    assert writes_since(sandbox, after_first) == [], "the second run must only read"

    # The sandbox's final state.
    for sub_id in active:
        sub = store.get("subscriptions", sub_id)
        assert sub["status"] == "canceled" and sub["canceled_at"] and sub["ended_at"]
        assert sub["cancellation_details"]["reason"] == "cancellation_requested"
    assert store.list("subscriptions", customer=customer, status="active") == []
    refunded = store.get("charges", charge["id"])
    assert refunded["refunded"] is True and refunded["amount_refunded"] == refunded["amount"]
    [refund] = store.list("refunds", charge=charge["id"])
    assert refund["id"] == first.refund and refund["amount"] == charge["amount"]
    assert refund["reason"] == "requested_by_customer" and refund["status"] == "succeeded"
    assert store.count("refunds") == refunds_before + 1
    assert {d["id"]: d["status"] for d in store.list("disputes")} == disputes_before, "disputes untouched"


@pytest.mark.anyio
async def test_checkout_creates_a_customer_tax_id_and_a_one_time_payment_link(sandbox: SandboxServer) -> None:
    store = sandbox.sandbox.store
    log: list[str] = []
    async with spawn_server(server_env(sandbox)) as spawned:
        start = len(sandbox.sandbox.requests)
        outcome = await workflows.checkout(
            spawned.client, email="ap@northwind.example", name="Northwind Traders GmbH", say=log.append
        )

    assert [(r.method, r.path) for r in writes_since(sandbox, start)] == [
        ("POST", "/proxy/customers"),
        ("POST", "/proxy/customer_tax_ids"),
        ("POST", "/proxy/products"),
        ("POST", "/proxy/prices"),
        ("POST", "/proxy/payment_links"),
    ]
    customer = store.get("customers", outcome.customer)
    assert (customer["email"], customer["name"]) == ("ap@northwind.example", "Northwind Traders GmbH")
    tax_id = store.get("tax_ids", outcome.tax_id)
    assert (tax_id["customer"], tax_id["type"], tax_id["value"]) == (
        outcome.customer,
        "eu_vat",
        "DE123456789",
    )
    assert tax_id["country"] == "DE"
    assert [t["id"] for t in store.list("tax_ids", customer=outcome.customer)] == [outcome.tax_id]
    price = store.get("prices", outcome.price)
    assert (price["unit_amount"], price["currency"], price["recurring"], price["type"]) == (
        1_200_000,
        "usd",
        None,
        "one_time",
    )
    assert price["product"] == outcome.product
    assert store.get("products", outcome.product)["name"] == "Implementation fee"
    link = store.get("payment_links", outcome.payment_link)
    assert outcome.url == link["url"] and LINK_URL.fullmatch(outcome.url)
    [item] = link["line_items"]["data"]
    assert (item["price"]["id"], item["quantity"], item["amount_total"]) == (outcome.price, 1, 1_200_000)
    assert log[-1] == f"  done: {outcome.url}"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=subprocess_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_no_leak(done.stdout, done.stderr)
    return done


def test_the_example_script_runs_both_workflows_on_the_sandbox() -> None:
    done = run_example("demo", "--sandbox", "--yes")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first, second = out.split("[run 1] ")[1].split("[run 2] ")
    second, checkout = second.split("checkout ")
    # The server's approval questions, answered by --yes: only the first run makes changes.
    assert re.search(r"approve\? Cancel subscription sub_\w+ \(.+@.+\)\? -> yes", first)
    assert re.search(r"approve\? Refund \$[\d,.]+ USD of charge ch_\w+ to .+ -> yes", first)
    assert "  done: canceled sub_" in first and "refunded ch_" in first
    assert "approve?" not in second and "  done: nothing to do, the customer is already churned" in second
    assert "create_a_stripe_payment_link" in checkout
    assert re.search(r"  done: https://buy\.stripe\.com/test_\w+\n", checkout)


def test_the_example_script_fails_with_a_reason_and_a_nonzero_status() -> None:
    done = run_example("churn", "--customer", JANE_CUSTOMER_ID)
    assert done.returncode == 1
    assert f"failed: {JANE_CUSTOMER_ID} has no open dispute" in done.stderr
    assert "delete_a_stripe_subscription_by_id" not in done.stdout


# -- the documented configuration ----------------------------------------------------------------
README = ROOT / "README.md"
DESKTOP_EXAMPLE = ROOT / "claude_desktop_config.example.json"
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def documented_sandbox_arguments() -> list[str]:
    """The Claude Desktop entry on the README's first screen, as claude_desktop_config.example.json
    holds it too: the one configuration the README documents for the seed's workflows."""
    entry = json.loads(DESKTOP_EXAMPLE.read_text())["mcpServers"]["stripe-sandbox"]
    first = json.loads(JSON_BLOCK.findall(README.read_text())[0])
    assert first == {"mcpServers": {"stripe-sandbox": entry}}, "the README's first entry is the example's"
    assert entry["command"] == "truto-stripe-mcp" and "env" not in entry
    return list(entry["args"])


@pytest.mark.anyio
async def test_the_documented_configuration_does_every_seed_workflow(sandbox: SandboxServer) -> None:
    """Find a customer, refund, cancel a subscription, and a new customer with a tax id and a
    payment link, all through one server started with the README's Claude Desktop arguments
    (its --sandbox pointed at this test's sandbox, whose state is checked) and default approvals."""
    arguments = documented_sandbox_arguments()
    assert "--sandbox" in arguments
    arguments.remove("--sandbox")
    env = server_env(sandbox)
    for chosen_by_the_test in ("TRUTO_MCP_TOOLSETS", "TRUTO_MCP_CONFIRM"):
        env.pop(chosen_by_the_test)
    asked: list[str] = []

    async def person(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    store = sandbox.sandbox.store
    log: list[str] = []
    async with spawn_server(env, arguments, mode="legacy", elicitation_callback=person) as spawned:
        client = spawned.client
        found = await client.call_tool("list_all_stripe_customers", {"email": "jane@example.com"})
        assert not found.is_error, found.content
        assert [c["id"] for c in json.loads(found.content[0].text)["result"]] == [JANE_CUSTOMER_ID]

        customer = await workflows.find_churn_customer(client, say=log.append)
        churned = await workflows.churn(client, customer, say=log.append)
        checkout = await workflows.checkout(
            client, email="ap@contoso.example", name="Contoso SE", say=log.append
        )

    assert churned.canceled_subscriptions and churned.refund
    assert any(question.startswith("Cancel subscription ") for question in asked), asked
    assert any(question.startswith("Refund ") for question in asked), asked
    assert store.list("subscriptions", customer=customer, status="active") == []
    assert store.get("refunds", churned.refund)["charge"] == churned.refunded_charge
    assert store.get("tax_ids", checkout.tax_id)["customer"] == checkout.customer
    link = store.get("payment_links", checkout.payment_link)
    assert link["url"] == checkout.url and link["line_items"]["data"][0]["price"]["id"] == checkout.price

"""search_tools' ranking on the sandbox catalog."""

from __future__ import annotations

import dataclasses
import time

import pytest

from truto_stripe_mcp.catalog import Catalog
from truto_stripe_mcp.sandbox import TOOLS
from truto_stripe_mcp.tool_search import search

SPECS = Catalog.from_entries(TOOLS).specs
BY_NAME = {spec.name: spec for spec in SPECS}


def top(query: str, n: int = 1) -> list[str]:
    return [hit.name for hit in search(SPECS, query, limit=n)]


def test_refund_a_charge() -> None:
    assert top("refund a charge") == ["create_a_stripe_refund"]


def test_checkout_link() -> None:
    hits = search(SPECS, "checkout link", limit=2)
    assert hits[0].resource == "payment_links"
    assert "create_a_stripe_payment_link" in [hit.name for hit in hits]


def test_cancel_subscription() -> None:
    assert {"delete_a_stripe_subscription_by_id", "delete_a_stripe_customer_subscription_by_id"} & set(
        top("cancel subscription", 2)
    )


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("find customer by email", "list_all_stripe_customers"),
        ("chargebacks", "list_all_stripe_disputes"),
        ("void invoice", "void_a_stripe_invoice"),
        ("show me my refunds", "list_all_stripe_refunds"),
        ("capture payment", "capture_a_stripe_payment_intent"),
        ("create a price for a product", "create_a_stripe_price"),
    ],
)
def test_search_puts_the_obvious_tool_first(query: str, first: str) -> None:
    assert top(query) == [first]


def test_vat_number_finds_tax_ids() -> None:
    assert search(SPECS, "vat number")[0].resource == "customer_tax_ids"


def test_hits_are_short_and_complete() -> None:
    hits = search(SPECS, "invoice", limit=5)
    assert len(hits) == 5
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    for hit in hits:
        assert hit.resource == "invoices" and hit.method == BY_NAME[hit.name].method
        assert 0 < len(hit.description) <= 120 and "\n" not in hit.description
    long = dataclasses.replace(BY_NAME["list_all_stripe_invoices"], description="word " * 60 + ". Second.")
    assert len(search([long], "invoices")[0].description) == 120


def test_unrelated_queries_find_nothing() -> None:
    assert search(SPECS, "zebra") == []


@pytest.mark.parametrize("query", ["", "   ", "the of my", "please, to all!"])
def test_empty_queries_are_refused_helpfully(query: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 'refund a charge'"):
        search(SPECS, query)


def test_search_is_fast_on_a_large_catalog() -> None:
    big = [
        dataclasses.replace(s, name=f"{s.name}_{i}", description=f"{s.description} ({i})")
        for i in range(9)
        for s in SPECS
    ][:500]
    timings = []
    for query in ("refund a charge", "find customer by email", "void invoice") * 5:
        start = time.perf_counter()
        search(big, query)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.005
    assert sorted(timings)[len(timings) // 2] < 0.005

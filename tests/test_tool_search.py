"""search_tools' ranking: on the sandbox catalog (what the server serves in tests) and on
Truto's whole Stripe catalog (468 tools, derived from Stripe's API), where the task set of
``bench/search_tasks.json`` must be found and unrelated queries must find nothing."""

from __future__ import annotations

import dataclasses
import time

import pytest

from bench.search_quality import BM25, hit_rates, load_specs, load_tasks, unknown_tools
from truto_stripe_mcp.catalog.search import _index, search
from truto_stripe_mcp.catalog.search_words import SYNONYMS, VERBS, stem
from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec
from truto_stripe_mcp.sandbox import TOOLS

SPECS = Catalog.from_entries(TOOLS).specs
BY_NAME = {spec.name: spec for spec in SPECS}
STRIPE = load_specs()
TASKS, UNRELATED = load_tasks()


def spec(name: str, resource: str, method: str, description: str = "") -> ToolSpec:
    return ToolSpec(name=name, description=description, resource=resource, method=method)


# --- search -------------------------------------------------------------------------------------


def top(query: str, n: int = 1) -> list[str]:
    return [hit.name for hit in search(SPECS, query, limit=n)]


# Tools that do the same job: the sandbox's catalog has the first of each, Stripe's whole API all.
REFUND_A_CHARGE = {"create_a_stripe_refund", "create_a_stripe_charge_refund", "refund_a_stripe_charge"}
CAPTURE = {"capture_a_stripe_payment_intent", "capture_a_stripe_charge"}


def test_refund_a_charge() -> None:
    assert top("refund a charge")[0] in REFUND_A_CHARGE


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
        ("find customer by email", {"list_all_stripe_customers"}),
        ("chargebacks", {"list_all_stripe_disputes"}),
        ("void invoice", {"void_a_stripe_invoice"}),
        ("show me my refunds", {"list_all_stripe_refunds"}),
        ("capture payment", CAPTURE),
        ("create a price for a product", {"create_a_stripe_price"}),
    ],
)
def test_search_puts_the_obvious_tool_first(query: str, first: set[str]) -> None:
    for catalog in (SPECS, STRIPE):
        assert search(catalog, query, limit=1)[0].name in first


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


# --- the whole Stripe catalog -------------------------------------------------------------------


def test_the_task_set_names_only_real_tools_and_covers_the_billing_areas() -> None:
    assert len(STRIPE) == 468
    assert len(TASKS) >= 40
    assert unknown_tools(TASKS, STRIPE) == []
    areas = {task.area for task in TASKS}
    for area in (
        "customers",
        "charges",
        "refunds",
        "disputes",
        "payment intents",
        "subscriptions",
        "invoices",
        "invoice items",
        "prices",
        "products",
        "coupons",
        "promotion codes",
        "credit notes",
        "quotes",
        "tax",
        "payment links",
        "checkout",
        "balance",
        "payouts",
        "webhooks",
        "events",
    ):
        assert area in areas


def test_the_task_set_is_found_in_the_top_five() -> None:
    """A quality bar, not a timing one: the tool that does the job is among the first five."""
    ours = hit_rates(lambda query: [hit.name for hit in search(STRIPE, query, limit=5)], TASKS)
    baseline = hit_rates(BM25(STRIPE).rank, TASKS)
    assert ours["top5"] >= 0.9, ours["misses"]
    assert ours["top5"] > baseline["top5"]
    assert ours["top1"] > baseline["top1"]


@pytest.mark.parametrize("query", UNRELATED)
def test_nothing_relevant_finds_nothing(query: str) -> None:
    assert search(STRIPE, query) == []


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("void", "void_a_stripe_invoice"),  # a custom method alone is enough
        ("look up customer cus_123", "get_single_stripe_customer_by_id"),  # an id means get
        ("top up my balance", "create_a_stripe_topup"),  # "top up" is one word: topups
        ("list radar value lists", "list_all_stripe_radar_value_lists"),  # "list" as a noun, with others
    ],
)
def test_words_are_read_as_the_catalog_spells_them(query: str, first: str) -> None:
    assert [hit.name for hit in search(STRIPE, query, limit=1)] == [first]


def test_resource_words_come_from_the_catalog_not_from_a_table() -> None:
    """The same words find a resource however the catalog spells it, and one no table knows."""
    invoices = [
        spec("create_a_stripe_invoice", "invoices", "create"),
        spec("list_all_stripe_items", "items", "list"),
    ]
    for resource in ("invoiceitems", "invoice_items"):
        tools = [*invoices, spec(f"create_a_stripe_{resource}", resource, "create")]
        assert search(tools, "add an invoice item")[0].resource == resource
    meters = spec("list_all_stripe_billing_meters", "billing_meters", "list", "Returns a list of meters.")
    assert search([*SPECS, meters], "show the billing meters")[0].name == meters.name


def test_synonyms_and_verbs_lead_only_to_words_the_stripe_catalog_has() -> None:
    """A table entry whose word no resource or method uses would match nothing: none is dead."""
    resource_words = {stem(word) for tool in STRIPE for word in tool.resource.split("_")}
    method_words = {tool.method.split("_")[0] for tool in STRIPE}
    for phrase, (words, _) in SYNONYMS.items():
        assert set(words.split()) <= resource_words, phrase
    for phrase, methods in VERBS.items():
        assert set(methods) <= method_words, phrase


def test_the_index_is_built_once_per_catalog_and_results_stay_in_the_selection() -> None:
    assert _index(STRIPE) is _index(tuple(STRIPE))
    copies = tuple(dataclasses.replace(tool) for tool in STRIPE)
    assert _index(copies) is not _index(STRIPE)
    search(STRIPE, "refund a charge")
    core = tuple(tool for tool in STRIPE if tool.resource in {"customers", "refunds"})
    found = search(core, "refund a charge")
    assert found and {hit.name for hit in found} <= {tool.name for tool in core}


def test_search_is_fast_on_the_stripe_catalog() -> None:
    search(STRIPE, "warm the index")
    timings = []
    for task in TASKS[:20]:
        start = time.perf_counter()
        search(STRIPE, task.query, limit=8)
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[len(timings) // 2] < 0.005

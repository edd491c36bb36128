"""Toolsets and how they combine with the other filters, on the sandbox catalog."""

from __future__ import annotations

import pytest

from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec
from truto_stripe_mcp.catalog.toolsets import (
    TOOLSETS,
    Rule,
    Selection,
    Toolset,
    explain,
    parse_toolsets,
    select,
)
from truto_stripe_mcp.sandbox import TOOLS

SPECS = Catalog.from_entries(TOOLS).specs
BY_NAME = {spec.name: spec for spec in SPECS}
READS = {spec.name for spec in SPECS if spec.method in ("list", "get")}

CORE = {
    "list_all_stripe_customers",
    "get_single_stripe_customer_by_id",
    "create_a_stripe_customer",
    "list_all_stripe_charges",
    "get_single_stripe_charge_by_id",
    "list_all_stripe_refunds",
    "create_a_stripe_refund",
    "list_all_stripe_subscriptions",
    "get_single_stripe_subscription_by_id",
    "update_a_stripe_subscription_by_id",
    "delete_a_stripe_subscription_by_id",
    "list_all_stripe_disputes",
    "get_single_stripe_dispute_by_id",
    "list_all_stripe_payment_links",
    "create_a_stripe_payment_link",
}


def names(specs: list[ToolSpec]) -> set[str]:
    return {spec.name for spec in specs}


def members(toolset: str) -> set[str]:
    return {spec.name for spec in SPECS if TOOLSETS[toolset].contains(spec)}


def spec(name: str, resource: str, method: str, tags: tuple[str, ...] = ()) -> ToolSpec:
    return ToolSpec(name=name, description="", resource=resource, method=method, tags=tags)


# --- toolset contents ---------------------------------------------------------------------------


def test_the_sandbox_catalog_is_the_one_these_tests_describe() -> None:
    assert len(SPECS) == 463, "Stripe's documented operations, as the sandbox serves them"


def test_core_is_the_high_leverage_set() -> None:
    assert members("core") == CORE
    assert 15 <= len(CORE) <= 25
    assert names(select(SPECS)) == CORE


def test_support_reads_widely_and_writes_only_refunds() -> None:
    support = members("support")
    assert {
        "list_all_stripe_customers",
        "get_single_stripe_charge_by_id",
        "list_all_stripe_disputes",
    } <= support
    assert {
        "list_all_stripe_invoices",
        "list_all_stripe_customer_subscriptions",
        "create_a_stripe_refund",
    } <= support
    assert {name for name in support if BY_NAME[name].method not in ("list", "get")} == {
        "create_a_stripe_refund"
    }
    for absent in (
        "delete_a_stripe_customer_by_id",
        "close_a_stripe_dispute",
        "update_a_stripe_dispute_by_id",
    ):
        assert absent not in support


def test_billing_reads_and_manages_subscriptions_invoices_prices_products() -> None:
    billing = members("billing")
    for present in (
        "create_a_stripe_subscription",
        "resume_a_stripe_subscription",
        "delete_a_stripe_customer_subscription_by_id",
        "finalize_a_stripe_invoice",
        "void_a_stripe_invoice",
        "pay_a_stripe_invoice",
        "update_a_stripe_price_by_id",
        "delete_a_stripe_product_by_id",
        "list_all_stripe_customers",
    ):
        assert present in billing
    for absent in ("create_a_stripe_customer", "create_a_stripe_refund", "list_all_stripe_charges"):
        assert absent not in billing


def test_sales_creates_customers_tax_ids_products_prices_and_links() -> None:
    sales = members("sales")
    for present in (
        "create_a_stripe_customer",
        "create_a_stripe_customer_tax_id",
        "create_a_stripe_payment_link",
        "update_a_stripe_payment_link_by_id",
        "create_a_stripe_product",
        "create_a_stripe_price",
        "list_all_stripe_products",
    ):
        assert present in sales
    assert not {name for name in sales if BY_NAME[name].method == "delete"}
    for absent in ("update_a_stripe_product_by_id", "create_a_stripe_refund", "list_all_stripe_invoices"):
        assert absent not in sales


def test_readonly_is_every_tool_that_reads_and_all_is_everything() -> None:
    readers = {spec.name for spec in SPECS if spec.is_read}
    assert members("readonly") == readers and readers > READS
    assert {"search_a_stripe_customer", "retrieve_a_stripe_balance", "upcoming_a_stripe_invoice"} <= readers
    assert members("all") == set(BY_NAME)


@pytest.mark.parametrize(
    ("toolset", "tool"),
    [
        ("core", spec("list_all_stripe_payment_links_v2", "payment_links", "list")),
        ("core", spec("cancel_a_stripe_subscription", "subscriptions", "cancel")),
        ("billing", spec("create_a_stripe_subscription_item", "subscription_items", "create")),
        ("billing", spec("list_all_stripe_invoice_items", "invoice_items", "list")),
        ("billing", spec("void_a_stripe_credit_note", "credit_notes", "void")),
        ("sales", spec("create_a_stripe_checkout_session", "checkout_sessions", "create")),
        ("readonly", spec("list_all_stripe_payouts", "payouts", "list")),
        ("all", spec("delete_a_stripe_webhook_endpoint_by_id", "webhook_endpoints", "delete")),
    ],
)
def test_rules_cover_tools_truto_adds_later(toolset: str, tool: ToolSpec) -> None:
    assert TOOLSETS[toolset].contains(tool)
    assert tool in select([*SPECS, tool], toolsets=toolset)


def test_rules_do_not_leak_into_neighbouring_resources() -> None:
    assert not TOOLSETS["core"].contains(
        spec("list_all_stripe_payment_link_line_items", "payment_link_items", "list")
    )
    assert not TOOLSETS["support"].contains(spec("create_a_stripe_charge", "charges", "create"))
    assert not TOOLSETS["readonly"].contains(spec("capture_a_stripe_charge", "charges", "capture"))


def test_rule_method_words() -> None:
    refund_create = BY_NAME["create_a_stripe_refund"]
    void = BY_NAME["void_a_stripe_invoice"]
    assert Rule(("refunds",), ("write",)).matches(refund_create)
    assert not Rule(("refunds",), ("read",)).matches(refund_create)
    assert Rule(("invoice*",), ("custom",)).matches(void)
    assert Rule(("invoices",), ("void",)).matches(void)
    assert not Rule(("invoices",), ("finalize",)).matches(void)
    assert Rule(("*",)).matches(void)
    assert Toolset("x", "x", (Rule(("*subscriptions",), ("get",)),)).contains(
        BY_NAME["get_single_stripe_customer_subscription_by_id"]
    )


def test_every_toolset_has_a_one_line_description() -> None:
    assert list(TOOLSETS) == ["core", "support", "billing", "sales", "readonly", "all"]
    for toolset in TOOLSETS.values():
        assert toolset.description and "\n" not in toolset.description and len(toolset.description) < 100


# --- parsing ------------------------------------------------------------------------------------


def test_parse_toolsets() -> None:
    assert parse_toolsets("support, Sales ,support") == ("support", "sales")
    assert parse_toolsets(["support,sales", "all"]) == ("support", "sales", "all")
    assert parse_toolsets("") == ()
    assert parse_toolsets(()) == ()


def test_unknown_toolset_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown toolset 'suport'.*core, support, billing, sales, readonly, all"
    ):
        parse_toolsets("suport")
    with pytest.raises(ValueError, match="unknown toolset"):
        Selection(toolsets=("nope",))
    with pytest.raises(ValueError, match="unknown toolset"):
        select(SPECS, toolsets="core,nope")


def test_selection_normalizes_its_toolsets() -> None:
    assert Selection(toolsets=("Support", "support")).toolsets == ("support",)


# --- precedence: one test per row of the module docstring's table ---------------------------------


def test_nothing_chosen_gives_core() -> None:
    assert names(select(SPECS)) == CORE


def test_toolsets_combine_as_a_union() -> None:
    assert names(select(SPECS, toolsets="support,sales")) == members("support") | members("sales")
    assert names(select(SPECS, toolsets=["all"])) == set(BY_NAME)


def test_tools_add_to_toolsets() -> None:
    chosen = names(select(SPECS, toolsets="support", tools=["create_a_stripe_price"]))
    assert chosen == members("support") | {"create_a_stripe_price"}


def test_tools_alone_are_an_exact_allow_list() -> None:
    chosen = select(SPECS, tools=["create_a_stripe_refund", "list_all_stripe_charges", "not_a_tool"])
    assert names(chosen) == {"create_a_stripe_refund", "list_all_stripe_charges"}


def test_methods_or_tags_alone_filter_the_whole_catalog() -> None:
    assert names(select(SPECS, methods=["custom"])) == {s.name for s in SPECS if s.kind == "custom"}
    assert names(select(SPECS, tags=["disputes"])) == {s.name for s in SPECS if "disputes" in s.tags}


def test_methods_narrow_toolsets_and_named_tools() -> None:
    chosen = select(SPECS, toolsets="billing", tools=["create_a_stripe_refund"], methods=["custom", "get"])
    billing = [s for s in SPECS if TOOLSETS["billing"].contains(s)]
    assert names(chosen) == {s.name for s in billing if s.method == "get" or s.kind == "custom"}
    assert {"finalize_a_stripe_invoice", "pay_a_stripe_invoice", "void_a_stripe_invoice"} <= names(chosen)
    assert "create_a_stripe_refund" not in names(chosen), "--methods narrows named tools too"


def test_tags_narrow_the_base_by_any_tag() -> None:
    chosen = select(SPECS, toolsets="core", tags=["customers", "checkout"])
    assert names(chosen) == {
        "list_all_stripe_customers",
        "get_single_stripe_customer_by_id",
        "create_a_stripe_customer",
        "list_all_stripe_payment_links",
        "create_a_stripe_payment_link",
    }


def test_read_only_overrides_everything_including_named_tools() -> None:
    assert names(select(SPECS, read_only=True)) == {n for n in CORE if n in READS}
    chosen = select(
        SPECS, toolsets="all", tools=["create_a_stripe_refund"], methods=["write", "list"], read_only=True
    )
    assert names(chosen) == {s.name for s in SPECS if s.method == "list"}
    assert select(SPECS, tools=["create_a_stripe_refund"], read_only=True) == []


def test_exclude_always_wins() -> None:
    chosen = select(
        SPECS,
        toolsets="all",
        tools=["create_a_stripe_refund", "list_all_stripe_charges"],
        exclude_tools=["create_a_stripe_refund", "list_all_stripe_charges"],
    )
    assert names(chosen) == set(BY_NAME) - {"create_a_stripe_refund", "list_all_stripe_charges"}
    assert "list_all_stripe_customers" not in names(
        select(SPECS, exclude_tools=["list_all_stripe_customers"])
    )
    assert names(select(SPECS, exclude_tools=["list_all_stripe_customers"])) == CORE - {
        "list_all_stripe_customers"
    }


def test_result_is_sorted_by_name() -> None:
    chosen = [s.name for s in select(reversed(SPECS), toolsets="all")]
    assert chosen == sorted(chosen)


def test_helper_tools_follow_only_the_name_lists() -> None:
    assert Selection().local_refusal("search_tools") is None
    assert (
        Selection(toolsets=("support",), read_only=True, methods=("get",)).local_refusal("auto_paginate")
        is None
    )
    assert (
        Selection(toolsets=("support",), tools=("create_a_stripe_price",)).local_refusal("auto_paginate")
        is None
    )
    assert "allow list" in (
        Selection(tools=("list_all_stripe_charges",)).local_refusal("auto_paginate") or ""
    )
    assert Selection(tools=("auto_paginate",)).local_refusal("auto_paginate") is None
    assert "--exclude-tools" in (
        Selection(exclude_tools=("search_tools",)).local_refusal("search_tools") or ""
    )


# --- explain ------------------------------------------------------------------------------------


def test_explain_names_the_flag_that_adds_a_tool() -> None:
    price = BY_NAME["create_a_stripe_price"]
    assert explain(price, toolsets="support") == (
        "create_a_stripe_price is not in the selected toolsets (support); "
        "add --toolsets sales or --tools create_a_stripe_price."
    )
    assert explain(price) == (
        "create_a_stripe_price is not in the default core toolset; "
        "start the server with --toolsets core,sales or --tools create_a_stripe_price."
    )
    message = explain(price, tools=["list_all_stripe_charges"])
    assert message and "allow list (--tools)" in message and "--toolsets sales" in message
    assert "--toolsets all" in (explain(BY_NAME["close_a_stripe_dispute"], toolsets="core") or "")
    assert explain(price, toolsets="sales") is None


def test_explain_follows_the_precedence() -> None:
    refund = BY_NAME["create_a_stripe_refund"]
    assert "--exclude-tools" in (
        explain(refund, exclude_tools=["create_a_stripe_refund"], read_only=True) or ""
    )
    assert "read-only mode" in (explain(refund, tools=["create_a_stripe_refund"], read_only=True) or "")
    assert "--methods list,get" in (explain(refund, methods=["list", "get"]) or "")
    assert "--tags disputes" in (explain(refund, toolsets="support", tags=["disputes"]) or "")
    for name in (s.name for s in SPECS):
        chosen = name in names(select(SPECS, toolsets="support", methods=["read", "create"]))
        assert (explain(BY_NAME[name], toolsets="support", methods=["read", "create"]) is None) == chosen

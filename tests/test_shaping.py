"""Tests for truto_stripe_mcp.shaping: field selection, budgets and compact JSON."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from truto_stripe_mcp.result_budget import MIN_BUDGET_CHARS, TRUNCATION_KEY, BudgetCut, fit_to_budget
from truto_stripe_mcp.shaping import (
    ALWAYS_KEPT,
    compact_json,
    drop_empty,
    list_cursor_key,
    parse_fields,
    select_fields,
)


def subscription(index: int, *, lines: int = 2, pad: int = 0) -> dict[str, Any]:
    """A realistic Stripe subscription (already annotated with _iso siblings)."""
    return {
        "id": f"sub_{index:05d}",
        "object": "subscription",
        "created": 1679609767 + index,
        "created_iso": "2023-03-23T22:16:07Z",
        "customer": f"cus_{index:05d}",
        "status": "active",
        "current_period_end": 1682288167,
        "current_period_end_iso": "2023-04-23T22:16:07Z",
        "description": "x" * pad,
        "metadata": {"plan": "pro", "seats": str(index)},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{index}_{n}",
                    "object": "subscription_item",
                    "price": {"id": f"price_{n}", "unit_amount": 1000 * (n + 1), "currency": "usd"},
                    "quantity": n + 1,
                }
                for n in range(lines)
            ],
            "has_more": False,
            "url": "/v1/subscription_items",
        },
        "trial_end": None,
    }


def envelope(
    count: int, *, cursor: str | None = "eyJzdGFydGluZ19hZnRlciI6InN1Yl8xIn0=", **kw: Any
) -> dict[str, Any]:
    return {
        "result": [subscription(i, **kw) for i in range(count)],
        "next_cursor": cursor,
        "prev_cursor": None,
        "result_count": count,
        "is_partial_response": False,
    }


# ---------------------------------------------------------------- parse_fields


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("id,email,created", ["id", "email", "created"]),
        (" id , email ,, created ,", ["id", "email", "created"]),
        ("metadata.plan,items.data.price.id", ["metadata.plan", "items.data.price.id"]),
        ("items.data[].price.id", ["items.data.price.id"]),
        (["id", "email, name"], ["id", "email", "name"]),
        ("id,id,email", ["id", "email"]),
        ("", []),
        ([], []),
        ("metadata.order-ref,metadata.a:b", ["metadata.order-ref", "metadata.a:b"]),
    ],
)
def test_parse_fields(spec: Any, expected: list[str]) -> None:
    assert parse_fields(spec) == expected


@pytest.mark.parametrize("bad", ["id,em ail", "a..b", ".a", "a.", "items[0].id", "a/b", "$where", [1], 5])
def test_parse_fields_rejects(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_fields(bad)


# ---------------------------------------------------------------- select_fields


def test_select_on_envelope_keeps_envelope_keys() -> None:
    page = envelope(3)
    before = copy.deepcopy(page)
    out = select_fields(page, "status,metadata.plan")
    assert page == before
    assert {k: v for k, v in out.items() if k != "result"} == {k: v for k, v in page.items() if k != "result"}
    assert out["result"][1] == {
        "id": "sub_00001",
        "object": "subscription",
        "status": "active",
        "metadata": {"plan": "pro"},
    }


def test_select_keeps_id_and_object_and_order() -> None:
    out = select_fields(subscription(7), ["customer"])
    assert list(out) == ["id", "object", "customer"]
    assert set(ALWAYS_KEPT) <= set(out)


def test_select_nested_lists() -> None:
    out = select_fields(envelope(2, lines=3), "items.data.price.id,items.data.quantity")
    items = out["result"][0]["items"]
    assert items == {
        "data": [
            {"price": {"id": "price_0"}, "quantity": 1},
            {"price": {"id": "price_1"}, "quantity": 2},
            {"price": {"id": "price_2"}, "quantity": 3},
        ]
    }


def test_select_iso_sibling_follows_field() -> None:
    out = select_fields(subscription(1), "created,current_period_end")
    assert out == {
        "id": "sub_00001",
        "object": "subscription",
        "created": 1679609768,
        "created_iso": "2023-03-23T22:16:07Z",
        "current_period_end": 1682288167,
        "current_period_end_iso": "2023-04-23T22:16:07Z",
    }
    assert "created" not in select_fields(subscription(1), "created_iso")


def test_select_nested_iso_sibling() -> None:
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "status_transitions": {
            "paid_at": 1680644469,
            "paid_at_iso": "2023-04-04T21:41:09Z",
            "voided_at": None,
        },
    }
    out = select_fields(invoice, "status_transitions.paid_at")
    assert out["status_transitions"] == {"paid_at": 1680644469, "paid_at_iso": "2023-04-04T21:41:09Z"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("nope", {"id": "sub_00000", "object": "subscription"}),
        ("metadata.nope", {"id": "sub_00000", "object": "subscription", "metadata": {}}),
        # An unexpanded reference (a string id) is kept where the path expected an object.
        ("customer.email", {"id": "sub_00000", "object": "subscription", "customer": "cus_00000"}),
        ("trial_end.x", {"id": "sub_00000", "object": "subscription", "trial_end": None}),
        # A shorter path wins over its extension.
        (
            "metadata,metadata.plan",
            {"id": "sub_00000", "object": "subscription", "metadata": {"plan": "pro", "seats": "0"}},
        ),
        (
            "metadata.plan,metadata",
            {"id": "sub_00000", "object": "subscription", "metadata": {"plan": "pro", "seats": "0"}},
        ),
    ],
)
def test_select_missing_and_scalar_paths(fields: str, expected: dict[str, Any]) -> None:
    assert select_fields(subscription(0), fields) == expected


def test_select_bare_list_and_stripe_list_and_scalars() -> None:
    bare = [subscription(0), subscription(1), "sub_raw"]
    assert select_fields(bare, "status") == [
        {"id": "sub_00000", "object": "subscription", "status": "active"},
        {"id": "sub_00001", "object": "subscription", "status": "active"},
        "sub_raw",
    ]
    stripe_list = {"object": "list", "data": [subscription(0)], "has_more": True, "url": "/v1/subscriptions"}
    out = select_fields(stripe_list, "status")
    assert out == {**stripe_list, "data": [{"id": "sub_00000", "object": "subscription", "status": "active"}]}
    assert select_fields("text", "id") == "text"


def test_select_empty_fields_returns_value() -> None:
    value = subscription(0)
    assert select_fields(value, "") is value
    assert select_fields(value, []) is value


# ---------------------------------------------------------------- compact_json


def test_compact_json() -> None:
    assert compact_json({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'
    assert compact_json({"when": object}).startswith('{"when":"<class')


# ---------------------------------------------------------------- fit_to_budget


def size(value: Any) -> int:
    return len(compact_json(value))


@pytest.mark.parametrize("value", [envelope(3), subscription(1), [1, 2, 3], "short", None, 5])
def test_unchanged_when_small(value: Any) -> None:
    out, cut = fit_to_budget(value, 100_000)
    assert out is value
    assert cut is None


def test_exact_fit_unchanged() -> None:
    value = envelope(4)
    out, cut = fit_to_budget(value, size(value))
    assert out is value and cut is None


def test_budget_below_minimum_rejected() -> None:
    with pytest.raises(ValueError):
        fit_to_budget(envelope(3), MIN_BUDGET_CHARS - 1)


def test_envelope_cut_at_item_boundary_with_actionable_note() -> None:
    page = envelope(50)
    before = copy.deepcopy(page)
    out, cut = fit_to_budget(page, 5000)
    assert page == before
    assert isinstance(cut, BudgetCut)
    assert size(out) <= 5000 == cut.budget_chars
    assert cut.returned_chars == size(out)
    assert cut.total_chars == size(page)
    kept = len(out["result"])
    assert 0 < kept < 50
    assert out["result"] == page["result"][:kept]  # whole items, unchanged, in order
    assert (cut.kept_items, cut.omitted_items, cut.total_items) == (kept, 50 - kept, 50)
    # The counts are those of the items shown, and the upstream cursor (which would skip the
    # items left out) is gone: without a resume cursor, the notice says how to go on.
    assert out["prev_cursor"] == page["prev_cursor"] and out["next_cursor"] is None
    assert out["result_count"] == kept and out["is_partial_response"] is True
    assert cut.cursor_key == "next_cursor"
    info = out[TRUNCATION_KEY]
    assert next(iter(out)) == TRUNCATION_KEY
    assert info["omitted_items"] == 50 - kept and info["kept_items"] == kept
    hint = info["how_to_get_more"]
    assert f"limit={cut.suggested_limit}" in hint
    assert cut.suggested_limit == kept
    assert "fields=" in hint and "next_cursor" in hint and "would skip the items left out" in hint
    assert hint in cut.note and "5000" in cut.note
    # The suggested limit really fits: the same page at that size is not cut.
    smaller = {**page, "result": page["result"][: cut.suggested_limit]}
    assert fit_to_budget(smaller, 5000)[1] is None


def test_a_resumed_cut_says_to_follow_the_cursor_and_leaves_room_for_it() -> None:
    """With ``resumes`` the caller puts in a cursor that resumes at the first item not shown."""
    page = envelope(50)
    out, cut = fit_to_budget(page, 5000, resumes=True, reserve=300)
    assert cut is not None and cut.cursor_key == "next_cursor" and out["next_cursor"] is None
    assert size(out) <= 5000 - 300 and "5000-char limit" in cut.note, "the notice names the real budget"
    hint = out[TRUNCATION_KEY]["how_to_get_more"]
    assert hint.startswith("This response's next_cursor resumes at the first item not shown")
    assert f"limit={cut.kept_items}" in hint and "fields=" in hint


def test_a_cut_of_one_shrunk_item_keeps_its_exact_cursor() -> None:
    """Every item is shown (the only one lost fields): the upstream cursor skips nothing."""
    page = envelope(1, pad=20_000)
    out, cut = fit_to_budget(page, 4000, resumes=True)
    assert cut is not None and cut.cursor_key is None and cut.omitted_items == 0
    assert out["next_cursor"] == page["next_cursor"] and out["result_count"] == 1
    assert out["is_partial_response"] is False


def test_a_cut_search_result_resumes_by_next_page() -> None:
    value = {
        "object": "search_result",
        "data": [subscription(i) for i in range(30)],
        "has_more": False,
        "next_page": None,
        "url": "/v1/subscriptions/search",
    }
    assert list_cursor_key(value) == "next_page"
    out, cut = fit_to_budget(value, 3000, resumes=True)
    assert cut is not None and cut.cursor_key == "next_page" and 0 < cut.kept_items < 30
    assert out["data"] == value["data"][: cut.kept_items] and out["has_more"] is True
    assert "next_page (pass it as page) resumes" in out[TRUNCATION_KEY]["how_to_get_more"]
    assert select_fields(value, "status")["data"][0] == {
        "id": "sub_00000",
        "object": "subscription",
        "status": "active",
    }


def test_envelope_without_cursor_does_not_warn_about_it() -> None:
    out, _ = fit_to_budget(envelope(30, cursor=None), 3000)
    hint = out[TRUNCATION_KEY]["how_to_get_more"]
    assert "limit=" in hint and "repeat this call" in hint


def test_bare_list_is_wrapped() -> None:
    items = [subscription(i) for i in range(30)]
    out, cut = fit_to_budget(items, 3000)
    assert cut is not None
    assert set(out) == {TRUNCATION_KEY, "result"}
    assert out["result"] == items[: cut.kept_items]
    assert "limit=" in out[TRUNCATION_KEY]["how_to_get_more"]
    assert size(out) <= 3000


def test_stripe_list_object_cut_on_data() -> None:
    value = {
        "object": "list",
        "data": [subscription(i) for i in range(30)],
        "has_more": False,
        "url": "/v1/x",
    }
    out, cut = fit_to_budget(value, 3000)
    assert cut is not None and 0 < cut.kept_items < 30 and cut.cursor_key is None
    assert out["data"] == value["data"][: cut.kept_items]
    assert out["has_more"] is True, "items left out: more follow"
    assert out["url"] == "/v1/x"


# ---------------------------------------------------------------- drop_empty


def test_drop_empty_leaves_out_what_holds_nothing_and_keeps_every_value() -> None:
    charge = {
        "id": "ch_1",
        "amount_refunded": 0,
        "refunded": False,
        "statement_descriptor": "",
        "failure_code": None,
        "metadata": {},
        "fraud_details": {},
        "billing_details": {"address": {"city": None, "line1": None}, "email": None, "name": "Jane"},
        "shipping": {"address": {"city": None}},
        "refunds": {"object": "list", "data": [], "has_more": False},
        "tags": [None, {}, [], 0],
    }
    assert drop_empty(charge) == {
        "id": "ch_1",
        "amount_refunded": 0,
        "refunded": False,
        "statement_descriptor": "",
        "billing_details": {"name": "Jane"},
        "refunds": {"object": "list", "has_more": False},
        "tags": [None, {}, [], 0],
    }
    page = {"result": [charge], "next_cursor": None, "prev_cursor": None, "result_count": 1}
    lean = drop_empty(page)
    assert lean["next_cursor"] is None and "prev_cursor" in lean, "the envelope's own keys stay"
    assert lean["result"] == [drop_empty(charge)]
    assert drop_empty({"result": [], "next_cursor": None}) == {"result": [], "next_cursor": None}
    assert charge["metadata"] == {} and charge["failure_code"] is None, "the input is not changed"


def test_single_object_drops_largest_fields() -> None:
    invoice = {
        "id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
        "object": "invoice",
        "customer": "cus_1",
        "amount_due": 1500,
        "lines": {
            "object": "list",
            "data": [{"id": f"il_{i}", "amount": 100, "description": "d" * 80} for i in range(200)],
        },
        "footer": "f" * 3000,
        "status": "open",
    }
    out, cut = fit_to_budget(invoice, 1200)
    assert cut is not None
    assert size(out) <= 1200
    assert cut.dropped_fields == ("lines", "footer")
    assert out[TRUNCATION_KEY]["dropped_fields"] == ["lines", "footer"]
    assert {k: v for k, v in out.items() if k != TRUNCATION_KEY} == {
        "id": invoice["id"],
        "object": "invoice",
        "customer": "cus_1",
        "amount_due": 1500,
        "status": "open",
    }
    assert "lines" in cut.note and 'fields="id,lines.data.id"' in cut.note
    assert (cut.kept_items, cut.omitted_items) == (1, 0)


def test_single_object_never_drops_id_or_object() -> None:
    obj = {"id": "cus_1", "object": "customer", **{f"f{i}": "v" * 200 for i in range(40)}}
    out, cut = fit_to_budget(obj, MIN_BUDGET_CHARS)
    assert cut is not None
    assert out["id"] == "cus_1" and out["object"] == "customer"
    assert size(out) <= MIN_BUDGET_CHARS


def test_single_huge_item_in_list_is_shrunk() -> None:
    page = envelope(5, pad=20_000)
    out, cut = fit_to_budget(page, 4000)
    assert cut is not None
    assert size(out) <= 4000
    assert len(out["result"]) == 1
    first = out["result"][0]
    assert first["id"] == "sub_00000" and "description" not in first
    assert "description" in cut.dropped_fields
    assert cut.kept_items == 1 and cut.omitted_items == 4
    assert "description" in cut.note


def test_huge_string_is_cut() -> None:
    out, cut = fit_to_budget("é" * 10_000, 500)
    assert cut is not None and isinstance(out, str) and size(out) <= 500
    assert out.startswith("éé") and "cut" in out


def _all_budget_cases() -> list[tuple[int, int, int]]:
    cases = []
    for count in (1, 2, 3, 7, 20, 60):
        for budget in (MIN_BUDGET_CHARS, 300, 512, 777, 1000, 1500, 2345, 4096, 8000, 20_000):
            for pad in (0, 400):
                cases.append((count, budget, pad))
    return cases


@pytest.mark.parametrize(("count", "budget", "pad"), _all_budget_cases())
def test_budget_sweep_never_exceeds(count: int, budget: int, pad: int) -> None:
    for value in (envelope(count, pad=pad), [subscription(i, pad=pad) for i in range(count)]):
        out, cut = fit_to_budget(value, budget)
        text = compact_json(out)
        assert len(text) <= budget
        assert json.loads(text) == out  # valid, plain JSON data
        if size(value) <= budget:
            assert cut is None and out is value
            continue
        assert cut is not None and cut.note
        assert cut.kept_items + cut.omitted_items == count
        assert cut.returned_chars == len(text)
        assert TRUNCATION_KEY in out
        items = out.get("result", [])
        if items and not cut.dropped_fields:
            source = value["result"] if isinstance(value, dict) else value
            assert items == source[: len(items)]


@pytest.mark.parametrize("budget", [MIN_BUDGET_CHARS, 400, 900, 2500])
def test_budget_sweep_single_objects(budget: int) -> None:
    for pad in (0, 500, 5000):
        for lines in (1, 20, 80):
            value = subscription(3, lines=lines, pad=pad)
            out, cut = fit_to_budget(value, budget)
            assert len(compact_json(out)) <= budget
            if cut is not None:
                assert out["id"] == "sub_00003"
                assert "fields=" in cut.note


def test_custom_dumps_respected() -> None:
    def pretty(value: Any) -> str:
        return json.dumps(value, indent=2)

    page = envelope(20)
    out, cut = fit_to_budget(page, 3000, dumps=pretty)
    assert cut is not None
    assert len(pretty(out)) <= 3000
    assert out["result"] == page["result"][: cut.kept_items]

"""Tests for truto_stripe_mcp.timestamps: annotation, parsing, ranges and filter conversion."""

from __future__ import annotations

import calendar
import copy
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from truto_stripe_mcp.local.convert_timestamp import convert_values
from truto_stripe_mcp.timestamps import (
    TIMESTAMP_FIELDS,
    TimestampError,
    annotate_timestamps,
    convert_time_filters,
    is_plausible_epoch,
    is_timestamp_field,
    parse_time,
    resolve_range,
    to_iso,
)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch of a UTC wall-clock time, computed independently of the module under test."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


NOW = datetime(2024, 5, 15, 14, 30, 0, tzinfo=UTC)  # a Wednesday
NOW_EPOCH = ts(2024, 5, 15, 14, 30)
END_TODAY = ts(2024, 5, 15, 23, 59, 59)

# ---------------------------------------------------------------- realistic Stripe fixtures

CUSTOMER: dict[str, Any] = {
    "id": "cus_NffrFeUfNV2Hib",
    "object": "customer",
    "address": None,
    "balance": 0,
    "created": 1680893993,
    "currency": "usd",
    "default_source": None,
    "delinquent": False,
    "description": None,
    "email": "jennyrosen@example.com",
    "invoice_prefix": "0759376C",
    "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
    "livemode": False,
    "metadata": {"plan": "pro", "expires_at": "1700000000"},
    "name": "Jenny Rosen",
    "next_invoice_sequence": 1,
    "phone": None,
    "preferred_locales": [],
    "tax_exempt": "none",
}

CHARGE: dict[str, Any] = {
    "id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
    "object": "charge",
    "amount": 1099,
    "amount_captured": 1099,
    "amount_refunded": 1000,
    "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy",
    "billing_details": {
        "address": {"city": "Berlin", "country": "DE", "line1": None, "postal_code": "10115"},
        "email": None,
        "name": "Jenny Rosen",
        "phone": None,
    },
    "captured": True,
    "created": 1679090539,
    "currency": "usd",
    "customer": "cus_NffrFeUfNV2Hib",
    "paid": True,
    "payment_method_details": {"card": {"brand": "visa", "exp_month": 8, "exp_year": 2026, "last4": "4242"}},
    "refunded": False,
    "refunds": {
        "object": "list",
        "data": [
            {
                "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
                "object": "refund",
                "amount": 1000,
                "created": 1692942318,
                "status": "succeeded",
            }
        ],
        "has_more": False,
        "total_count": 1,
        "url": "/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15/refunds",
    },
    "status": "succeeded",
}

SUBSCRIPTION: dict[str, Any] = {
    "id": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
    "object": "subscription",
    "billing_cycle_anchor": 1679609767,
    "cancel_at": None,
    "cancel_at_period_end": False,
    "canceled_at": None,
    "collection_method": "charge_automatically",
    "created": 1679609767,
    "current_period_end": 1682288167,
    "current_period_start": 1679609767,
    "customer": "cus_Na6dX7aXxi11N4",
    "days_until_due": None,
    "ended_at": None,
    "items": {
        "object": "list",
        "data": [
            {
                "id": "si_Na6dzxczY5fwHx",
                "object": "subscription_item",
                "created": 1679609768,
                "price": {"id": "price_1MowQULkdIwHu7ixraBm864M", "unit_amount": 1000, "created": 1679609766},
                "quantity": 1,
                "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
            }
        ],
        "has_more": False,
        "total_count": 1,
    },
    "pause_collection": {"behavior": "void", "resumes_at": 1690000000},
    "start_date": 1679609767,
    "status": "active",
    "trial_end": None,
    "trial_start": None,
}

INVOICE: dict[str, Any] = {
    "id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
    "object": "invoice",
    "amount_due": 0,
    "amount_paid": 0,
    "attempt_count": 0,
    "created": 1680644467,
    "due_date": None,
    "effective_at": 1680644467,
    "lines": {
        "object": "list",
        "data": [
            {
                "id": "il_1MtHbELkdIwHu7ixl4OzzPMv",
                "object": "line_item",
                "amount": 1000,
                "period": {"end": 1682288167, "start": 1679609767},
                "quantity": 1,
            }
        ],
        "has_more": False,
    },
    "next_payment_attempt": None,
    "period_end": 1680644467,
    "period_start": 1680644467,
    "status": "paid",
    "status_transitions": {
        "finalized_at": 1680644468,
        "marked_uncollectible_at": None,
        "paid_at": 1680644469,
        "voided_at": None,
    },
    "webhooks_delivered_at": 1680644470,
}

PAYOUT: dict[str, Any] = {
    "id": "po_1OaFDbEcg9tTZuTgNYmX0PKB",
    "object": "payout",
    "amount": 1100,
    "arrival_date": 1680652800,
    "automatic": True,
    "created": 1680648691,
    "currency": "usd",
    "status": "paid",
}

BALANCE_TRANSACTION: dict[str, Any] = {
    "id": "txn_1MiN3gLkdIwHu7ixxapQrznl",
    "object": "balance_transaction",
    "amount": -400,
    "available_on": 1678043844,
    "created": 1678043844,
    "fee": 0,
    "net": -400,
    "status": "available",
}

# ---------------------------------------------------------------- field detection


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("created", True),
        ("current_period_end", True),
        ("arrival_date", True),
        ("available_on", True),
        ("start", True),
        ("end", True),
        ("paid_at", True),
        ("some_new_thing_at", True),
        ("amount", False),
        ("quantity", False),
        ("unit_amount", False),
        ("count", False),
        ("amount_refunded", False),
        ("created_iso", False),
        ("_at", False),
        ("status", False),
    ],
)
def test_is_timestamp_field(name: str, expected: bool) -> None:
    assert is_timestamp_field(name) is expected


def test_timestamp_fields_cover_the_brief() -> None:
    expected = {"created", "due_date", "arrival_date", "available_on", "billing_cycle_anchor", "due_by"}
    assert expected <= TIMESTAMP_FIELDS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1672531199, True),
        (1672531199.0, True),
        (946684800, True),
        (946684799, False),
        (4102444799, True),
        (4102444800, False),
        (1672531199.5, False),
        (0, False),
        (30, False),
        (True, False),
        ("1672531199", False),
        (None, False),
    ],
)
def test_is_plausible_epoch(value: Any, expected: bool) -> None:
    assert is_plausible_epoch(value) is expected


@pytest.mark.parametrize(
    ("epoch", "iso"),
    [
        (1672531199, "2022-12-31T23:59:59Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1714521600.9, "2024-05-01T00:00:00Z"),
        (4102444799, "2099-12-31T23:59:59Z"),
    ],
)
def test_to_iso(epoch: float, iso: str) -> None:
    assert to_iso(epoch) == iso


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 10**15, True, "1"])
def test_to_iso_rejects(bad: Any) -> None:
    with pytest.raises(TimestampError):
        to_iso(bad)


# ---------------------------------------------------------------- annotation


@pytest.mark.parametrize(
    ("fixture", "path", "iso"),
    [
        (CUSTOMER, ("created_iso",), "2023-04-07T18:59:53Z"),
        (CHARGE, ("created_iso",), "2023-03-17T22:02:19Z"),
        (CHARGE, ("refunds", "data", 0, "created_iso"), "2023-08-25T05:45:18Z"),
        (SUBSCRIPTION, ("current_period_start_iso",), "2023-03-23T22:16:07Z"),
        (SUBSCRIPTION, ("current_period_end_iso",), "2023-04-23T22:16:07Z"),
        (SUBSCRIPTION, ("billing_cycle_anchor_iso",), "2023-03-23T22:16:07Z"),
        (SUBSCRIPTION, ("items", "data", 0, "created_iso"), "2023-03-23T22:16:08Z"),
        (SUBSCRIPTION, ("items", "data", 0, "price", "created_iso"), "2023-03-23T22:16:06Z"),
        (SUBSCRIPTION, ("pause_collection", "resumes_at_iso"), "2023-07-22T04:26:40Z"),
        (INVOICE, ("status_transitions", "paid_at_iso"), "2023-04-04T21:41:09Z"),
        (INVOICE, ("status_transitions", "finalized_at_iso"), "2023-04-04T21:41:08Z"),
        (INVOICE, ("lines", "data", 0, "period", "start_iso"), "2023-03-23T22:16:07Z"),
        (INVOICE, ("lines", "data", 0, "period", "end_iso"), "2023-04-23T22:16:07Z"),
        (INVOICE, ("webhooks_delivered_at_iso",), "2023-04-04T21:41:10Z"),
        (INVOICE, ("effective_at_iso",), "2023-04-04T21:41:07Z"),
        (PAYOUT, ("arrival_date_iso",), "2023-04-05T00:00:00Z"),
        (BALANCE_TRANSACTION, ("available_on_iso",), "2023-03-05T19:17:24Z"),
    ],
)
def test_annotates_real_shapes(fixture: dict[str, Any], path: tuple[Any, ...], iso: str) -> None:
    node: Any = annotate_timestamps(fixture)
    for step in path:
        node = node[step]
    assert node == iso


@pytest.mark.parametrize(
    ("fixture", "untouched"),
    [
        (CHARGE, ["amount", "amount_captured", "amount_refunded"]),
        (
            SUBSCRIPTION,
            ["trial_end", "trial_start", "canceled_at", "cancel_at", "ended_at", "days_until_due"],
        ),
        (INVOICE, ["amount_due", "amount_paid", "attempt_count", "due_date", "next_payment_attempt"]),
        (CUSTOMER, ["balance", "next_invoice_sequence"]),
        (PAYOUT, ["amount"]),
        (BALANCE_TRANSACTION, ["amount", "fee", "net"]),
    ],
)
def test_non_timestamps_and_nulls_untouched(fixture: dict[str, Any], untouched: list[str]) -> None:
    out = annotate_timestamps(fixture)
    for name in untouched:
        assert out[name] == fixture[name]
        assert f"{name}_iso" not in out


def test_in_range_counts_never_annotated() -> None:
    obj = {"amount": 1700000000, "quantity": 1700000000, "count": 1700000000, "unit_amount": 1700000000}
    assert annotate_timestamps(obj) == obj


@pytest.mark.parametrize("value", [0, 1, 86400, -5, "1700000000", None, True, 1700000000.5, 10**11])
def test_implausible_values_get_no_sibling(value: Any) -> None:
    assert annotate_timestamps({"created": value, "expires_at": value}) == {
        "created": value,
        "expires_at": value,
    }


def test_metadata_strings_untouched() -> None:
    out = annotate_timestamps(CUSTOMER)
    assert out["metadata"] == {"plan": "pro", "expires_at": "1700000000"}


def test_sibling_inserted_right_after_original_key() -> None:
    out = annotate_timestamps(SUBSCRIPTION)
    keys = list(out)
    assert keys[keys.index("created") + 1] == "created_iso"
    assert keys[keys.index("current_period_end") + 1] == "current_period_end_iso"
    without_iso = [k for k in keys if not k.endswith("_iso")]
    assert without_iso == list(SUBSCRIPTION)
    assert out["created"] == SUBSCRIPTION["created"]


def test_input_not_mutated() -> None:
    for fixture in (CUSTOMER, CHARGE, SUBSCRIPTION, INVOICE, PAYOUT, BALANCE_TRANSACTION):
        before = copy.deepcopy(fixture)
        annotate_timestamps(fixture)
        assert fixture == before


def test_existing_iso_sibling_kept() -> None:
    obj = {"created": 1680893993, "created_iso": "custom", "paid_at": 1680893993}
    out = annotate_timestamps(obj)
    assert out["created_iso"] == "custom"
    assert list(out) == ["created", "created_iso", "paid_at", "paid_at_iso"]


def test_float_epoch_annotated() -> None:
    assert annotate_timestamps({"created": 1672531199.0})["created_iso"] == "2022-12-31T23:59:59Z"


def test_list_envelope_and_scalars() -> None:
    envelope = {
        "result": [CUSTOMER, PAYOUT],
        "next_cursor": "eyJhIjoxfQ==",
        "prev_cursor": None,
        "result_count": 2,
        "is_partial_response": False,
    }
    out = annotate_timestamps(envelope)
    assert out["result"][0]["created_iso"] == "2023-04-07T18:59:53Z"
    assert out["result"][1]["arrival_date_iso"] == "2023-04-05T00:00:00Z"
    assert {k: v for k, v in out.items() if k != "result"} == {
        k: v for k, v in envelope.items() if k != "result"
    }
    assert annotate_timestamps([1700000000, "x"]) == [1700000000, "x"]
    assert annotate_timestamps(1700000000) == 1700000000
    assert annotate_timestamps(None) is None


def test_annotation_is_fast() -> None:
    item = {f"field_{i}": f"value {i}" for i in range(28)}
    item.update(SUBSCRIPTION)
    page = {"result": [copy.deepcopy(item) for _ in range(100)], "next_cursor": None}
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        annotate_timestamps(page)
        best = min(best, time.perf_counter() - start)
    assert best < 0.005


# ---------------------------------------------------------------- parse_time


@pytest.mark.parametrize(
    ("value", "end_of_day", "expected"),
    [
        (1672531199, False, 1672531199),
        (1672531199, True, 1672531199),
        (1672531199.0, False, 1672531199),
        (1672531199.7, False, 1672531199),
        (5, False, 5),
        ("1672531199", False, 1672531199),
        (" 1672531199 ", False, 1672531199),
        ("1672531199.9", False, 1672531199),
        ("2024-05-01", False, ts(2024, 5, 1)),
        ("2024-05-01", True, ts(2024, 5, 1, 23, 59, 59)),
        ("2024-02-29", True, ts(2024, 2, 29, 23, 59, 59)),
        ("2024-05-01T12:00:00Z", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00Z", True, ts(2024, 5, 1, 12)),
        ("2024-05-01t12:00:00z", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00+02:00", False, ts(2024, 5, 1, 10)),
        ("2024-05-01T12:00:00-05:30", False, ts(2024, 5, 1, 17, 30)),
        ("2024-05-01T12:00:00+0200", False, ts(2024, 5, 1, 10)),
        ("2024-05-01 12:00", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00.123Z", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00.999999+00:00", False, ts(2024, 5, 1, 12)),
        ("2024-05-01T00:30:00+01:00", False, ts(2024, 4, 30, 23, 30)),
    ],
)
def test_parse_time(value: Any, end_of_day: bool, expected: int) -> None:
    result = parse_time(value, end_of_day=end_of_day)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "bad",
    [
        *("", "yesterday", "May 1 2024", "2024-13-01", "2024-02-30", "2024-05-01T25:00", "2024/05/01"),
        *("12abc", True, None, float("nan"), [1], "2024-05-01T12:00:00+25:00"),
    ],
)
def test_parse_time_errors(bad: Any) -> None:
    with pytest.raises(TimestampError) as info:
        parse_time(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "Accepted forms" in message
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- resolve_range


@pytest.mark.parametrize(
    ("phrase", "gte", "lte"),
    [
        ("today", ts(2024, 5, 15), END_TODAY),
        ("yesterday", ts(2024, 5, 14), ts(2024, 5, 14, 23, 59, 59)),
        ("last 7 days", NOW_EPOCH - 7 * 86400, NOW_EPOCH),
        ("past 7 days", NOW_EPOCH - 7 * 86400, NOW_EPOCH),
        ("Last  7   Days", NOW_EPOCH - 7 * 86400, NOW_EPOCH),
        ("last 1 day", NOW_EPOCH - 86400, NOW_EPOCH),
        ("last 7d", NOW_EPOCH - 7 * 86400, NOW_EPOCH),
        ("last 24 hours", NOW_EPOCH - 24 * 3600, NOW_EPOCH),
        ("past 30 minutes", NOW_EPOCH - 1800, NOW_EPOCH),
        ("last 2 weeks", NOW_EPOCH - 14 * 86400, NOW_EPOCH),
        ("last 3 months", ts(2024, 2, 15, 14, 30), NOW_EPOCH),
        ("last 1 year", ts(2023, 5, 15, 14, 30), NOW_EPOCH),
        ("past week", NOW_EPOCH - 7 * 86400, NOW_EPOCH),
        ("this week", ts(2024, 5, 13), END_TODAY),
        ("last week", ts(2024, 5, 6), ts(2024, 5, 12, 23, 59, 59)),
        ("previous week", ts(2024, 5, 6), ts(2024, 5, 12, 23, 59, 59)),
        ("this month", ts(2024, 5, 1), END_TODAY),
        ("month to date", ts(2024, 5, 1), END_TODAY),
        ("MTD", ts(2024, 5, 1), END_TODAY),
        ("last month", ts(2024, 4, 1), ts(2024, 4, 30, 23, 59, 59)),
        ("this quarter", ts(2024, 4, 1), END_TODAY),
        ("last quarter", ts(2024, 1, 1), ts(2024, 3, 31, 23, 59, 59)),
        ("this year", ts(2024, 1, 1), END_TODAY),
        ("year to date", ts(2024, 1, 1), END_TODAY),
        ("last year", ts(2023, 1, 1), ts(2023, 12, 31, 23, 59, 59)),
        ("Q1 2024", ts(2024, 1, 1), ts(2024, 3, 31, 23, 59, 59)),
        ("q2 2024", ts(2024, 4, 1), ts(2024, 6, 30, 23, 59, 59)),
        ("Q3-2024", ts(2024, 7, 1), ts(2024, 9, 30, 23, 59, 59)),
        ("2024 Q4", ts(2024, 10, 1), ts(2024, 12, 31, 23, 59, 59)),
        ("2024-05", ts(2024, 5, 1), ts(2024, 5, 31, 23, 59, 59)),
        ("2024-02", ts(2024, 2, 1), ts(2024, 2, 29, 23, 59, 59)),
        ("2024-12", ts(2024, 12, 1), ts(2024, 12, 31, 23, 59, 59)),
        ("2024", ts(2024, 1, 1), ts(2024, 12, 31, 23, 59, 59)),
        ("2024-05-01", ts(2024, 5, 1), ts(2024, 5, 1, 23, 59, 59)),
        ("2024-05-01..2024-05-31", ts(2024, 5, 1), ts(2024, 5, 31, 23, 59, 59)),
        ("2024-05-01 .. 2024-05-31", ts(2024, 5, 1), ts(2024, 5, 31, 23, 59, 59)),
        ("2024-05-01 to 2024-05-31", ts(2024, 5, 1), ts(2024, 5, 31, 23, 59, 59)),
        ("from 2024-05-01 to 2024-05-31", ts(2024, 5, 1), ts(2024, 5, 31, 23, 59, 59)),
        ("between 2024-01 and 2024-03", ts(2024, 1, 1), ts(2024, 3, 31, 23, 59, 59)),
        ("2024-05-01T12:00:00Z to 2024-05-02 06:00", ts(2024, 5, 1, 12), ts(2024, 5, 2, 6)),
        ("2024-01-01 to today", ts(2024, 1, 1), END_TODAY),
        ("since 2024-05-01", ts(2024, 5, 1), NOW_EPOCH),
    ],
)
def test_resolve_range(phrase: str, gte: int, lte: int) -> None:
    assert resolve_range(phrase, NOW) == (gte, lte)


@pytest.mark.parametrize(
    ("now", "phrase", "gte", "lte"),
    [
        (datetime(2024, 1, 10, 9, tzinfo=UTC), "last month", ts(2023, 12, 1), ts(2023, 12, 31, 23, 59, 59)),
        (datetime(2024, 1, 10, 9, tzinfo=UTC), "last quarter", ts(2023, 10, 1), ts(2023, 12, 31, 23, 59, 59)),
        (datetime(2024, 3, 31, 9, tzinfo=UTC), "last 1 month", ts(2024, 2, 29, 9), ts(2024, 3, 31, 9)),
        (datetime(2024, 3, 4, 9, tzinfo=UTC), "last month", ts(2024, 2, 1), ts(2024, 2, 29, 23, 59, 59)),
        # Monday: this week starts today; last week is the previous Monday..Sunday.
        (datetime(2024, 5, 13, 9, tzinfo=UTC), "this week", ts(2024, 5, 13), ts(2024, 5, 13, 23, 59, 59)),
        (datetime(2024, 5, 19, 9, tzinfo=UTC), "last week", ts(2024, 5, 6), ts(2024, 5, 12, 23, 59, 59)),
        # Naive now is UTC; other zones are converted.
        (datetime(2024, 5, 15, 14, 30), "today", ts(2024, 5, 15), END_TODAY),
        (
            datetime(2024, 5, 16, 1, 0, tzinfo=timezone(timedelta(hours=5))),
            "today",
            ts(2024, 5, 15),
            END_TODAY,
        ),
    ],
)
def test_resolve_range_other_nows(now: datetime, phrase: str, gte: int, lte: int) -> None:
    assert resolve_range(phrase, now) == (gte, lte)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "whenever",
        "last 0 days",
        "next week",
        "2024-13",
        "Q5 2024",
        "2024-05-31..2024-05-01",
        "last fortnight",
    ],
)
def test_resolve_range_errors(bad: str) -> None:
    with pytest.raises(TimestampError) as info:
        resolve_range(bad, NOW)
    assert repr(bad) in str(info.value)


def test_resolve_range_error_lists_examples() -> None:
    with pytest.raises(TimestampError, match=r"last 7 days.*Q1 2024"):
        resolve_range("whenever", NOW)


# ---------------------------------------------------------------- convert_time_filters

TIME_PARAMS = {"created", "due_date", "arrival_date"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"created": "2024-05-01"}, {"created": ts(2024, 5, 1)}),
        ({"created": "2024-05-01T12:00:00+02:00"}, {"created": ts(2024, 5, 1, 10)}),
        ({"created": 1700000000}, {"created": 1700000000}),
        ({"created": "1700000000"}, {"created": 1700000000}),
        ({"created": None}, {"created": None}),
        (
            {"created": {"gte": "2024-05-01", "lte": "2024-05-31"}},
            {"created": {"gte": ts(2024, 5, 1), "lte": ts(2024, 5, 31, 23, 59, 59)}},
        ),
        (
            {"created": {"gt": "2024-05-01", "lt": "2024-05-31"}},
            {"created": {"gt": ts(2024, 5, 1), "lt": ts(2024, 5, 31)}},
        ),
        (
            {"created": {"lt": 1700000000, "gte": "1600000000"}},
            {"created": {"lt": 1700000000, "gte": 1600000000}},
        ),
        (
            {"created[gte]": "2024-05-01", "created[lte]": "2024-05-31", "limit": 10},
            {"created[gte]": ts(2024, 5, 1), "created[lte]": ts(2024, 5, 31, 23, 59, 59), "limit": 10},
        ),
        ({"due_date[lt]": "2024-06-01"}, {"due_date[lt]": ts(2024, 6, 1)}),
        (
            {"email": "2024-05-01", "amount[gte]": "2024", "expand[]": "customer"},
            {"email": "2024-05-01", "amount[gte]": "2024", "expand[]": "customer"},
        ),
    ],
)
def test_convert_time_filters(query: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(query)
    assert convert_time_filters(query, TIME_PARAMS) == expected
    assert query == before


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"created": "last 7 days"}, {"created": {"gte": NOW_EPOCH - 7 * 86400, "lte": NOW_EPOCH}}),
        ({"created": "Q1 2024"}, {"created": {"gte": ts(2024, 1, 1), "lte": ts(2024, 3, 31, 23, 59, 59)}}),
        (
            {"created": {"gte": "last month", "lte": "last month"}},
            {"created": {"gte": ts(2024, 4, 1), "lte": ts(2024, 4, 30, 23, 59, 59)}},
        ),
        ({"created[lt]": "this month"}, {"created[lt]": ts(2024, 5, 1)}),
        ({"created": "2024-05-01"}, {"created": ts(2024, 5, 1)}),
    ],
)
def test_convert_time_filters_with_phrases(query: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert_time_filters(query, TIME_PARAMS, now=NOW) == expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"created": "soon"}, "'created'"),
        ({"created": {"gte": "soon"}}, "'created[gte]'"),
        ({"created[lte]": "not a date"}, "'created[lte]'"),
        ({"created": {"after": "2024-05-01"}}, "'after'"),
        ({"created[since]": "2024-05-01"}, "'since'"),
        ({"created": True}, "'created'"),
        ({"created": "last 7 days"}, "'created'"),  # phrases need `now`
    ],
)
def test_convert_time_filters_errors(query: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TimestampError) as info:
        convert_time_filters(query, TIME_PARAMS)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- convert_values


def test_convert_values_mixed() -> None:
    results = convert_values(["2024-05-01", 1672531199, "1672531199", "garbage", 1672531199000, 5])
    assert results[0] == {"input": "2024-05-01", "epoch": ts(2024, 5, 1), "iso": "2024-05-01T00:00:00Z"}
    assert results[1] == {"input": 1672531199, "epoch": 1672531199, "iso": "2022-12-31T23:59:59Z"}
    assert results[2] == {"input": "1672531199", "epoch": 1672531199, "iso": "2022-12-31T23:59:59Z"}
    assert set(results[3]) == {"input", "error"}
    assert "garbage" in results[3]["error"]
    assert set(results[4]) == {"input", "error"}
    assert "milliseconds" in results[4]["error"]
    assert "2022-12-31T23:59:59Z" in results[4]["error"]
    assert results[5]["iso"] == "1970-01-01T00:00:05Z"
    assert "warning" in results[5]
    assert convert_values([]) == []

"""Time arguments read from Stripe's schemas: range filters, instants, and verbatim strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from truto_stripe_mcp.time_arguments import TimeParameter, convert_time_arguments, time_parameters
from truto_stripe_mcp.timestamps import TimestampError

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
RANGE = {
    "anyOf": [
        {
            "type": "object",
            "properties": {"gt": {"type": "integer"}, "gte": {"type": "integer"}, "lt": {}, "lte": {}},
        },
        {"type": "integer"},
    ]
}
UNSET_INSTANT = {"anyOf": [{"type": "integer", "format": "unix-time"}, {"type": "string", "enum": [""]}]}
NOW_OR_INSTANT = {"anyOf": [{"type": "string", "enum": ["now"]}, {"type": "integer", "format": "unix-time"}]}


def test_shapes_are_read_from_the_schema() -> None:
    query = {
        "properties": {
            "created": RANGE,
            "effective_at": {"type": "integer", "format": "unix-time"},
            "due_date": {"type": "integer"},  # a plain integer counts by its Stripe name
            "amount": {"type": "integer"},  # ... and only then
            "ended_at": {"type": "string", "format": "unix-time"},
            "email": {"type": "string"},
        }
    }
    body = {
        "properties": {"cancel_at": UNSET_INSTANT, "trial_end": NOW_OR_INSTANT, "created": {"type": "string"}}
    }
    found = time_parameters(query, body)
    assert {name: param.kind for name, param in found.items()} == {
        "created": "range",  # the query's definition comes first
        "effective_at": "instant",
        "due_date": "instant",
        "ended_at": "instant",
        "cancel_at": "instant",
        "trial_end": "instant",
    }
    assert found["cancel_at"].verbatim == {""} and found["trial_end"].verbatim == {"now"}


@pytest.mark.parametrize("schema", [None, {}, {"properties": None}, {"properties": []}, {"type": "object"}])
def test_no_properties_no_time_parameters(schema: Any) -> None:
    assert time_parameters(schema) == {}


PARAMS = {
    "created": TimeParameter("created", "range"),
    "effective_at": TimeParameter("effective_at", "instant"),
    "cancel_at": TimeParameter("cancel_at", "instant", frozenset({""})),
    "trial_end": TimeParameter("trial_end", "instant", frozenset({"now"})),
}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"created": "2024-05-01"}, {"created": {"gte": 1714521600, "lte": 1714607999}}),  # the whole day
        ({"created": "last 7 days"}, {"created": {"gte": 1715169600, "lte": 1715774400}}),
        ({"created": 1714521600}, {"created": 1714521600}),
        ({"created": {"gte": "2024-05-01"}}, {"created": {"gte": 1714521600}}),
        ({"effective_at": "2024-05-01"}, {"effective_at": 1714521600}),  # one epoch, never a range
        ({"effective_at": "2024-05-01T12:00:00+02:00"}, {"effective_at": 1714557600}),
        ({"effective_at": "1714521600"}, {"effective_at": 1714521600}),
        ({"cancel_at": ""}, {"cancel_at": ""}),  # Stripe's unset, untouched
        ({"trial_end": "now"}, {"trial_end": "now"}),
        ({"trial_end": "2024-06-01"}, {"trial_end": 1717200000}),
        ({"email": "2024-05-01"}, {"email": "2024-05-01"}),  # not a time argument
        ({"effective_at": None}, {"effective_at": None}),
    ],
)
def test_conversion_follows_each_shape(arguments: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert_time_arguments(arguments, PARAMS, now=NOW) == expected


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"effective_at": "last 7 days"}, "`effective_at` takes one point in time"),
        ({"cancel_at": "soon"}, "or one of ''"),
        ({"trial_end": "tomorrow-ish"}, "or one of 'now'"),
        ({"created": "the other day"}, "'created'"),
    ],
)
def test_what_is_not_a_time_is_named(arguments: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TimestampError) as info:
        convert_time_arguments(arguments, PARAMS, now=NOW)
    assert fragment in str(info.value)

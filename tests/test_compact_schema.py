"""The listed form of a schema: valid, looser or equal, never cut mid-sentence."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from truto_stripe_mcp.catalog.compact_schema import (
    compact_property,
    compact_schema,
    has_nested_fields,
    plain_sentence,
    short_description,
)

METADATA = {
    "anyOf": [
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "string", "enum": [""]},
    ],
    "description": "Set of [key-value pairs](https://stripe.com/docs/api/metadata) that you can attach to an "
    "object. This can be useful for storing additional information.",
}
ITEMS = {
    "type": "array",
    "description": "A list of up to 20 subscription items, each with an attached price.",
    "items": {
        "type": "object",
        "properties": {"price": {"type": "string", "maxLength": 5000}, "quantity": {"type": "integer"}},
        "required": ["price"],
        "title": "item",
    },
}


def test_sentences_are_whole_or_absent() -> None:
    assert (
        plain_sentence(METADATA["description"]) == "Set of key-value pairs that you can attach to an object."
    )
    assert (
        plain_sentence("Value of the tax ID, e.g. DE123456789. More.")
        == "Value of the tax ID, e.g. DE123456789."
    )
    long = (
        "A positive integer in the smallest currency unit (e.g., 100 cents to charge $1.00) representing it."
    )
    assert short_description(long) is None, "too long for the listing: left out whole, never cut"
    assert short_description("Customer's email address. Up to 512 characters.") == "Customer's email address."


@pytest.mark.parametrize(
    ("schema", "listed"),
    [
        (
            METADATA,
            {
                "type": ["string", "object"],
                "description": "Set of key-value pairs that you can attach to an object.",
            },
        ),
        (ITEMS, {"type": "array", "items": {"type": "object"}}),  # its sentence is over 60 characters
        ({"type": "string", "maxLength": 5000, "enum": ["a", "b"]}, {"type": "string", "enum": ["a", "b"]}),
        ({"type": "string", "enum": [str(n) for n in range(30)]}, {"type": "string"}),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object"}),
        (
            {"anyOf": [{"type": "object", "properties": {"gt": {}}}, {"type": ["integer", "string"]}]},
            {"type": ["string", "integer", "object"]},
        ),
        ({"enum": [True]}, {"type": "boolean", "enum": [True]}),
        ({}, {}),
    ],
)
def test_properties_are_loosened_and_valid(schema: dict[str, Any], listed: dict[str, Any]) -> None:
    got = compact_property(schema)
    assert got == listed
    Draft202012Validator.check_schema(got)


def test_a_compact_schema_accepts_what_the_full_one_accepts() -> None:
    full = {
        "type": "object",
        "properties": {
            "metadata": METADATA,
            "items": ITEMS,
            "reason": {"type": "string", "enum": ["x", "y"]},
        },
        "required": ["items"],
        "additionalProperties": False,
    }
    listed = compact_schema(full)
    assert listed["required"] == ["items"] and listed["additionalProperties"] is False
    good = [
        {"items": [{"price": "p"}]},
        {"items": [], "metadata": ""},
        {"items": [], "metadata": {"a": "b"}, "reason": "x"},
    ]
    full_validator, listed_validator = Draft202012Validator(full), Draft202012Validator(listed)
    for arguments in good:
        assert full_validator.is_valid(arguments) and listed_validator.is_valid(arguments)
    assert not listed_validator.is_valid({"items": [], "unknown": 1}), "unknown arguments stay refused"


def test_nested_fields_are_noticed() -> None:
    assert has_nested_fields(ITEMS) and has_nested_fields({"anyOf": [{"properties": {"a": {}}}]})
    assert not has_nested_fields(METADATA) and not has_nested_fields({"type": "string"})

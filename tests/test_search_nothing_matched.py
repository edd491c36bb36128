"""search_tools through the real server (stdio, SDK client, discovery mode over the sandbox's
whole Stripe catalog): a request no Stripe tool serves is answered "nothing matched", with a
hint an agent can act on, never with a handful of tools that merely share a word with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import server_env, spawn_server
from truto_stripe_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio

UNRELATED = (
    "weather forecast",
    "send an email to bob",
    "kubernetes pods",
    "what is the capital of France",
    "delete my github repo",
    # Each of these shares an everyday word with a Stripe resource (subscription schedules,
    # apps secrets, files, events, terminal locations, report runs, tax codes, tax rates):
    # each used to answer with those tools.
    "schedule a meeting with alice",
    "deploy my app to production",
    "upload a file to google drive",
    "add a calendar event",
    "get my location",
    "run the tests",
    "write unit tests for my code",
    "rate this movie",
)
STRIPE_SENSE = {
    # The same everyday words, meant as Stripe's: still found.
    "list events": "list_all_stripe_events",
    "upload a file": "create_a_stripe_file",
    "list terminal locations": "list_all_stripe_terminal_locations",
    "create a report run": "create_a_stripe_reporting_report_run",
    "release a schedule": "release_a_stripe_subscription_schedule",
}


async def search(client: Any, query: str) -> dict[str, Any]:
    result = await client.call_tool("search_tools", {"query": query})
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def test_unrelated_requests_are_answered_nothing_matched_with_a_hint(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox), ["--discovery"]) as spawned:
        answers = {query: await search(spawned.client, query) for query in UNRELATED}
        found = {query: (await search(spawned.client, query))["results"] for query in STRIPE_SENSE}

    answered = {query: [hit["name"] for hit in answer["results"]] for query, answer in answers.items()}
    assert answered == {query: [] for query in UNRELATED}, "no unrelated tool for an unrelated request"
    for query, answer in answers.items():
        assert answer["note"].startswith(f"No tool matched {query!r}: no available Stripe tool is about it. ")
        assert answer["note"].endswith("an action such as 'refund').")
    # The hint names the words no Stripe tool uses, and Stripe's own names for an everyday word.
    assert "No Stripe tool mentions 'meeting' or 'alice'." in answers["schedule a meeting with alice"]["note"]
    assert "No Stripe tool mentions 'calendar'." in answers["add a calendar event"]["note"]
    location = answers["get my location"]["note"]
    assert "Stripe's own names with 'location': 'terminal locations'. Search by one of them" in location

    assert {query: hits[0]["name"] for query, hits in found.items()} == STRIPE_SENSE

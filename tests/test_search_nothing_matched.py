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
        assert answer["note"].startswith(
            f"No tool matched {query!r}: none of the 463 tools this server offers is about it. "
        )
        assert answer["note"].endswith("(a resource such as 'invoice' or an action such as 'refund').")
    # The hint names the words no tool uses, and the tools' own names holding an everyday word.
    assert "None of them mentions 'meeting' or 'alice'." in answers["schedule a meeting with alice"]["note"]
    assert "None of them mentions 'calendar'." in answers["add a calendar event"]["note"]
    location = answers["get my location"]["note"]
    assert "Their names use 'location' only in 'terminal locations': search by one of those" in location

    assert {query: hits[0]["name"] for query, hits in found.items()} == STRIPE_SENSE


async def test_a_narrow_selection_says_more_toolsets_may_hold_the_tool(sandbox: SandboxServer) -> None:
    """Search sees only the selected tools: with core, "void an invoice" is not about any of them."""
    env = server_env(sandbox, TRUTO_MCP_TOOLSETS="core")
    async with spawn_server(env, ["--discovery"]) as spawned:
        answer = await search(spawned.client, "void an invoice")
    assert answer["results"] == []
    assert answer["note"].startswith("No tool matched 'void an invoice': none of the 15 tools this server")
    assert answer["note"].endswith(", or start the server with more toolsets (--toolsets).")

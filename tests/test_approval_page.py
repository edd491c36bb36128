"""Only the person asked can approve: the approval page, URL-mode elicitation, the session a
request_state belongs to, and the token path only where a person chose it.

Every test runs the real server process (stdio through the SDK's client, or HTTP with two
SDK sessions), the loopback sandbox, and a real HTTP client playing the person on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp.client.session import ClientSession

from tests.conftest import server_env, spawn_server
from tests.test_http import client_for, http_server
from truto_stripe_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio

CHARGE = "ch_sandbox_jane_1"
REFUND = "create_a_stripe_refund"
ARGUMENTS = {"charge": CHARGE, "amount": 2500}
QUESTION = "Refund $25.00 USD of charge ch_sandbox_jane_1 to jane@example.com?"


def refunds(sandbox: SandboxServer) -> int:
    return len(sandbox.sandbox.store.list("refunds", charge=CHARGE))


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def approval_env(sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    """The defaults a new user gets: money-moving calls need approval, by a person on the page."""
    extra.setdefault("TRUTO_MCP_APPROVAL_WAIT", "0")  # answer at once; the waiting test sets its own
    return server_env(sandbox, TRUTO_MCP_CONFIRM="destructive", **extra)


def link_of(result: types.CallToolResult) -> str:
    assert result.is_error, text_of(result)
    error = result.structured_content["error"]
    assert error["approval_required"] is True and error["approval_url"] in text_of(result)
    return str(error["approval_url"])


# -- the person, at a browser ----------------------------------------------------------------


@dataclass
class Page:
    url: str
    html: str
    nonce: str
    action: str
    origin: str


class Person:
    """Opens the link, reads the page and presses a button, as a browser does (a real HTTP client)."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=10)

    async def open(self, url: str) -> Page:
        response = await self.http.get(url)
        assert response.status_code == 200, response.text
        html = response.text
        nonce = re.search(r'name="nonce" value="([^"]+)"', html)
        action = re.search(r'<form method="post" action="([^"]+)"', html)
        assert nonce and action, html
        origin = re.match(r"http://127\.0\.0\.1:\d+", url)
        assert origin, url
        return Page(url, html, nonce.group(1), origin.group(0) + action.group(1), origin.group(0))

    async def press(self, page: Page, button: str) -> httpx.Response:
        return await self.http.post(
            page.action,
            data={"nonce": page.nonce, "answer": button},
            headers={"Origin": page.origin, "Sec-Fetch-Site": "same-origin"},
        )

    async def answer(self, url: str, button: str) -> None:
        page = await self.open(url)
        assert QUESTION in page.html and REFUND in page.html
        pressed = await self.press(page, button)
        assert pressed.status_code == 200, pressed.text
        assert ("Approved" if button == "approve" else "Declined") in pressed.text


@pytest.fixture
async def person() -> Any:
    someone = Person()
    try:
        yield someone
    finally:
        await someone.http.aclose()


@pytest.fixture
def links_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK client advertises both elicitation modes; this one opens links but shows no forms."""
    original = ClientSession._build_capabilities

    def build(self: ClientSession, version: str) -> types.ClientCapabilities:
        capabilities = original(self, version)
        if capabilities.elicitation is None:
            return capabilities
        links = types.ElicitationCapability(url=types.UrlElicitationCapability())
        return capabilities.model_copy(update={"elicitation": links})

    monkeypatch.setattr(ClientSession, "_build_capabilities", build)
    yield


# -- the agent cannot approve -----------------------------------------------------------------


async def test_by_default_the_agent_gets_no_token_and_a_token_from_elsewhere_is_refused(
    sandbox: SandboxServer,
) -> None:
    env = approval_env(sandbox)
    async with AsyncExitStack() as stack:
        default = (await stack.enter_async_context(spawn_server(env, mode="legacy"))).client
        with_tokens = (
            await stack.enter_async_context(
                spawn_server({**env, "TRUTO_MCP_APPROVAL": "token"}, mode="legacy")
            )
        ).client
        asked = await default.call_tool(REFUND, ARGUMENTS)
        link_of(asked)
        assert "confirmation_token" not in str(asked.structured_content) + text_of(asked)
        assert "Nothing you send can approve it" in text_of(asked)
        # A token the agent got from a server a person started with --approval token (same state):
        minted = await with_tokens.call_tool(REFUND, ARGUMENTS)
        token = minted.structured_content["error"]["confirmation_token"]
        forged = await default.call_tool(REFUND, {**ARGUMENTS, "confirmation_token": token})
    assert forged.is_error and "does not take confirmation tokens" in text_of(forged)
    assert refunds(sandbox) == 0


async def test_the_person_approves_on_the_page_and_the_repeat_runs_once(
    sandbox: SandboxServer, person: Person
) -> None:
    async with spawn_server(approval_env(sandbox), mode="legacy") as spawned:
        client = spawned.client
        url = link_of(await client.call_tool(REFUND, ARGUMENTS))
        assert url.startswith("http://127.0.0.1:")
        assert link_of(await client.call_tool(REFUND, ARGUMENTS)) == url, "the same page while unanswered"
        assert refunds(sandbox) == 0
        await person.answer(url, "approve")
        done = await client.call_tool(REFUND, ARGUMENTS)
        assert not done.is_error and done.structured_content["amount"] == 2500, text_of(done)
        again = await client.call_tool(REFUND, ARGUMENTS)
        assert link_of(again) != url, "an approval works once: the next identical call asks anew"
    assert refunds(sandbox) == 1


async def test_a_declined_page_is_told_and_nothing_is_sent(sandbox: SandboxServer, person: Person) -> None:
    async with spawn_server(approval_env(sandbox), mode="legacy") as spawned:
        url = link_of(await spawned.client.call_tool(REFUND, ARGUMENTS))
        await person.answer(url, "decline")
        told = await spawned.client.call_tool(REFUND, ARGUMENTS)
    assert (
        told.is_error and text_of(told).startswith("The user declined") and "not performed" in text_of(told)
    )
    assert refunds(sandbox) == 0
    assert [r for r in sandbox.sandbox.requests if r.method != "GET"] == []


async def test_a_forged_answer_is_refused(sandbox: SandboxServer, person: Person) -> None:
    """What an agent that knows the link could send, short of loading the page like a browser."""
    async with spawn_server(approval_env(sandbox), mode="legacy") as spawned:
        url = link_of(await spawned.client.call_tool(REFUND, ARGUMENTS))
        page = await person.open(url)
        action, origin = page.action, page.origin
        forgeries = {
            "no nonce": ({"answer": "approve"}, {"Origin": origin}),
            "a wrong nonce": ({"nonce": "x" * len(page.nonce), "answer": "approve"}, {"Origin": origin}),
            "no Origin": ({"nonce": page.nonce, "answer": "approve"}, {}),
            "another site's Origin": (
                {"nonce": page.nonce, "answer": "approve"},
                {"Origin": "http://evil.example"},
            ),
            "a cross-site fetch": (
                {"nonce": page.nonce, "answer": "approve"},
                {"Origin": origin, "Sec-Fetch-Site": "cross-site"},
            ),
        }
        for name, (form, headers) in forgeries.items():
            refused = await person.http.post(action, data=form, headers=headers)
            assert refused.status_code == 403, f"{name}: {refused.status_code} {refused.text}"
        as_json = await person.http.post(
            action, json={"nonce": page.nonce, "answer": "approve"}, headers={"Origin": origin}
        )
        assert as_json.status_code == 415
        rebound = await person.http.get(url, headers={"Host": "attacker.example"})
        assert rebound.status_code == 421 and page.nonce not in rebound.text, "DNS rebinding reads nothing"
        framed = await person.http.get(url)
        assert "frame-ancestors 'none'" in framed.headers["content-security-policy"]
        assert framed.headers["x-frame-options"] == "DENY"
        # not no-referrer: under it a browser posts the page's own form with ``Origin: null``
        assert framed.headers["referrer-policy"] == "same-origin"
        still = await spawned.client.call_tool(REFUND, ARGUMENTS)
        assert link_of(still) == url, "no forgery answered the page"
    assert refunds(sandbox) == 0


# -- the call waits for the person ------------------------------------------------------------


async def test_a_repeated_call_waits_for_the_answer_and_reports_progress(
    sandbox: SandboxServer, person: Person
) -> None:
    env = approval_env(sandbox, TRUTO_MCP_APPROVAL_WAIT="60")
    progress: list[str] = []
    async with spawn_server(env, mode="legacy") as spawned:
        url = link_of(await spawned.client.call_tool(REFUND, ARGUMENTS))

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")
            if len(progress) == 1:  # the call is waiting now: the person answers
                await person.answer(url, "approve")

        done = await spawned.client.call_tool(REFUND, ARGUMENTS, progress_callback=on_progress)
    assert not done.is_error, text_of(done)
    assert progress and url in progress[0] and progress[0].startswith("Waiting for the user")
    assert refunds(sandbox) == 1


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("button", ["approve", "decline"])
async def test_url_mode_elicitation_sends_the_person_to_the_page(
    sandbox: SandboxServer, person: Person, links_only: None, era: str, button: str
) -> None:
    asked: list[Any] = []

    async def open_the_link(ctx: Any, params: Any) -> types.ElicitResult:
        asked.append(params)
        await person.answer(params.url, button)
        return types.ElicitResult(action="accept")

    env = approval_env(sandbox, TRUTO_MCP_APPROVAL_WAIT="60")
    async with spawn_server(env, mode=era, elicitation_callback=open_the_link) as spawned:
        result = await spawned.client.call_tool(REFUND, ARGUMENTS)
    assert len(asked) == 1 and asked[0].mode == "url" and QUESTION in asked[0].message
    if button == "approve":
        assert not result.is_error and refunds(sandbox) == 1, text_of(result)
    else:
        assert result.is_error and text_of(result).startswith("The user declined")
        assert refunds(sandbox) == 0


# -- only the session asked ------------------------------------------------------------------


async def test_a_request_state_replayed_from_another_session_is_refused(sandbox: SandboxServer) -> None:
    async def never(ctx: Any, params: Any) -> types.ElicitResult:
        raise AssertionError("this test answers by hand")

    accept = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    env = approval_env(sandbox)  # both processes share this test's state file, and so its secret
    async with AsyncExitStack() as stack:
        asked = (
            await stack.enter_async_context(spawn_server(env, mode="2026-07-28", elicitation_callback=never))
        ).client
        other = (await stack.enter_async_context(spawn_server(env, mode="2026-07-28"))).client
        question = await asked.session.call_tool(REFUND, ARGUMENTS, allow_input_required=True)
        assert isinstance(question, types.InputRequiredResult) and question.request_state
        replayed = await other.call_tool(
            REFUND, ARGUMENTS, request_state=question.request_state, input_responses=accept
        )
        assert replayed.is_error and "asked in another session" in text_of(replayed)
        assert refunds(sandbox) == 0
        answered = await asked.call_tool(
            REFUND, ARGUMENTS, request_state=question.request_state, input_responses=accept
        )
    assert not answered.is_error, text_of(answered)
    assert refunds(sandbox) == 1


async def test_over_http_an_approval_belongs_to_the_session_that_was_asked(
    sandbox: SandboxServer, person: Person
) -> None:
    extra = {"TRUTO_MCP_CONFIRM": "destructive", "TRUTO_MCP_APPROVAL_WAIT": "0"}
    with http_server(sandbox, **extra) as (url, _):
        async with client_for(url, mode="legacy") as first, client_for(url, mode="legacy") as second:
            first_link = link_of(await first.call_tool(REFUND, ARGUMENTS))
            second_link = link_of(await second.call_tool(REFUND, ARGUMENTS))
            assert first_link != second_link, "each session is asked on a page of its own"
            await person.answer(first_link, "approve")
            other = await second.call_tool(REFUND, ARGUMENTS)
            assert link_of(other) == second_link, "the first session's approval is not the second's"
            assert refunds(sandbox) == 0
            done = await first.call_tool(REFUND, ARGUMENTS)
            assert not done.is_error, text_of(done)
    assert refunds(sandbox) == 1


async def test_over_sessionless_http_an_approval_is_for_the_call_and_works_once(
    sandbox: SandboxServer, person: Person
) -> None:
    """2026-07-28 over HTTP has no session (docs/safety.md): the page is the call's, used once."""
    extra = {"TRUTO_MCP_CONFIRM": "destructive", "TRUTO_MCP_APPROVAL_WAIT": "0"}
    with http_server(sandbox, **extra) as (url, _):
        async with client_for(url, mode="2026-07-28") as first, client_for(url, mode="2026-07-28") as second:
            link = link_of(await first.call_tool(REFUND, ARGUMENTS))
            assert link_of(await second.call_tool(REFUND, ARGUMENTS)) == link
            await person.answer(link, "approve")
            done = await second.call_tool(REFUND, ARGUMENTS)
            assert not done.is_error, text_of(done)
            assert link_of(await first.call_tool(REFUND, ARGUMENTS)) != link, "used once: asked anew"
    assert refunds(sandbox) == 1


async def test_a_sessionless_repeat_on_another_replica_finds_the_answer(
    sandbox: SandboxServer, person: Person
) -> None:
    """Two --stateless replicas sharing this test's state file: the page is on the first, the
    repeat reaches the second, which finds the person's answer in the shared state."""
    extra = {"TRUTO_MCP_CONFIRM": "destructive", "TRUTO_MCP_APPROVAL_WAIT": "0"}
    with (
        http_server(sandbox, "--stateless", **extra) as (one, _),
        http_server(sandbox, "--stateless", **extra) as (other, _),
    ):
        async with (
            client_for(one, mode="2026-07-28") as first,
            client_for(other, mode="2026-07-28") as second,
        ):
            link = link_of(await first.call_tool(REFUND, ARGUMENTS))
            await person.answer(link, "approve")
            done = await second.call_tool(REFUND, ARGUMENTS)
            assert not done.is_error, text_of(done)
            again = await first.call_tool(REFUND, ARGUMENTS)
            assert link_of(again) != link, "used once, on any replica"
    assert refunds(sandbox) == 1

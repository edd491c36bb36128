"""The money guards inside code mode: a program's writes are filtered, approved and keyed exactly
as the same tool calls would be. Real server processes, the SDK client, the loopback sandbox;
what Stripe saw is read from the sandbox's store and request log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import server_env, spawn_server
from tests.test_approval_page import Person
from tests.test_code_mode import answer, proxy_requests, run, text_of
from tests.test_confirmation import elicitation_answer
from truto_stripe_mcp.sandbox import SandboxServer
from truto_stripe_mcp.sandbox.faults import Fault

pytestmark = pytest.mark.anyio
JANE_CHARGE = "ch_sandbox_jane_1"
PREVIEW = "Refund $7.00 USD of charge ch_sandbox_jane_1 to jane@example.com?"

REFUND_PROGRAM = f"""
import tools
before = await tools.list_all_stripe_refunds(charge='{JANE_CHARGE}')
print('refunds before:', before['result_count'])
refund = await tools.create_a_stripe_refund(charge='{JANE_CHARGE}', amount=700)
after = await tools.list_all_stripe_refunds(charge='{JANE_CHARGE}')
[refund['amount'], after['result_count'] - before['result_count']]
"""

DECLINABLE_PROGRAM = f"""
import tools
try:
    refund = await tools.create_a_stripe_refund(charge='{JANE_CHARGE}', amount=700)
    outcome = 'refunded ' + refund['id']
except RuntimeError as error:
    outcome = 'not refunded: ' + str(error)
outcome
"""


def refunds_of(sandbox: SandboxServer) -> int:
    return len(sandbox.sandbox.store.list("refunds", charge=JANE_CHARGE))


def mutations(sandbox: SandboxServer) -> list[Any]:
    return [r for r in proxy_requests(sandbox) if r.method != "GET"]


def program_reads(sandbox: SandboxServer) -> int:
    """The program's own reads (the approval's preview reads the charge, not its refunds)."""
    return sum(1 for r in proxy_requests(sandbox) if r.method == "GET" and r.path == "/proxy/refunds")


def approval_env(sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    return server_env(sandbox, TRUTO_MCP_CODE_MODE="true", TRUTO_MCP_CONFIRM="destructive", **extra)


async def test_read_only_programs_cannot_write(sandbox: SandboxServer) -> None:
    env = server_env(sandbox, TRUTO_MCP_CODE_MODE="true", TRUTO_MCP_READ_ONLY="true")
    async with spawn_server(env) as spawned:
        client = spawned.client
        typed = await run(client, f"import tools\nawait tools.create_a_stripe_refund(charge='{JANE_CHARGE}')")
        assert typed.is_error and "has no member `create_a_stripe_refund`" in text_of(typed)
        untyped = await run(
            client,
            f"from typing import Any\nimport tools\nmodule: Any = tools\n"
            f"await module.create_a_stripe_refund(charge='{JANE_CHARGE}', amount=100)",
        )
        assert untyped.is_error and "has no attribute 'create_a_stripe_refund'" in text_of(untyped)
        paged = await run(
            client,
            "from typing import Any\nimport tools\nname: Any = 'create_a_stripe_refund'\nawait tools.paginate(name)",
        )
        assert paged.is_error and "Refused" in text_of(paged)
        reads = answer(
            await run(client, "import tools\n(await tools.list_all_stripe_refunds(limit=1))['result_count']")
        )
        assert reads["result"] == 1
    assert mutations(sandbox) == [] and refunds_of(sandbox) == 0


async def test_by_default_the_person_approves_on_the_page_and_the_program_resumes_once(
    sandbox: SandboxServer,
) -> None:
    """The default path: the paused run carries the approval page's link and no token; only the
    person's answer on the page lets the resumed program make its refund, once."""
    person = Person()
    try:
        async with spawn_server(approval_env(sandbox), mode="legacy") as spawned:
            client = spawned.client
            paused = await run(client, REFUND_PROGRAM)
            error = paused.structured_content["error"]
            assert paused.is_error and error["preview"] == PREVIEW, text_of(paused)
            assert "confirmation_token" not in error and error["approval_url"].startswith("http://127.0.0.1:")
            assert refunds_of(sandbox) == 0 and mutations(sandbox) == [], "nothing written before approval"

            page = await person.open(error["approval_url"])
            assert PREVIEW in page.html
            assert (await person.press(page, "approve")).status_code == 200
            done = answer(await client.call_tool("run_code", {"resume": error["resume"]}))
            assert done["result"] == [700, 1] and done["calls"] == 3
    finally:
        await person.http.aclose()
    assert refunds_of(sandbox) == 1


async def test_token_path_pauses_before_the_refund_and_resumes_there_once(sandbox: SandboxServer) -> None:
    async with spawn_server(approval_env(sandbox, TRUTO_MCP_APPROVAL="token"), mode="legacy") as spawned:
        client = spawned.client
        paused = await run(client, REFUND_PROGRAM)
        error = paused.structured_content["error"]
        assert paused.is_error and error["confirmation_required"] is True and error["preview"] == PREVIEW
        assert "refunds before: 0" in error["output"] and error["calls"] == 1
        assert refunds_of(sandbox) == 0 and mutations(sandbox) == [], "nothing written before approval"
        assert program_reads(sandbox) == 1

        resume = {"resume": error["resume"], "confirmation_token": error["confirmation_token"]}
        done = answer(await client.call_tool("run_code", resume))
        assert done["result"] == [700, 1] and done["calls"] == 3
        assert "refunds before: 0" in done["output"]
        assert refunds_of(sandbox) == 1 and program_reads(sandbox) == 2, "nothing before the refund ran again"

        again = await client.call_tool("run_code", resume)
        assert again.is_error and "no paused program" in text_of(again) and refunds_of(sandbox) == 1

        # The same program run afresh asks again; approved, the identical refund is replayed.
        second = (await run(client, REFUND_PROGRAM)).structured_content["error"]
        replay = {"resume": second["resume"], "confirmation_token": second["confirmation_token"]}
        replayed = await client.call_tool("run_code", replay)
        assert not replayed.is_error and "replay" in text_of(replayed).lower()
    assert refunds_of(sandbox) == 1, "approved twice, done once"


async def test_a_token_approves_only_the_write_it_was_issued_for(sandbox: SandboxServer) -> None:
    async with spawn_server(approval_env(sandbox, TRUTO_MCP_APPROVAL="token"), mode="legacy") as spawned:
        first = (await run(spawned.client, REFUND_PROGRAM)).structured_content["error"]
        other = (await run(spawned.client, REFUND_PROGRAM.replace("700", "900"))).structured_content["error"]
        crossed = await spawned.client.call_tool(
            "run_code", {"resume": first["resume"], "confirmation_token": other["confirmation_token"]}
        )
        assert crossed.is_error and "different call" in text_of(crossed)
    assert refunds_of(sandbox) == 0 and mutations(sandbox) == []


async def test_two_writes_in_one_program_are_each_approved_once(sandbox: SandboxServer) -> None:
    subscription = sandbox.sandbox.store.list("subscriptions", status="active")[0]
    program = (
        "import tools\n"
        f"canceled = await tools.delete_a_stripe_subscription_by_id(id='{subscription['id']}')\n"
        f"refund = await tools.create_a_stripe_refund(charge='{JANE_CHARGE}', amount=700)\n"
        "[canceled['status'], refund['amount']]"
    )
    async with spawn_server(approval_env(sandbox, TRUTO_MCP_APPROVAL="token"), mode="legacy") as spawned:
        client = spawned.client
        first = (await run(client, program)).structured_content["error"]
        assert first["preview"].startswith(f"Cancel subscription {subscription['id']}")
        second = await client.call_tool(
            "run_code", {"resume": first["resume"], "confirmation_token": first["confirmation_token"]}
        )
        asked = second.structured_content["error"]
        assert asked["preview"] == PREVIEW and refunds_of(sandbox) == 0
        done = await client.call_tool(
            "run_code", {"resume": asked["resume"], "confirmation_token": asked["confirmation_token"]}
        )
        assert answer(done)["result"] == ["canceled", 700]
    assert refunds_of(sandbox) == 1 and len(mutations(sandbox)) == 2


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_elicitation_pauses_the_program_until_the_person_answers(
    sandbox: SandboxServer, mode: str, action: str
) -> None:
    seen: list[str] = []
    callback = elicitation_answer(action, seen)
    async with spawn_server(approval_env(sandbox), mode=mode, elicitation_callback=callback) as spawned:
        result = answer(
            await run(spawned.client, REFUND_PROGRAM if action == "accept" else DECLINABLE_PROGRAM)
        )
    assert seen == [PREVIEW], "asked once, in plain words"
    if action == "accept":
        assert result["result"] == [700, 1] and refunds_of(sandbox) == 1
        assert program_reads(sandbox) == 2, "the program went on from the refund: nothing ran twice"
    else:
        assert result["result"].startswith("not refunded: create_a_stripe_refund: The user declined")
        assert refunds_of(sandbox) == 0 and mutations(sandbox) == []


async def test_a_refund_whose_response_is_lost_mid_program_is_done_once(sandbox: SandboxServer) -> None:
    sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", drop_after_commit=True))
    env = server_env(sandbox, TRUTO_MCP_CODE_MODE="true")
    async with spawn_server(env) as spawned:
        result = answer(await run(spawned.client, REFUND_PROGRAM))
    assert result["result"] == [700, 1]
    posts = [r for r in mutations(sandbox) if r.path.startswith("/proxy/refunds")]
    assert len(posts) == 2, "the lost answer was asked for again"
    assert len({r.headers.get("idempotency-key") for r in posts}) == 1, "with the same key"
    assert refunds_of(sandbox) == 1
    assert json.dumps(result).count("re_") <= 1

"""A 2xx that is not what it seems (not JSON, empty, a bare value where Stripe returns an object,
a list page whose `result` is not a list) is an error result, never a success.

Every body comes from the real sandbox on loopback through its fault injection (``raw_body``
for bytes that are not JSON, ``body`` for JSON of the wrong shape, ``after_commit`` for a write
that happened although its answer was lost).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SECRET_KEY, runner_for, server_env, spawn_server
from truto_stripe_mcp.catalog.store import CatalogUnavailableError
from truto_stripe_mcp.errors import UnexpectedBodyError
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer

pytestmark = pytest.mark.anyio

GET_CUSTOMER = "get_single_stripe_customer_by_id"
LIST_CUSTOMERS = "list_all_stripe_customers"
CREATE_REFUND = "create_a_stripe_refund"
HTML = "<html>\n  <head><title>502 Bad Gateway</title></head>\n  <body><center>nginx</center></body>\n</html>"

# (fault fields, what the error must say it got, the content type it must name)
BODIES: dict[str, tuple[dict[str, Any], str, str]] = {
    "html-page": (
        {"raw_body": HTML, "headers": {"content-type": "text/html; charset=utf-8"}},
        "a body that is not JSON where a JSON object was expected (text/html; charset=utf-8, "
        f"{len(HTML)} bytes, "
        'beginning "<html> <head><title>502 Bad Gateway</title></head>',
        "text/html",
    ),
    "invalid-json": (
        {"raw_body": '{"id": "cus_sandbox_jane", "email": '},
        "a body that is not JSON",
        "application/json",
    ),
    "empty": ({"raw_body": ""}, "an empty body where a JSON object was expected", "application/json"),
    "bare-string": ({"body": "ok"}, "a JSON string where a JSON object was expected", "application/json"),
    "bare-number": ({"body": 42}, "a JSON number", "application/json"),
    "bare-array": ({"body": [{"id": "cus_1"}]}, "a JSON array", "application/json"),
    "null": ({"raw_body": "null"}, "a JSON null", "application/json"),
}


def proxy(sandbox: SandboxServer, method: str | None = None) -> list[RecordedRequest]:
    return [r for r in sandbox.sandbox.requests_to(method=method) if r.route == "proxy"]


@pytest.mark.parametrize("case", list(BODIES))
async def test_a_2xx_read_that_is_not_an_object_is_an_error(sandbox: SandboxServer, case: str) -> None:
    fields, said, content_type = BODIES[case]
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(method="GET", path="/proxy/customers", status=200, **fields))
        with pytest.raises(UnexpectedBodyError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = caught.value.agent_message()
    assert text.startswith("Truto answered HTTP 200 with ") and said in text, text
    assert content_type in text and "This was a read, so nothing changed." in text
    details = caught.value.details()
    assert details["status"] == 200 and details["may_have_been_carried_out"] is False
    assert len(proxy(sandbox)) == 1, "not retried"


async def test_a_long_body_is_shown_by_its_first_hundred_characters(sandbox: SandboxServer) -> None:
    page = "<p>" + "a" * 5_000 + "</p>"
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=200, raw_body=page, headers={"content-type": "text/html"})
        )
        with pytest.raises(UnexpectedBodyError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    preview = caught.value.details()["preview"]
    assert preview == page[:100] + "…"
    assert len(caught.value.agent_message()) < 700


async def test_a_write_whose_answer_is_a_proxy_page_can_be_repeated_safely(sandbox: SandboxServer) -> None:
    """The refund happened, but an HTML page came back: the error says so, and repeating the
    identical call returns the first refund instead of making a second."""
    args = {"charge": JANE_CHARGE_ID, "amount": 1_200}
    before = sandbox.sandbox.store.count("refunds", charge=JANE_CHARGE_ID)
    async with runner_for(sandbox, confirm="none") as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(
                method="POST",
                path="/proxy/refunds",
                status=200,
                raw_body=HTML,
                headers={"content-type": "text/html"},
                after_commit=True,
            )
        )
        with pytest.raises(UnexpectedBodyError) as caught:
            await runner.call(CREATE_REFUND, args)
        assert sandbox.sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == before + 1
        again = await runner.call(CREATE_REFUND, args)
    text = caught.value.agent_message()
    assert "The create_a_stripe_refund request may have been carried out." in text
    assert "Repeating the identical call within 59" in text and "is safe" in text
    assert "nothing changed" not in text
    assert caught.value.details()["may_have_been_carried_out"] is True
    assert sandbox.sandbox.store.count("refunds", charge=JANE_CHARGE_ID) == before + 1, "no second refund"
    assert again.data["amount"] == 1_200 and again.notes and again.notes[0].startswith("Replay:")
    posts = proxy(sandbox, "POST")
    assert len(posts) == 2 and len({p.headers["idempotency-key"] for p in posts}) == 1


async def test_without_the_dedupe_window_the_error_gives_the_key_to_repeat_with(
    sandbox: SandboxServer,
) -> None:
    async with runner_for(sandbox, confirm="none", idempotency_window=0) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(method="POST", path="/proxy/refunds", status=200, raw_body=""))
        with pytest.raises(UnexpectedBodyError) as caught:
            await runner.call(CREATE_REFUND, {"charge": JANE_CHARGE_ID, "amount": 100})
    key = proxy(sandbox, "POST")[0].headers["idempotency-key"]
    assert f'Repeating it with `idempotency_key` set to "{key}" is safe' in caught.value.agent_message()


async def test_a_tools_endpoint_answering_html_is_an_error(sandbox: SandboxServer) -> None:
    sandbox.sandbox.faults.inject(
        Fault(resource="tools", status=200, raw_body=HTML, headers={"content-type": "text/html"})
    )
    async with runner_for(sandbox) as runner:
        with pytest.raises(
            CatalogUnavailableError, match="a body that is not JSON where JSON was expected"
        ) as caught:
            await runner.selected_tools()
    assert isinstance(caught.value.failure.cause, UnexpectedBodyError)


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ("abcdefgh", '`result` as a JSON string ("abcdefgh")'),
        ({"id": "cus_1", "email": "x"}, "`result` as a JSON object"),
        (None, "`result` as a JSON null"),
    ],
)
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("auto_paginate", {"tool": LIST_CUSTOMERS}),
        ("auto_paginate", {"tool": LIST_CUSTOMERS, "arguments": {"fields": "id,email"}}),
        (LIST_CUSTOMERS, {"fields": "id,email"}),
    ],
    ids=["auto_paginate", "auto_paginate-with-fields", "list-call-with-fields"],
)
async def test_a_list_page_whose_result_is_not_a_list_is_an_error(
    sandbox: SandboxServer, result: Any, said: str, tool: str, arguments: dict[str, Any]
) -> None:
    """auto_paginate never counts a string's characters (or an object's keys) as items, and a
    plain list call does not pass such a page on as a success; `fields` cannot hide it."""
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(
                method="GET",
                path="/proxy/customers",
                status=200,
                body={"result": result, "next_cursor": None},
            )
        )
        with pytest.raises(UnexpectedBodyError) as caught:
            await runner.call(tool, arguments)
    text = caught.value.agent_message()
    assert said in text and "instead of a list of items" in text
    assert caught.value.details()["page_keys"] == ["next_cursor", "result"]


async def test_auto_paginate_stops_at_a_page_without_result(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(method="GET", path="/proxy/customers", status=200, body={"data": [{"id": "cus_1"}]})
        )
        with pytest.raises(UnexpectedBodyError, match="came back with no `result` instead of a list"):
            await runner.call("auto_paginate", {"tool": LIST_CUSTOMERS})


async def test_over_stdio_the_agent_reads_what_came_back(sandbox: SandboxServer) -> None:
    echo = f"<html><body>Bearer {SECRET_KEY} was refused by the proxy</body></html>"
    faults = sandbox.sandbox.faults
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        await client.list_tools()
        faults.inject(
            Fault(
                method="POST",
                path="/proxy/refunds",
                status=200,
                raw_body=echo,
                headers={"content-type": "text/html"},
                after_commit=True,
            )
        )
        write = await client.call_tool(CREATE_REFUND, {"charge": JANE_CHARGE_ID, "amount": 700})
        faults.inject(Fault(method="GET", path="/proxy/customers", status=200, body={"result": "abc"}))
        walked = await client.call_tool("auto_paginate", {"tool": LIST_CUSTOMERS})
        faults.inject(Fault(method="GET", path="/proxy/customers", status=200, body="abc"))
        listed = await client.call_tool(LIST_CUSTOMERS, {"limit": 2})
    assert write.is_error and walked.is_error and listed.is_error
    text = write.content[0].text  # type: ignore[union-attr]
    assert "a body that is not JSON" in text and "text/html" in text
    assert "<html><body>Bearer *** was refused" in text, "the preview is shown, the key masked"
    assert SECRET_KEY not in text and SECRET_KEY not in json.dumps(write.structured_content)
    assert "may have been carried out" in text and "Repeating the identical call within" in text
    assert "instead of a list of items" in walked.content[0].text  # type: ignore[union-attr]
    assert "a JSON string where a JSON object was expected" in listed.content[0].text  # type: ignore[union-attr]

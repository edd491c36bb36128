"""The Truto API key never leaves the process: every error path, driven for real, and every
byte the server writes (tool results, protocol errors, resources, its log at DEBUG, the
CLI's output) scanned for it.

The sandbox is told to echo the key back the ways a real upstream or proxy might: in an
error message, in a Stripe error's raw response, in a non-JSON body, in a successful
object. A base URL carrying the key as a password covers the HTTP client's own errors.
Each echo case also checks the mask is there, so the scan cannot pass because the key
simply never came back.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import SECRET_KEY, assert_no_leak, server_env, spawn_server, subprocess_env
from truto_stripe_mcp.redaction import (
    MASK,
    RedactingFormatter,
    forget_secrets,
    redact,
    redact_url,
    register_secret,
)
from truto_stripe_mcp.sandbox import Fault, SandboxServer

pytestmark = pytest.mark.anyio

ECHO = f"Invalid API Key provided: Bearer {SECRET_KEY}"
CUSTOMERS = "/proxy/customers"


def everything(result: types.CallToolResult) -> str:
    """All an agent can read in a result: every content block and the structured content."""
    return result.model_dump_json(by_alias=True)


def echo_faults() -> list[tuple[str, Fault, bool]]:
    """(name, fault on the customers list, whether the answer is an error) for each echo.

    A 429 that is not worth waiting for is answered with the wait, not the upstream's text,
    so it is the one case where the echo is not repeated at all."""
    return [
        ("401 message", Fault(path=CUSTOMERS, status=401, message=ECHO), True),
        (
            "Stripe error with the request echoed",
            Fault(path=CUSTOMERS, status=400, remote=True, message=ECHO, headers={"x-echo": SECRET_KEY}),
            True,
        ),
        ("500 every attempt", Fault(path=CUSTOMERS, status=500, message=ECHO, times=None), True),
        ("non-JSON body", Fault(path=CUSTOMERS, status=502, body=f"<html>{ECHO}</html>", times=None), True),
        (
            "a successful object",
            Fault(path=CUSTOMERS, status=200, body={"result": [{"id": "cus_x", "description": ECHO}]}),
            False,
        ),
        (
            "a request dump inside Truto's message",
            Fault(
                path=CUSTOMERS,
                status=400,
                body={"message": json.dumps({"headers": {"authorization": SECRET_KEY}})},
            ),
            True,
        ),
        # Last: the server then rightly refuses further calls for the hour the 429 asked for.
        (
            "429 with no point waiting",
            Fault(path=CUSTOMERS, status=429, message=ECHO, headers={"Retry-After": "3600"}),
            True,
        ),
    ]


async def test_every_echo_is_masked_in_results_and_the_debug_log(sandbox: SandboxServer) -> None:
    env = server_env(sandbox, TRUTO_MCP_LOG_LEVEL="DEBUG", TRUTO_MCP_MAX_ATTEMPTS="2", TRUTO_MCP_MAX_WAIT="1")
    seen: list[str] = []
    async with spawn_server(env) as spawned:  # spawn_server scans the server's stderr on exit
        # A resource read and a write carry echoes too.
        sandbox.sandbox.faults.inject(Fault(path=CUSTOMERS, status=401, message=ECHO))
        with pytest.raises(MCPError) as raised:
            await spawned.client.read_resource("truto-stripe://list/list_all_stripe_customers?max_items=5")
        seen.append(str(raised.value))
        assert MASK in str(raised.value)
        write = await spawned.client.call_tool(
            "create_a_stripe_customer", {"email": "leak@example.com", "description": ECHO}
        )
        seen.append(everything(write))
        assert write.is_error is False and MASK in everything(write)
        for name, fault, is_error in echo_faults():
            sandbox.sandbox.faults.clear()
            sandbox.sandbox.faults.inject(fault)
            result = await spawned.client.call_tool("list_all_stripe_customers", {"limit": 1})
            text = everything(result)
            seen.append(text)
            assert result.is_error is is_error, (name, text[:300])
            if not name.startswith("429"):
                assert MASK in text, f"{name}: the echo should have come back, masked"
            assert_no_leak(text)
        stderr = spawned.stderr()
    assert_no_leak(*seen, stderr)
    assert MASK in stderr, "the DEBUG log saw the echoes, masked"
    assert "Authorization" not in stderr


async def test_transport_errors_with_the_key_in_the_base_url(sandbox: SandboxServer) -> None:
    """The HTTP client's own errors name the URL; a password in it is masked."""
    with_password = sandbox.url.replace("http://", f"http://truto:{SECRET_KEY}@")
    refused = "http://truto:" + SECRET_KEY + "@127.0.0.1:9"  # discard port: connection refused
    for base_url, fault in (
        (refused, None),
        (with_password, Fault(path=CUSTOMERS, delay=3.0)),  # past the timeout below
        (with_password, Fault(path=CUSTOMERS, drop_before_commit=True, times=None)),
    ):
        sandbox.sandbox.faults.clear()
        if fault:
            sandbox.sandbox.faults.inject(fault)
        env = server_env(
            sandbox,
            TRUTO_BASE_URL=base_url,
            TRUTO_MCP_TIMEOUT="1",
            TRUTO_MCP_MAX_ATTEMPTS="2",
            TRUTO_MCP_LOG_LEVEL="DEBUG",
        )
        env["TRUTO_MCP_CATALOG_TTL"] = "0"
        async with spawn_server(env) as spawned:
            try:
                result = await spawned.client.call_tool("list_all_stripe_customers", {"limit": 1})
                text = everything(result)
                assert result.is_error, text[:300]
            except MCPError as exc:  # the catalog itself could not load
                text = str(exc)
            stderr = spawned.stderr()
        assert_no_leak(text, stderr)
        if base_url == refused:
            assert f"truto:{MASK}@127.0.0.1:9" in text


def test_cli_commands_on_every_error_path(sandbox: SandboxServer) -> None:
    """``call``, ``tools`` and ``doctor`` print errors for people: masked too."""
    cases: list[tuple[list[str], Fault | None, dict[str, str]]] = [
        (
            ["call", "list_all_stripe_customers", "--args", '{"limit": 1}'],
            Fault(path=CUSTOMERS, status=401, message=ECHO),
            {},
        ),
        (
            ["call", "list_all_stripe_customers", "--args", '{"limit": 1}'],
            Fault(path=CUSTOMERS, status=200, body={"result": [{"id": "c", "x": ECHO}]}),
            {},
        ),
        (
            ["tools"],
            Fault(path="/integrated-account", status=500, message=ECHO, times=None),
            {"TRUTO_MCP_MAX_ATTEMPTS": "1"},
        ),
        (["doctor"], Fault(path="/integrated-account", status=400, message=ECHO, times=None), {}),
        (["doctor"], None, {"TRUTO_BASE_URL": f"http://u:{SECRET_KEY}@127.0.0.1:9"}),
    ]
    for args, fault, extra in cases:
        sandbox.sandbox.faults.clear()
        if fault:
            sandbox.sandbox.faults.inject(fault)
        env = subprocess_env(server_env(sandbox, TRUTO_MCP_LOG_LEVEL="DEBUG", **extra))
        done = subprocess.run(
            [sys.executable, "-m", "truto_stripe_mcp", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert_no_leak(done.stdout, done.stderr)
        assert MASK in done.stdout + done.stderr, (args, done.stdout[-300:], done.stderr[-300:])


def test_the_formatter_masks_tracebacks_and_every_form_of_the_key() -> None:
    register_secret(SECRET_KEY + "/+")  # characters that URL-encoding changes
    secret = SECRET_KEY + "/+"
    try:
        try:
            raise httpx.ConnectError(f"cannot connect; headers were Authorization: Bearer {secret}")
        except httpx.ConnectError:
            record = logging.getLogger("tests").makeRecord(
                "tests", logging.ERROR, __file__, 1, "failed with %s", (secret,), sys.exc_info()
            )
        formatted = RedactingFormatter("%(message)s").format(record)
        assert "Traceback" in formatted and formatted.count(MASK) == 2  # the message and the exception
        assert_no_leak(formatted)
        assert redact(f"GET /x?{httpx.QueryParams({'k': secret})}") == f"GET /x?k={MASK}"
        assert redact(json.dumps({"k": secret + '"'})) == json.dumps({"k": MASK + '"'})
        assert redact_url(f"https://user:{secret}@api.truto.one/x") == f"https://user:{MASK}@api.truto.one/x"
        assert redact("nothing secret here") == "nothing secret here"
        register_secret("abc")  # too short to mask without mangling ordinary text
        assert redact("abc") == "abc"
    finally:
        forget_secrets()

"""A 401/403 that Stripe sent (``truto_is_remote_error``) means "reconnect the account in Truto",
not "check TRUTO_API_KEY": through the runner, over stdio, and in ``doctor``.

Every response comes from the real sandbox on loopback, through its fault injection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import runner_for, server_env, spawn_server
from tests.test_cli import run_cli
from truto_stripe_mcp.errors import StripeCredentialsError, UpstreamError
from truto_stripe_mcp.sandbox import JANE_CUSTOMER_ID, Fault, SandboxServer

pytestmark = pytest.mark.anyio

GET_CUSTOMER = "get_single_stripe_customer_by_id"
RECONNECT = "Stripe rejected this integrated account's credentials: reconnect this Stripe account in Truto"
SCOPES = ["rak_customer_read", "rak_charge_write"]


def forbidden_with_scopes(scopes: list[str]) -> dict[str, Any]:
    """Truto's envelope for a Stripe 403, with its insight naming the scopes the connection lacks."""
    return {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "The provided key does not have the required permissions.",
        "details": {},
        "truto_is_remote_error": True,
        "raw_response": {
            "error": {
                "type": "invalid_request_error",
                "message": "The provided key does not have the required permissions.",
            }
        },
        "truto_error_insight": {"forbidden_error": {"value": {"missing_scopes": scopes}}},
    }


def proxy_requests(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.route == "proxy"]


async def test_a_stripe_401_asks_to_reconnect_the_account(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=401, remote=True, message="Invalid API Key provided.")
        )
        with pytest.raises(StripeCredentialsError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = caught.value.agent_message()
    assert text.startswith(RECONNECT)
    assert "Invalid API Key provided." in text and "Check TRUTO_API_KEY" not in text
    assert "TRUTO_API_KEY needs no change" in text
    details = caught.value.details()
    assert details["reconnect_required"] is True and details["from_stripe"] is True
    assert details["status"] == 401
    assert len(proxy_requests(sandbox)) == 1, "a rejected credential is not retried"


async def test_a_stripe_403_names_the_missing_scopes(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=403, body=forbidden_with_scopes(SCOPES))
        )
        with pytest.raises(StripeCredentialsError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = caught.value.agent_message()
    assert text.startswith(RECONNECT)
    assert "grant the missing scopes rak_customer_read, rak_charge_write" in text
    assert caught.value.details()["missing_scopes"] == SCOPES


@pytest.mark.parametrize("status", [401, 403])
async def test_truto_own_401_and_403_still_point_at_the_api_token(
    sandbox: SandboxServer, status: int
) -> None:
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=status, message="Invalid token"))
        with pytest.raises(UpstreamError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert not isinstance(caught.value, StripeCredentialsError)
    text = caught.value.agent_message()
    assert "reconnect" not in text.lower()
    if status == 401:
        assert "Truto rejected the API token: check TRUTO_API_KEY." in text
    else:
        assert "The API token is not allowed to use this integrated account." in text


async def test_the_agent_reads_the_reconnect_advice_over_stdio(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=403, body=forbidden_with_scopes(SCOPES))
        )
        result = await spawned.client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(RECONNECT) and "rak_customer_read, rak_charge_write" in text
    assert "Check TRUTO_API_KEY" not in text
    error = (result.structured_content or {})["error"]
    assert error["missing_scopes"] == SCOPES and error["reconnect_required"] is True
    assert json.dumps(error).count("rak_charge_write") >= 2, "in the message and in the details"


@pytest.mark.parametrize(
    ("fault", "expected", "unexpected"),
    [
        (
            Fault(path="/integrated-account", status=401, remote=True, times=None),
            "but Stripe rejected this integrated account's credentials (401",
            "rejected the API key",
        ),
        (
            Fault(path="/integrated-account", status=403, body=forbidden_with_scopes(SCOPES), times=None),
            "Reconnect the Stripe account in Truto, granting the missing scopes rak_customer_read, "
            "rak_charge_write",
            "may not use this integrated account",
        ),
        (
            Fault(path="/integrated-account", status=401, times=None),
            "Truto rejected the API key: the tools endpoint (GET /integrated-account/acct-test-stripe/tools) answered 401",
            "Stripe rejected",
        ),
    ],
    ids=["stripe-401", "stripe-403-scopes", "truto-401"],
)
def test_doctor_tells_a_stripe_rejection_from_a_bad_token(
    sandbox: SandboxServer, fault: Fault, expected: str, unexpected: str
) -> None:
    sandbox.sandbox.faults.inject(fault)
    done = run_cli("doctor", env=server_env(sandbox))
    assert done.returncode == 1
    assert expected in done.stdout and unexpected not in done.stdout, done.stdout

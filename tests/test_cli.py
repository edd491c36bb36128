"""The command as a person runs it: configuration errors, subcommands, --sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import (
    ACCOUNT_ID,
    SECRET_KEY,
    STATE_VARIABLE,
    assert_no_leak,
    server_env,
    spawn_server,
    subprocess_env,
)
from truto_stripe_mcp.shaping import drop_empty


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = subprocess_env(env)
    done = subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert_no_leak(done.stdout, done.stderr)
    return done


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TRUTO_API_KEY"),
        ({"TRUTO_API_KEY": "k"}, "TRUTO_INTEGRATED_ACCOUNT_ID"),
        ({"TRUTO_INTEGRATED_ACCOUNT_ID": "a"}, "TRUTO_API_KEY"),
    ],
)
@pytest.mark.parametrize("command", [[], ["tools"], ["doctor"]])
def test_missing_credentials_exit_2_naming_the_variable(
    env: dict[str, str], variable: str, command: list[str]
) -> None:
    done = run_cli(*command, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]


def test_invalid_base_url_is_a_config_error() -> None:
    done = run_cli(
        "tools", env={"TRUTO_API_KEY": "k", "TRUTO_INTEGRATED_ACCOUNT_ID": "a", "TRUTO_BASE_URL": "ftp://x"}
    )
    assert done.returncode == 2 and done.stdout == "" and "TRUTO_BASE_URL" in done.stderr


def test_tools_table_and_json_in_sandbox_mode() -> None:
    table = run_cli("tools", "--sandbox")
    assert table.returncode == 0, table.stderr
    assert "list_all_stripe_customers" in table.stdout and " tools" in table.stdout
    as_json = run_cli("tools", "--sandbox", "--json", "--read-only")
    tools = json.loads(as_json.stdout)
    assert tools and all(tool["annotations"]["readOnlyHint"] for tool in tools)
    assert all({"name", "title", "description", "inputSchema"} <= set(tool) for tool in tools)


def test_call_prints_the_result(sandbox: Any) -> None:
    done = run_cli(
        "call",
        "list_all_stripe_customers",
        "--args",
        '{"email": "jane@example.com"}',
        env=server_env(sandbox),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"][0]["email"] == "jane@example.com"
    bad = run_cli("call", "list_all_stripe_customers", "--args", '{"limit": "x"}', env=server_env(sandbox))
    assert bad.returncode == 1 and "`limit` must be integer" in bad.stderr and bad.stdout == ""
    not_json = run_cli("call", "list_all_stripe_customers", "--args", "{oops", env=server_env(sandbox))
    assert not_json.returncode == 2 and "not valid JSON" in not_json.stderr


def test_doctor_reports_each_problem(sandbox: Any) -> None:
    good = run_cli("doctor", env=server_env(sandbox))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "all checks passed" in good.stdout
    wrong_key = run_cli("doctor", env={**server_env(sandbox), "TRUTO_API_KEY": "tk_wrong_key"})
    assert wrong_key.returncode == 1 and "rejected the API key" in wrong_key.stdout
    wrong_account = run_cli("doctor", env={**server_env(sandbox), "TRUTO_INTEGRATED_ACCOUNT_ID": "nope"})
    assert wrong_account.returncode == 1 and "TRUTO_INTEGRATED_ACCOUNT_ID" in wrong_account.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = run_cli(
        "doctor", env={**server_env(sandbox), "TRUTO_BASE_URL": f"http://127.0.0.1:{closed_port}"}
    )
    assert unreachable.returncode == 1 and "cannot reach Truto" in unreachable.stdout


def test_flags_win_over_environment(sandbox: Any) -> None:
    env = {**server_env(sandbox), "TRUTO_INTEGRATED_ACCOUNT_ID": "wrong-account"}
    done = run_cli("doctor", "--account-id", ACCOUNT_ID, env=env)
    assert done.returncode == 0, done.stdout


@pytest.mark.anyio
async def test_sandbox_mode_serves_mcp_without_an_account() -> None:
    # No account at all; only this test's own state file (never the user's).
    env = {"PYTHONUNBUFFERED": "1", STATE_VARIABLE: os.environ[STATE_VARIABLE]}
    async with spawn_server(env, ["--sandbox"]) as spawned:
        names = {tool.name for tool in (await spawned.client.list_tools()).tools}
        # A new user sees the small default (core) surface plus the helper tools.
        assert {"list_all_stripe_customers", "create_a_stripe_refund", "auto_paginate"} <= names
        assert 10 <= len(names) <= 25
        result = await spawned.client.call_tool("get_single_stripe_charge_by_id", {"id": "ch_sandbox_jane_1"})
        assert not result.is_error
        charge = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert charge["amount"] == 150000 and charge["currency"] == "usd"


def test_secret_key_constant_is_distinctive() -> None:
    # The leak checks are only meaningful if the key is something no output would contain by chance.
    assert len(SECRET_KEY) > 30 and "SECRET" in SECRET_KEY


def test_iso_timestamps_flag_turns_siblings_off(sandbox: Any) -> None:
    args = (
        "call",
        "get_single_stripe_charge_by_id",
        "--args",
        '{"id": "ch_sandbox_jane_1", "fields": "created"}',
    )
    with_iso = json.loads(run_cli(*args, env=server_env(sandbox)).stdout)
    without = json.loads(run_cli(*args, "--no-iso-timestamps", env=server_env(sandbox)).stdout)
    assert with_iso["created_iso"].endswith("Z")
    assert without == {"id": "ch_sandbox_jane_1", "object": "charge", "created": with_iso["created"]}


def test_call_leaves_out_empty_fields_unless_the_environment_keeps_them(sandbox: Any) -> None:
    args = ("call", "get_single_stripe_customer_by_id", "--args", '{"id": "cus_sandbox_jane"}')
    lean = json.loads(run_cli(*args, env=server_env(sandbox)).stdout)
    kept = json.loads(run_cli(*args, env=server_env(sandbox, TRUTO_MCP_KEEP_EMPTY="true")).stdout)
    assert kept["address"] is None and kept["preferred_locales"] == [] and "invoice_settings" in kept
    assert lean == drop_empty(kept) and {"address", "preferred_locales", "invoice_settings"}.isdisjoint(lean)


def test_call_asks_for_approval_in_plain_words(sandbox: Any) -> None:
    env = {**server_env(sandbox), "TRUTO_MCP_CONFIRM": "destructive"}
    args = ("call", "create_a_stripe_refund", "--args", '{"charge": "ch_sandbox_jane_1", "amount": 50000}')
    asked = run_cli(*args, env=env)
    assert asked.returncode == 1 and asked.stdout == ""
    assert "Refund $500.00 USD of charge ch_sandbox_jane_1 to jane@example.com?" in asked.stderr
    assert "--confirm none" in asked.stderr
    assert sandbox.sandbox.store.list("refunds", charge="ch_sandbox_jane_1") == []
    done = run_cli(*args, "--confirm", "none", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["amount"] == 50000

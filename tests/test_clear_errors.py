"""What a person reads: the command's errors and notices, through real server processes.

Misspelled tool names, an unknown tool in ``call``, ``doctor`` and ``tools`` counting alike,
a stdio server started in a terminal, blank environment variables, configuration errors
as sentences, and one 429 attributed to one source.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.conftest import STATE_VARIABLE, server_env, spawn_server, subprocess_env
from tests.test_cli import run_cli
from truto_stripe_mcp.sandbox import Fault, SandboxServer

# -- tool names ------------------------------------------------------------------------------------


def test_a_misspelled_tool_name_is_an_error_naming_the_closest() -> None:
    done = run_cli("tools", "--sandbox", "--tools", "list_all_stripe_custmers,auto_paginate")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "--tools (TRUTO_MCP_TOOLS) names a tool not in this account's catalog" in line
    assert "'list_all_stripe_custmers' (did you mean list_all_stripe_customers" in line
    assert "auto_paginate'" not in line, "a helper tool's name is a real name"
    excluded = run_cli("tools", "--sandbox", "--exclude-tools", "create_a_stripe_refnd,nothing_like_it")
    assert excluded.returncode == 2
    assert "--exclude-tools (TRUTO_MCP_EXCLUDE_TOOLS) names 2 tools" in excluded.stderr
    assert "'create_a_stripe_refnd' (did you mean create_a_stripe_refund?)" in excluded.stderr
    assert "'nothing_like_it' (no tool has a similar name)" in excluded.stderr


def test_the_server_refuses_to_start_with_a_misspelled_tool_name() -> None:
    """Over stdio, as a client would spawn it: one line on stderr, exit 2, nothing on stdout."""
    env = {STATE_VARIABLE: os.environ[STATE_VARIABLE], "TRUTO_MCP_EXCLUDE_TOOLS": "create_a_stripe_refnd"}
    done = subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", "--sandbox"],
        env=subprocess_env(env),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("truto-stripe-mcp: error: --exclude-tools (TRUTO_MCP_EXCLUDE_TOOLS)")
    assert "create_a_stripe_refund" in last and "Traceback" not in done.stderr


def test_an_unknown_tool_in_call_points_at_the_command(sandbox: SandboxServer) -> None:
    done = run_cli("call", "list_all_stripe_custmers", env=server_env(sandbox))
    assert done.returncode == 1 and done.stdout == ""
    assert "Unknown tool 'list_all_stripe_custmers'. Did you mean list_all_stripe_customers" in done.stderr
    assert "Run `truto-stripe-mcp tools`" in done.stderr and "tools/list" not in done.stderr


@pytest.mark.parametrize(
    "options",
    [
        [],  # the default core toolset and the helper tools
        ["--toolsets", "all"],  # so many that the server switches to discovery mode
        ["--read-only", "--exclude-tools", "auto_paginate"],
    ],
)
def test_doctor_and_tools_count_alike(options: list[str]) -> None:
    listed = run_cli("tools", "--sandbox", *options)
    doctor = run_cli("doctor", "--sandbox", *options)
    assert listed.returncode == 0 and doctor.returncode == 0, listed.stderr + doctor.stdout
    summary = listed.stdout.strip().splitlines()[-1]
    rows = len(listed.stdout.strip().splitlines()) - 3  # minus the header, a blank line and the summary
    assert re.match(rf"{rows} tools listed \(\d+ Stripe tools and \d+ of this server's own\)", summary)
    assert f"[ok] {summary}" in doctor.stdout.splitlines()


# -- a stdio server in a terminal --------------------------------------------------------------------


def test_a_stdio_server_in_a_terminal_says_it_is_waiting() -> None:
    controller, terminal = pty.openpty()
    env = subprocess_env({STATE_VARIABLE: os.environ[STATE_VARIABLE]})
    process = subprocess.Popen(
        [sys.executable, "-m", "truto_stripe_mcp", "--sandbox"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(terminal)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any(b"waiting for an MCP client" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, b"".join(lines)
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(controller)
    text = b"".join(lines).decode()
    assert "This is not an interactive prompt" in text and "truto-stripe-mcp tools" in text
    assert process.stdout is not None and process.stdout.read() == b"", "stdout stays for MCP messages"


def test_a_stdio_server_on_pipes_says_nothing_of_terminals() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "truto_stripe_mcp", "--sandbox"],
        env=subprocess_env({STATE_VARIABLE: os.environ[STATE_VARIABLE]}),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "waiting for an MCP client" not in done.stderr


# -- configuration -----------------------------------------------------------------------------------


def test_blank_environment_variables_are_the_defaults(sandbox: SandboxServer) -> None:
    """What a host app passes for optional settings left empty: the default, not an error."""
    blank = {
        name: ""
        for name in (
            "TRUTO_BASE_URL",
            "TRUTO_MCP_READ_ONLY",
            "TRUTO_MCP_PORT",
            "TRUTO_MCP_TIMEOUT",
            "TRUTO_MCP_CONFIRM",
            "TRUTO_MCP_LOG_LEVEL",
            "TRUTO_MCP_TRANSPORT",
            "TRUTO_MCP_TOOLSETS",
        )
    }
    done = run_cli("tools", "--sandbox", env=blank)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("18 tools listed")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "TRUTO_MCP_CONFIRM",
            "sometimes",
            "TRUTO_MCP_CONFIRM must be none, destructive or writes (got 'sometimes').",
        ),
        ("TRUTO_MCP_PORT", "eighty", "Invalid TRUTO_MCP_PORT: Input should be a valid integer"),
        ("TRUTO_BASE_URL", "ftp://x", "TRUTO_BASE_URL must start with http:// or https:// (got 'ftp://x')."),
    ],
)
def test_configuration_errors_are_sentences(variable: str, value: str, expected: str) -> None:
    done = run_cli("tools", "--sandbox", env={variable: value})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert expected in line and "Value error" not in line and line.endswith(".")


def test_doctor_ends_each_sentence_before_the_next(sandbox: SandboxServer) -> None:
    wrong_account = run_cli("doctor", env={**server_env(sandbox), "TRUTO_INTEGRATED_ACCOUNT_ID": "nope"})
    assert wrong_account.returncode == 1
    (failure,) = [line for line in wrong_account.stdout.splitlines() if line.startswith("[FAIL]")]
    assert (
        "not found. Truto does not know this integrated account: check TRUTO_INTEGRATED_ACCOUNT_ID" in failure
    )
    assert "; no saved copy" not in failure and failure.endswith(".")


# -- one 429, one source -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("remote", "source", "other"), [(False, "Truto", "Stripe"), (True, "Stripe", "Truto")]
)
async def test_one_429_is_attributed_to_one_source(
    sandbox: SandboxServer, remote: bool, source: str, other: str
) -> None:
    """The call that met the 429 and the calls that wait on the block it set name one source."""
    sandbox.sandbox.faults.inject(
        Fault(path="/proxy/customers", status=429, remote=remote, headers={"retry-after": "600"})
    )
    async with spawn_server(server_env(sandbox)) as spawned:
        errors: list[Any] = []
        for _ in range(2):
            result = await spawned.client.call_tool("list_all_stripe_customers", {"limit": 1})
            assert result.is_error
            errors.append(result.content[0].text)  # type: ignore[union-attr]
    met, blocked = errors
    assert met.startswith(f"Rate limited by {source} (429)"), met
    assert blocked.startswith(f"Rate limited by {source} (429)"), blocked
    assert "Nothing was sent. Retry the call after" in blocked
    assert other not in met + blocked
    assert sum(request.path == "/proxy/customers" for request in sandbox.sandbox.requests) == 1

"""Code mode end to end: the SDK client calls ``run_code`` on the real server process (stdio),
which runs the program in pydantic-monty against the loopback sandbox. Answers are checked
against the sandbox's own store, and what reached the sandbox against its request log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from bench import _code_mode_tasks as tasks
from tests.conftest import FIXED_NOW, SECRET_KEY, assert_no_leak, sandbox_config, server_env, spawn_server
from truto_stripe_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio

NINETY_DAYS_AGO = int(FIXED_NOW) - 90 * 86_400
YEAR_START = 1_735_689_600  # 2025-01-01T00:00:00Z, the year of FIXED_NOW

REFUNDS_BY_REASON = tasks.REFUNDS_BY_REASON.format(since=NINETY_DAYS_AGO)
TOP_CUSTOMERS = tasks.TOP_CUSTOMERS.format(since=YEAR_START)
"""The benchmark's programs (bench/_code_mode_tasks.py), with this test's dates."""


def code_env(sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    return server_env(sandbox, TRUTO_MCP_CODE_MODE="true", **extra)


def text_of(result: types.CallToolResult) -> str:
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    assert_no_leak(*texts, json.dumps(result.structured_content))
    return "\n".join(texts)


async def run(client: Any, code: str, **options: Any) -> types.CallToolResult:
    return await client.call_tool("run_code", {"code": code}, **options)


def answer(result: types.CallToolResult) -> Any:
    assert not result.is_error, text_of(result)
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def proxy_requests(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.sandbox.requests if r.path.startswith("/proxy/")]


async def test_aggregations_give_the_sandboxs_exact_answers(sandbox: SandboxServer) -> None:
    store = sandbox.sandbox.store
    refunded = tasks.refunds_by_reason(store.list("refunds"), since=NINETY_DAYS_AGO)
    top = tasks.top_customers(store.list("charges"), since=YEAR_START)
    assert len(refunded) >= 2 and len(top) == 5, "the seed must make these questions worth asking"

    async with spawn_server(code_env(sandbox)) as spawned:
        by_reason = answer(await run(spawned.client, REFUNDS_BY_REASON))
        top_five = answer(await run(spawned.client, TOP_CUSTOMERS))
    assert by_reason["result"] == refunded
    assert by_reason["calls"] >= 1
    assert top_five["result"] == top
    assert top_five["calls"] == len(proxy_requests(sandbox)) - by_reason["calls"], "one request per page"


async def test_listing_with_code_mode(sandbox: SandboxServer) -> None:
    async with spawn_server(code_env(sandbox, TRUTO_MCP_DISCOVERY="true")) as spawned:
        names = [tool.name for tool in (await spawned.client.list_tools()).tools]
        assert sorted(names) == ["describe_tool", "run_code", "search_tools"]
        listed = {tool.name: tool for tool in (await spawned.client.list_tools()).tools}["run_code"]
        assert "import tools" in (listed.description or "") and "paginate" in (listed.description or "")
        # Every selected tool stays reachable from a program, though none is listed.
        count = answer(
            await run(
                spawned.client,
                "import tools\n(await tools.list_all_stripe_customers(limit=2))['result_count']",
            )
        )
        assert count["result"] == 2
        described = await spawned.client.call_tool("describe_tool", {"name": "create_a_stripe_refund"})
        signature = json.loads(text_of(described))["python"]
        assert (
            signature.startswith("await tools.create_a_stripe_refund(*, ")
            and "amount: int = ..." in signature
        )
    async with spawn_server(
        code_env(sandbox, TRUTO_MCP_DISCOVERY_THRESHOLD="100000", TRUTO_MCP_TOOLS_PAGE_SIZE="0")
    ) as spawned:
        names = [tool.name for tool in (await spawned.client.list_tools()).tools]
        assert "run_code" in names and "list_all_stripe_charges" in names and "auto_paginate" in names
    async with spawn_server(server_env(sandbox)) as spawned:
        names = [tool.name for tool in (await spawned.client.list_tools()).tools]
        assert "run_code" not in names
        refused = await run(spawned.client, "1 + 1")
        assert refused.is_error and "Unknown tool 'run_code'" in text_of(refused)


async def test_result_output_and_errors_come_back_the_way_a_model_can_use_them(
    sandbox: SandboxServer,
) -> None:
    async with spawn_server(code_env(sandbox, TRUTO_MCP_CODE_MAX_OUTPUT="200")) as spawned:
        client = spawned.client
        printed = answer(
            await run(client, "print('hello')\nfor i in range(100):\n    print(i)\n{'n': 1, 's': {1}}")
        )
        assert printed["result"] == {"n": 1, "s": [1]}
        assert printed["output"].startswith("hello\n0\n1\n") and len(printed["output"]) == 200
        assert printed["calls"] == 0

        syntax = await run(client, "x = [\n1,")
        assert syntax.is_error and "syntax error" in text_of(syntax) and "line 2" in text_of(syntax)
        assert syntax.structured_content["error"]["error"] == "syntax"

        raised = await run(client, "x = 1\nprint('before')\ny = {}\ny['missing']")
        message = text_of(raised)
        assert raised.is_error and "(line 4)" in message and "KeyError" in message and "before" in message
        assert raised.structured_content["error"]["line"] == 4

        # A failed tool call is an exception the program can catch.
        caught = answer(
            await run(
                client,
                "import tools\ntry:\n    await tools.get_single_stripe_charge_by_id(id='ch_nope')\n"
                "except RuntimeError as error:\n    found = str(error)\nfound",
            )
        )
        assert "No such charge" in caught["result"] and caught["calls"] == 1

        big = answer(await run(client, "['x' * 100 for _ in range(1000)]"))
        assert len(big["result"]) < 1000
        assert "result budget" in text_of(await run(client, "['x' * 100 for _ in range(1000)]"))


async def test_the_type_checker_catches_a_wrong_argument_before_anything_is_sent(
    sandbox: SandboxServer,
) -> None:
    program = (
        "import tools\n"
        "first = await tools.list_all_stripe_customers(limit=1)\n"
        "refund = await tools.create_a_stripe_refund(charge='ch_sandbox_jane_1', amont=100)\n"
    )
    async with spawn_server(code_env(sandbox)) as spawned:
        before = len(proxy_requests(sandbox))
        result = await run(spawned.client, program)
        wrong_type = await run(
            spawned.client, "import tools\nawait tools.list_all_stripe_customers(limit='ten')"
        )
        wrong_list = await run(
            spawned.client, "import tools\nawait tools.paginate('list_all_stripe_charges', custmer='x')"
        )
    message = text_of(result)
    assert result.is_error and result.structured_content["error"]["error"] == "type"
    assert result.structured_content["error"]["line"] == 3 and "`amont`" in message
    assert "await tools.create_a_stripe_refund(*, " in message and "amount: int" in message, (
        "the fix is shown"
    )
    assert wrong_type.is_error and "limit" in text_of(wrong_type) and "line 2" in text_of(wrong_type)
    assert wrong_list.is_error and "await tools.paginate('list_all_stripe_charges'" in text_of(wrong_list)
    assert len(proxy_requests(sandbox)) == before, "a program that fails its type check sends nothing"


ESCAPES = {
    "open": "open('/etc/passwd').read()",
    "os_getenv": "import os\nos.getenv('TRUTO_API_KEY')",
    "os_environ": "import os\nos.environ['TRUTO_API_KEY']",
    "subprocess": "import subprocess\nsubprocess.run(['env'])",
    "dunder_import": "__import__('os').environ",
    "proc_environ": "from pathlib import Path\nPath('/proc/self/environ').read_text()",
    "sys_modules": "import sys\nsys.modules['os']",
    "socket": "import socket\nsocket.socket()",
}


async def test_escapes_are_refused_and_the_key_is_never_readable(sandbox: SandboxServer) -> None:
    async with spawn_server(code_env(sandbox)) as spawned:
        for name, program in ESCAPES.items():
            result = await run(spawned.client, program)
            assert result.is_error, f"{name} must be refused: {text_of(result)}"
            assert SECRET_KEY not in text_of(result)
        # Even a program that gets past the type checker by building the name at run time.
        dynamic = await run(spawned.client, "import os\nname = 'TRUTO' + '_API_KEY'\nos.getenv(name)")
        assert dynamic.is_error and "not supported" in text_of(dynamic)
        # The tools module holds the tools, not the client behind them.
        inner = await run(
            spawned.client, "import tools\n[name for name in dir(tools) if 'key' in name.lower()]"
        )
        assert SECRET_KEY not in text_of(inner)
        still = answer(await run(spawned.client, "1 + 1"))
        assert still["result"] == 2


async def test_limits_stop_a_program_and_the_server_serves_the_next_call(sandbox: SandboxServer) -> None:
    env = code_env(
        sandbox, TRUTO_MCP_CODE_TIMEOUT="2", TRUTO_MCP_CODE_MEMORY_MB="32", TRUTO_MCP_CODE_MAX_CALLS="3"
    )
    async with spawn_server(env) as spawned:
        client = spawned.client
        endless = await run(
            client, "while True:\n    try:\n        pass\n    except BaseException:\n        pass"
        )
        assert (
            endless.is_error
            and "2-second time limit" in text_of(endless)
            and "--code-timeout" in text_of(endless)
        )
        assert endless.structured_content["error"]["limit"] == "time"

        bomb = await run(client, "blocks = []\nwhile True:\n    blocks.append('x' * 1_000_000)")
        assert (
            bomb.is_error
            and "32 MB" in text_of(bomb)
            and bomb.structured_content["error"]["limit"] == "memory"
        )

        greedy = await run(
            client,
            "import tools\nwhile True:\n    try:\n        await tools.list_all_stripe_customers(limit=1)\n"
            "    except BaseException:\n        pass",
        )
        assert (
            greedy.is_error
            and "3 tool calls" in text_of(greedy)
            and greedy.structured_content["error"]["limit"] == "calls"
        )
        assert len(proxy_requests(sandbox)) == 3, "the fourth call was never sent"

        assert answer(await run(client, "sum(range(10))"))["result"] == 45
        plain = await client.call_tool("list_all_stripe_customers", {"limit": 1})
        assert not plain.is_error


async def test_tool_results_too_big_for_the_programs_memory_stop_it_cleanly() -> None:
    """Whole charges take ~15 kB each inside the interpreter (empty fields left out): 4,000 of
    them end a 32 MB program (the worker is terminated), and the server runs the next program."""
    program = "import tools\nlen(await tools.paginate('list_all_stripe_charges', max_items=4000))"
    with SandboxServer(sandbox_config(num_charges=4_000)) as sandbox:
        async with spawn_server(code_env(sandbox, TRUTO_MCP_CODE_MEMORY_MB="32")) as spawned:
            stopped = await run(spawned.client, program)
            assert stopped.is_error and stopped.structured_content["error"]["limit"] == "memory"
            assert "32 MB" in text_of(stopped)
            fits = answer(await run(spawned.client, program.replace("4000))", "4000, fields='amount'))")))
            assert fits["result"] == 4_000


async def test_progress_is_reported_while_a_program_runs(sandbox: SandboxServer) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    program = "import tools\nlen(await tools.paginate('list_all_stripe_charges', limit=100, max_items=300))"
    async with spawn_server(code_env(sandbox)) as spawned:
        result = await run(spawned.client, program, progress_callback=on_progress)
    assert answer(result)["result"] == 300
    assert "pass `fields`" in text_of(result), "a long walk of whole items says how to make it faster"
    assert [progress for progress, _ in seen] == sorted({progress for progress, _ in seen}), "it only grows"
    assert any("list_all_stripe_charges page 3, 300 items" in (message or "") for _, message in seen)


def _workers_of_servers_holding(secret: str) -> list[int]:
    """The Monty worker processes whose parent holds ``secret`` in its environment (our server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_env = Path(f"/proc/{parent}/environ").read_bytes()
        except OSError:
            continue
        is_worker = len(command) > 1 and command[0].endswith(b"/monty") and command[1] == b"subprocess"
        if is_worker and secret.encode() in parent_env:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
async def test_the_worker_process_has_no_environment(sandbox: SandboxServer) -> None:
    """Even a program that escaped the interpreter would find no key: the worker's environment is empty."""
    async with (
        spawn_server(code_env(sandbox, TRUTO_MCP_CODE_TIMEOUT="30")) as spawned,
        anyio.create_task_group() as group,
    ):
        group.start_soon(run, spawned.client, "while True:\n    pass")
        workers: list[int] = []
        with anyio.fail_after(20):
            while not workers:
                await anyio.sleep(0.1)
                workers = _workers_of_servers_holding(SECRET_KEY)
        environments = [Path(f"/proc/{pid}/environ").read_bytes() for pid in workers]
        group.cancel_scope.cancel()
    assert environments and all(
        SECRET_KEY.encode() not in env and b"TRUTO" not in env for env in environments
    )

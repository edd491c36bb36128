"""The tool catalog when Truto's tools endpoint is slow to reach, fails or is gone: the disk
copy of the last good catalog, start-up from it, its background refresh and list_changed,
credential failures, has_description=false, and what ``doctor`` says. Real servers over
stdio against the sandbox, whose faults stand in for the endpoint's failures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import ACCOUNT_ID, SECRET_KEY, runner_for, sandbox_config, server_env, spawn_server
from tests.test_cli import run_cli
from truto_stripe_mcp.catalog.file import CatalogFile
from truto_stripe_mcp.catalog.store import CatalogCache
from truto_stripe_mcp.sandbox import TOOLS, Fault, SandboxServer

ENDPOINT = f"GET /integrated-account/{ACCOUNT_ID}/tools"
THREE_HOURS = 3 * 3600 + 60
LIST_CHANGED = "notifications/tools/list_changed"
SMALLER = [tool for tool in TOOLS if tool["resource"] != "disputes"]


def saved_copy(sandbox: SandboxServer, directory: Path, query: dict[str, str] | None = None) -> Path:
    return CatalogFile.for_account(directory, sandbox.url, ACCOUNT_ID, query or {}).path


def age_saved_copy(path: Path, seconds: float) -> None:
    """Make the copy look ``seconds`` old (as if saved by a server that ran earlier)."""
    document = json.loads(path.read_text())
    document["fetched_at"] = time.time() - seconds
    path.write_text(json.dumps(document))


async def list_names(env: dict[str, str], args: list[str] | None = None) -> list[str]:
    """One server start that lists its tools: what a client restart does (and leaves a disk copy)."""
    async with spawn_server(env, args) as spawned:
        return [tool.name for tool in (await spawned.client.list_tools()).tools]


class Notifications:
    """The methods of the notifications a client received."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            self.seen.append(message.root.method if hasattr(message, "root") else message.method)

    async def wait_for(self, method: str) -> None:
        with anyio.fail_after(15):  # a hang guard, not a timing assertion
            while method not in self.seen:
                await anyio.sleep(0.02)


def core_env(sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    """The server's environment with the core toolset, so tools/list shows the catalog's tools
    themselves (Stripe's whole catalog would switch to discovery mode)."""
    return server_env(sandbox, **{"TRUTO_MCP_TOOLSETS": "core", **extra})


pytestmark = pytest.mark.anyio


async def test_a_good_load_saves_the_raw_catalog_without_the_key(
    sandbox: SandboxServer, catalog_cache_dir: Path
) -> None:
    before = time.time()
    await list_names(core_env(sandbox))
    after = time.time()
    path = saved_copy(sandbox, catalog_cache_dir)
    assert list(catalog_cache_dir.iterdir()) == [path], "one file, and no temporary file left behind"
    text = path.read_text()
    document = json.loads(text)
    assert document["tools"] == json.loads(json.dumps(TOOLS)), "the entries exactly as the endpoint sent them"
    assert before <= document["fetched_at"] <= after
    assert document["base_url"] == sandbox.url and document["integrated_account_id"] == ACCOUNT_ID
    assert SECRET_KEY not in text and SECRET_KEY not in path.name


@pytest.mark.parametrize(
    ("fault", "answer"),
    [
        (Fault(resource="tools", status=404, message="Not Found", times=None), "answered 404 Not Found"),
        (Fault(resource="tools", status=410, message="Gone", times=None), "answered 410 Gone"),
        (
            Fault(resource="tools", status=503, message="Service paused", times=None),
            "answered 503 Service Unavailable: Service paused",
        ),
        (
            Fault(resource="tools", status=200, body="<html>maintenance</html>", times=None),
            "answered with something that is not a tool list",
        ),
    ],
    ids=["404", "410", "503", "not-a-tool-list"],
)
async def test_a_failing_endpoint_serves_the_saved_copy_with_one_warning(
    sandbox: SandboxServer, catalog_cache_dir: Path, fault: Fault, answer: str
) -> None:
    names = await list_names(core_env(sandbox))
    age_saved_copy(saved_copy(sandbox, catalog_cache_dir), THREE_HOURS)
    sandbox.sandbox.faults.inject(fault)
    sandbox.sandbox.reset_requests()
    # TTL 0: every list and call asks the endpoint again, and each attempt fails.
    async with spawn_server(core_env(sandbox, TRUTO_MCP_CATALOG_TTL="0")) as spawned:
        assert [tool.name for tool in (await spawned.client.list_tools()).tools] == names
        assert [tool.name for tool in (await spawned.client.list_tools()).tools] == names
        result = await spawned.client.call_tool("list_all_stripe_customers", {"limit": 1})
        assert not result.is_error, "calls go on working: only the catalog endpoint is down"
        stderr = spawned.stderr()
    assert len(sandbox.sandbox.requests_to("tools")) >= 3, "the endpoint was asked at every turn"
    warnings = [line for line in stderr.splitlines() if "the tools endpoint failed" in line]
    assert len(warnings) == 1, stderr
    assert "WARNING" in warnings[0] and f"{ENDPOINT} {answer}" in warnings[0]
    assert "serving the copy saved 3 hours ago" in warnings[0]


async def test_an_unreachable_endpoint_serves_the_saved_copy(catalog_cache_dir: Path) -> None:
    with SandboxServer(sandbox_config()) as stopped_later:
        env = core_env(stopped_later, TRUTO_MCP_MAX_ATTEMPTS="1", TRUTO_MCP_CATALOG_TTL="0")
        names = await list_names(env)
    async with spawn_server(env) as spawned:
        assert [tool.name for tool in (await spawned.client.list_tools()).tools] == names
        assert [tool.name for tool in (await spawned.client.list_tools()).tools] == names
        stderr = spawned.stderr()
    warnings = [line for line in stderr.splitlines() if "the tools endpoint failed" in line]
    assert len(warnings) == 1, stderr
    assert f"{ENDPOINT} got no answer (Could not reach Truto at {stopped_later.url}" in warnings[0]
    assert "serving the copy saved just now" in warnings[0]


@pytest.mark.parametrize(
    ("status", "answer"),
    [(410, "answered 410 Gone: Injected fault"), (503, "answered 503 Service Unavailable")],
)
async def test_without_a_saved_copy_the_error_names_the_endpoint(
    sandbox: SandboxServer, catalog_cache_dir: Path, status: int, answer: str
) -> None:
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=status, times=None))
    async with spawn_server(core_env(sandbox)) as spawned:
        with pytest.raises(MCPError) as raised:
            await spawned.client.list_tools()
    message = str(raised.value)
    assert f"Could not load the tool catalog: {ENDPOINT} {answer}" in message
    assert "No saved copy of the catalog exists yet" in message
    assert list(catalog_cache_dir.iterdir()) == []


async def test_start_up_answers_from_the_saved_copy_and_announces_the_refreshed_catalog(
    sandbox: SandboxServer, catalog_cache_dir: Path
) -> None:
    """A copy saved when the account had fewer tools: the restarted server answers from it at
    once, refreshes from Truto in the background, and tells the client the list changed."""
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=200, body={"result": SMALLER}))
    before = await list_names(core_env(sandbox))
    assert "list_all_stripe_disputes" not in before
    sandbox.sandbox.reset_requests()
    notifications = Notifications()
    async with spawn_server(core_env(sandbox), mode="legacy", message_handler=notifications) as spawned:
        first = [tool.name for tool in (await spawned.client.list_tools()).tools]
        assert first == before, "the first answer is the saved copy (Truto lists the disputes tools)"
        await notifications.wait_for(LIST_CHANGED)
        after = [tool.name for tool in (await spawned.client.list_tools()).tools]
        stderr = spawned.stderr()
    assert "list_all_stripe_disputes" in after
    assert len(sandbox.sandbox.requests_to("tools")) == 1, "one background refresh; the lists were served"
    assert notifications.seen.count(LIST_CHANGED) == 1
    assert "answering from the tool catalog saved just now" in stderr
    document = json.loads(saved_copy(sandbox, catalog_cache_dir).read_text())
    assert len(document["tools"]) == len(TOOLS), "the refreshed catalog replaced the copy"


async def test_an_unchanged_refresh_is_not_announced(sandbox: SandboxServer) -> None:
    names = await list_names(core_env(sandbox))
    notifications = Notifications()
    async with spawn_server(core_env(sandbox), mode="legacy", message_handler=notifications) as spawned:
        assert [tool.name for tool in (await spawned.client.list_tools()).tools] == names
        with anyio.fail_after(15):  # until the background refresh has loaded the catalog
            while "loaded tool catalog" not in spawned.stderr():
                await anyio.sleep(0.02)
        await spawned.client.call_tool("list_all_stripe_customers", {"limit": 1})  # a turn after it
    assert LIST_CHANGED not in notifications.seen


async def test_refused_credentials_withdraw_the_saved_copy(
    sandbox: SandboxServer, catalog_cache_dir: Path
) -> None:
    """A 401 means every call would fail the same way: the copy stops being served, and the
    client is told so it lists again and sees why."""
    names = await list_names(core_env(sandbox))
    sandbox.sandbox.faults.inject(
        Fault(resource="tools", status=401, message="Invalid API token", times=None)
    )
    notifications = Notifications()
    async with spawn_server(core_env(sandbox), mode="legacy", message_handler=notifications) as spawned:
        assert [
            tool.name for tool in (await spawned.client.list_tools()).tools
        ] == names  # from disk, at once
        await notifications.wait_for(LIST_CHANGED)
        with pytest.raises(MCPError) as raised:
            await spawned.client.list_tools()
    message = str(raised.value)
    assert f"{ENDPOINT} answered 401 Unauthorized: Invalid API token" in message
    assert "check TRUTO_API_KEY" in message and "saved just now is not used" in message
    done = run_cli("tools", env=core_env(sandbox))
    assert done.returncode == 1 and done.stdout == ""
    assert "401 Unauthorized" in done.stderr and "is not used" in done.stderr
    assert saved_copy(sandbox, catalog_cache_dir).is_file(), "kept for when the key is fixed"


@pytest.mark.parametrize(
    "content",
    [b"{truncated", json.dumps({"format": 1, "tools": [{"name": "no_resource"}]}).encode()],
    ids=["not-json", "entries-that-do-not-parse"],
)
async def test_a_corrupt_saved_copy_is_ignored(
    sandbox: SandboxServer, catalog_cache_dir: Path, content: bytes
) -> None:
    path = saved_copy(sandbox, catalog_cache_dir)
    if b"no_resource" in content:  # a well-formed file whose entries this version cannot parse
        document = {
            "format": 1,
            "base_url": sandbox.url,
            "integrated_account_id": ACCOUNT_ID,
            "query": {},
            "fetched_at": time.time(),
            "tools": [{"name": "no_resource", "method": "list"}],
        }
        content = json.dumps(document).encode()
    path.write_bytes(content)
    async with spawn_server(core_env(sandbox)) as spawned:
        names = [tool.name for tool in (await spawned.client.list_tools()).tools]
        stderr = spawned.stderr()
    assert "list_all_stripe_disputes" in names, "served from Truto"
    assert f"ignoring the saved tool catalog {path}" in stderr
    assert len(json.loads(path.read_text())["tools"]) == len(TOOLS), "replaced by the good load"


async def test_include_undocumented_asks_for_has_description_false(
    sandbox: SandboxServer, catalog_cache_dir: Path
) -> None:
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
    assert "has_description" not in sandbox.sandbox.requests_to("tools")[-1].query
    async with runner_for(sandbox, include_undocumented=True) as runner:
        await runner.selected_tools()
    assert sandbox.sandbox.requests_to("tools")[-1].query["has_description"] == "false"
    await list_names(core_env(sandbox), ["--include-undocumented"])
    assert sandbox.sandbox.requests_to("tools")[-1].query["has_description"] == "false"
    run_cli("tools", env=core_env(sandbox, TRUTO_MCP_INCLUDE_UNDOCUMENTED="true"))
    assert sandbox.sandbox.requests_to("tools")[-1].query["has_description"] == "false"
    assert saved_copy(sandbox, catalog_cache_dir, {"has_description": "false"}).is_file(), "its own copy"


def test_the_tools_command_falls_back_to_the_saved_copy(
    sandbox: SandboxServer, catalog_cache_dir: Path
) -> None:
    assert run_cli("tools", env=core_env(sandbox)).returncode == 0
    age_saved_copy(saved_copy(sandbox, catalog_cache_dir), THREE_HOURS)
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=410, times=None))
    done = run_cli("tools", env=core_env(sandbox))
    assert done.returncode == 0 and "list_all_stripe_disputes" in done.stdout
    assert done.stderr.count("the tools endpoint failed") == 1
    assert f"{ENDPOINT} answered 410 Gone" in done.stderr and "saved 3 hours ago" in done.stderr


def test_doctor_reports_the_endpoint_and_the_saved_copy(
    sandbox: SandboxServer, catalog_cache_dir: Path, tmp_path: Path
) -> None:
    healthy = run_cli("doctor", env=core_env(sandbox))
    assert healthy.returncode == 0, healthy.stdout
    assert "[ok] reached Truto; the tools endpoint lists" in healthy.stdout
    assert "[ok] the catalog copy on disk was saved just now (" in healthy.stdout

    age_saved_copy(saved_copy(sandbox, catalog_cache_dir), THREE_HOURS)
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=410, message="Gone", times=None))
    gone = run_cli("doctor", env=core_env(sandbox))
    assert gone.returncode == 0, gone.stdout
    assert (
        f"[warn] the tools endpoint ({ENDPOINT}) answered 410 Gone. Serving the copy saved 3 hours ago."
        in (gone.stdout)
    )
    assert "[ok] the catalog copy on disk was saved 3 hours ago" in gone.stdout

    sandbox.sandbox.faults.clear()
    sandbox.sandbox.faults.inject(Fault(resource="tools", status=503, times=None))
    empty = run_cli("doctor", env=core_env(sandbox, TRUTO_MCP_CACHE_DIR=str(tmp_path / "empty")))
    assert empty.returncode == 1, empty.stdout
    assert f"[FAIL] the tools endpoint ({ENDPOINT}) answered 503 Service Unavailable" in empty.stdout
    assert "[warn] no saved copy of the catalog yet" in empty.stdout


def test_the_in_process_sandbox_keeps_no_copy(catalog_cache_dir: Path) -> None:
    done = run_cli("tools", "--sandbox")
    assert done.returncode == 0
    doctor = run_cli("doctor", "--sandbox")
    assert "no copy of the catalog is kept for the embedded sandbox" in doctor.stdout
    assert list(catalog_cache_dir.iterdir()) == []


async def test_start_up_from_the_saved_copy_in_process(tmp_path: Path) -> None:
    """The same start-up on CatalogCache alone: the copy is served while Truto has not answered,
    the refresh is announced once, and the server stopping right after it still saves it."""
    saved = CatalogFile.for_account(tmp_path, "https://api.truto.one", ACCOUNT_ID, {})
    saved.write(SMALLER, fetched_at=time.time() - 60)
    truto_answers = anyio.Event()
    fetches: list[int] = []
    changes: list[int] = []

    async def fetch() -> list[dict[str, Any]]:
        fetches.append(1)
        await truto_answers.wait()
        return TOOLS

    async with anyio.create_task_group() as background:
        cache = CatalogCache(fetch, ttl=300, saved_file=saved, background=background)

        async def on_change() -> None:
            changes.append(cache.generation)

        cache.on_change(on_change)
        first = await cache.get()
        assert cache.source == "disk" and len(first.specs) == len(SMALLER)
        assert await cache.get() is first, "served while Truto has not answered"
        truto_answers.set()
        with anyio.fail_after(15):
            while not changes:
                await anyio.sleep(0.01)
        background.cancel_scope.cancel()  # the server stops at once
    assert changes == [1] and len(fetches) == 1
    assert cache.source == "truto" and len((await cache.get()).specs) == len(TOOLS)
    copy = saved.read()
    assert copy is not None and len(copy.entries) == len(TOOLS), "the save finished despite the stop"

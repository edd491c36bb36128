"""Fuzzing every tool's arguments through a real MCP session.

For each tool the server lists (the whole sandbox catalog plus the local tools), arguments
are generated from the tool's own input schema (``hypothesis-jsonschema``; the full schema
the server validates with, which ``describe_tool`` returns; ``tools/list`` carries a
compact one without ``minLength``, say) and then,
half the time, broken on purpose: a wrong type, a missing required field, an extra field,
a huge string, deep nesting, odd unicode, ``null``. Each set goes to the real server
process over stdio through the SDK's client, against the sandbox on loopback.

The properties, with that schema as the oracle (``jsonschema``):

* every answer is a well-formed tool result, never a protocol error and never the
  server's "internal error": an error result carries a message an agent can act on;
* arguments the schema rejects are refused by the server before anything is sent
  upstream, naming the problem;
* arguments the schema accepts are never refused for a schema reason, and the compact
  schema in ``tools/list`` accepts them too (it may be looser, never stricter);
* the server still answers ``ping`` afterwards and its log has no traceback.

Seeded and bounded for CI (``TRUTO_FUZZ_EXAMPLES``, default 400 calls); the long run is
``TRUTO_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz_arguments.py -s``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from tests.conftest import Spawned, assert_no_leak, runner_for, sandbox_config, server_env, spawn_server
from truto_stripe_mcp.sandbox import SandboxServer

# The SDK warns that ping is gone from the 2026 protocol; this session speaks the 2025 one.
pytestmark = pytest.mark.filterwarnings("ignore:ping is removed")

EXAMPLES = int(os.environ.get("TRUTO_FUZZ_EXAMPLES", "400"))
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
# Any character JSON can carry in UTF-8: everything but lone surrogates.
UNICODE = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)


@dataclass
class Target:
    name: str
    schema: dict[str, Any]  # the full input schema
    validator: Draft202012Validator
    listed: Draft202012Validator  # the compact schema tools/list shows
    valid: st.SearchStrategy[dict[str, Any]]


@dataclass
class Tally:
    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class Session:
    portal: BlockingPortal
    spawned: Spawned
    sandbox: SandboxServer
    targets: list[Target]
    tally: Tally


def _strategy(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(schema)


WHOLE_LISTING = {"TRUTO_MCP_DISCOVERY_THRESHOLD": "100000", "TRUTO_MCP_TOOLS_PAGE_SIZE": "0"}
"""List every tool of the catalog (no switch to discovery mode, one tools/list page)."""


async def _full_schemas(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    """Each listed tool's full input schema, as the server builds it from the same catalog."""
    async with runner_for(sandbox, discovery_threshold=100_000) as runner:
        specs, local = await runner.listed_tools()
    return {tool.name: tool.input_schema for tool in [*specs, *local]}


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """One sandbox and one server process for the whole module (spawning per example would
    measure process start-up, not the server)."""
    with SandboxServer(sandbox_config(rate_limit=None)) as sandbox, start_blocking_portal() as portal:
        env = server_env(sandbox, TRUTO_MCP_LOG_LEVEL="INFO", TRUTO_MCP_MAX_ATTEMPTS="1", **WHOLE_LISTING)
        # The handshake-era protocol, as Claude Desktop and Cursor speak it today (it has ping).
        with portal.wrap_async_context_manager(spawn_server(env, mode="legacy")) as spawned:
            listed = {tool.name: tool.input_schema for tool in portal.call(spawned.client.list_tools).tools}
            full = portal.call(_full_schemas, sandbox)
            assert set(full) == set(listed) and len(full) == 466, (
                "the whole sandbox catalog (463 documented operations) plus the local tools"
            )
            targets = [
                Target(
                    name,
                    schema,
                    Draft202012Validator(schema),
                    Draft202012Validator(listed[name]),
                    _strategy(schema),
                )
                for name, schema in sorted(full.items())
            ]
            yield Session(portal, spawned, sandbox, targets, Tally())
            # Still serving after everything the fuzzing threw at it.
            portal.call(spawned.client.send_ping)
            assert len(portal.call(spawned.client.list_tools).tools) == len(targets)
            stderr = spawned.stderr()
        assert "Traceback" not in stderr and "unexpected error" not in stderr
        assert_no_leak(stderr)


# -- breaking valid arguments on purpose ------------------------------------------------


def _typed_properties(schema: dict[str, Any]) -> list[str]:
    return [
        name
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and "type" in prop
    ]


@st.composite
def broken(draw: st.DrawFn, target: Target) -> tuple[str, dict[str, Any]]:
    """(how it was broken, the arguments): usually invalid, which the oracle decides."""
    arguments = dict(draw(target.valid))
    properties = list(target.schema.get("properties", {}))
    how = draw(
        st.sampled_from(["wrong type", "missing required", "extra field", "huge", "deep", "unicode", "null"])
    )
    if how == "wrong type" and _typed_properties(target.schema):
        arguments[draw(st.sampled_from(_typed_properties(target.schema)))] = draw(
            JSON_SCALARS
            | st.lists(JSON_SCALARS, max_size=3)
            | st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=2)
        )
    elif how == "missing required" and target.schema.get("required"):
        arguments.pop(draw(st.sampled_from(target.schema["required"])), None)
    elif how == "huge":
        size = draw(st.sampled_from([100_000, 1_200_000]))  # under and over the 1 MB argument limit
        arguments[draw(st.sampled_from(properties or ["padding"]))] = "x" * size
    elif how == "deep":
        nested: Any = "bottom"
        # Up to 150 levels: about 200 is as deep as the SDK's JSON-RPC parser goes on either
        # side; deeper messages are the protocol test's business (test_protocol_robustness.py).
        for _ in range(draw(st.integers(20, 150))):
            nested = {"a": nested} if draw(st.booleans()) else [nested]
        arguments[draw(st.sampled_from(properties or ["deep"]))] = nested
    elif how == "unicode" and properties:
        arguments[draw(st.sampled_from(properties))] = draw(UNICODE)
    elif how == "null" and properties:
        arguments[draw(st.sampled_from(properties))] = None
    else:  # "extra field", or a tool without properties to break otherwise
        how = "extra field"
        arguments[draw(st.text(min_size=1, max_size=30).filter(lambda key: key not in properties))] = draw(
            JSON_SCALARS
        )
    return how, arguments


# -- the property -------------------------------------------------------------------------


# jsonschema's phrases, as the server's argument errors repeat them
_SCHEMA_WORDS = (
    "is not of type",
    "is a required property",
    "Additional properties",
    "should be non-empty",
    "is too long",
    "is not one of",
)


def _call(session: Session, name: str, arguments: dict[str, Any]) -> Any:
    async def call() -> Any:
        with anyio.fail_after(60):
            return await session.spawned.client.call_tool(name, arguments)

    return session.portal.call(call)


def _upstream_requests(session: Session) -> int:
    return sum(1 for r in session.sandbox.sandbox.requests if r.path.startswith("/proxy/"))


def check_one(session: Session, target: Target, how: str, arguments: dict[str, Any]) -> None:
    schema_valid = target.validator.is_valid(arguments)
    before = _upstream_requests(session)
    result = _call(session, target.name, arguments)  # an MCPError (protocol error) fails the test here
    session.tally.calls += 1
    assert result.content and result.content[0].type == "text" and result.content[0].text.strip()
    text = result.content[0].text
    error = (result.structured_content or {}).get("error", {}) if result.is_error else {}
    assert "Internal error" not in text, f"{target.name} ({how}): {text}"
    if result.is_error:
        assert isinstance(error.get("message"), str) and error["message"], (
            "an error result says what went wrong"
        )
    else:
        json.loads(text)  # a success is the JSON data
    refused = "problems" in error  # the server's own argument check
    if not schema_valid:
        assert refused, f"{target.name} ({how}): schema-invalid arguments were not refused: {text[:300]}"
        assert _upstream_requests(session) == before, (
            f"{target.name} ({how}): refused arguments reached upstream"
        )
    elif refused:
        # The schema allows them; the server may still refuse what no schema can say (an
        # unparseable date, an id of "..", a non-list tool for auto_paginate), never a type.
        assert not any(
            word in text for word in ("is not of type", "is a required property", "Additional properties")
        ), f"{target.name} ({how}): the listed schema accepts what the server rejects: {text[:300]}"
    session.tally.outcomes[
        ("refused" if refused else "error" if result.is_error else "ok") + f" / {how}"
    ] += 1


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # seeded: the same calls on every run
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_tool_answers_every_argument_well(session: Session, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(session.targets), label="tool")
    if data.draw(st.booleans(), label="break it"):
        how, arguments = data.draw(broken(target), label="arguments")
    else:
        how, arguments = "valid", data.draw(target.valid, label="arguments")
    check_one(session, target, how, arguments)


def test_report(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the fuzzing (same module, file order): the count the issue asks for."""
    assert session.tally.calls >= EXAMPLES, "every example made a call"
    with capsys.disabled():
        print(f"\nfuzz: {session.tally.calls} tool calls over {len(session.targets)} tools")
        for outcome, count in sorted(session.tally.outcomes.items()):
            print(f"  {count:6d}  {outcome}")

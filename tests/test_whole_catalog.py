"""Stripe's whole catalog through the server: every schema it shows is valid and honest,
and every tool is reachable and callable.

Runs against the sandbox, which serves the catalog derived from Stripe's OpenAPI
description (463 documented operations).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import runner_for, server_env, spawn_server
from tests.stripe_arguments import required_arguments
from truto_stripe_mcp.catalog.spec import Catalog, ToolSpec
from truto_stripe_mcp.catalog.toolsets import TOOLSETS
from truto_stripe_mcp.sandbox import TOOLS, SandboxServer

pytestmark = pytest.mark.anyio
SPECS = Catalog.from_entries(TOOLS).specs
SURFACES: dict[str, dict[str, Any]] = {
    **{f"toolset {name}": {"toolsets": name, "discovery_threshold": 100_000} for name in TOOLSETS},
    "default": {"toolsets": ""},
    "discovery": {"toolsets": "", "discovery": True},
    "all, switching to discovery": {"toolsets": "all"},
}


@pytest.mark.parametrize("surface", list(SURFACES))
async def test_every_listed_schema_is_valid_json_schema(sandbox: SandboxServer, surface: str) -> None:
    async with runner_for(sandbox, **SURFACES[surface]) as runner:
        specs, local = await runner.listed_tools()
    assert specs or surface == "discovery"
    for tool in [*specs, *local]:
        Draft202012Validator.check_schema(tool.listed_schema)
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.listed_schema["type"] == "object", tool.name


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_listed_schema_hides_nothing_and_forbids_nothing_more(spec: ToolSpec) -> None:
    """Every accepted property is listed (``expand`` too), with the same top-level rules."""
    full, listed = spec.input_schema, spec.listed_schema
    assert list(listed["properties"]) == list(full["properties"])
    assert listed.get("required") == full.get("required")
    assert listed.get("additionalProperties") == full.get("additionalProperties") is False
    if "expand" in {
        **(spec.query_schema.get("properties") or {}),
        **(spec.body_schema.get("properties") or {}),
    }:
        assert "expand" in listed["properties"]
    for name, prop in listed["properties"].items():
        assert "type" not in prop or prop["type"] is not None, (spec.name, name)
        description = prop.get("description")
        assert description is None or description[-1] in ".!?)`'\"" or len(description) <= 60, (
            spec.name,
            name,
        )


async def test_every_tool_is_reachable_and_callable(sandbox: SandboxServer) -> None:
    """``--toolsets all``: each tool described and called through discovery, over stdio.

    A call may end in Stripe's own error (no such object, a missing parameter Stripe
    requires beyond its schema), never in an unknown tool, a refusal or an internal error.
    """
    env = server_env(sandbox)
    outcomes: dict[str, str] = {}
    async with spawn_server(env) as spawned:
        client = spawned.client
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert {"search_tools", "describe_tool", "call_tool"} <= listed
        for tool in TOOLS:
            described = await client.call_tool("describe_tool", {"name": tool["name"]})
            assert not described.is_error, described.content
            schema = described.structured_content["inputSchema"]
            Draft202012Validator.check_schema(schema)
            arguments = required_arguments(schema["properties"], schema.get("required", []))
            result = await client.call_tool("call_tool", {"name": tool["name"], "arguments": arguments})
            text = result.content[0].text  # type: ignore[union-attr]
            if not result.is_error:
                json.loads(text)
                outcomes[tool["name"]] = "ok"
                continue
            error = result.structured_content["error"]
            assert error.get("from_stripe") or "Stripe returned" in text, (tool["name"], text[:300])
            outcomes[tool["name"]] = "stripe error"
    assert len(outcomes) == len(TOOLS) == 463
    assert sum(1 for outcome in outcomes.values() if outcome == "ok") > 350

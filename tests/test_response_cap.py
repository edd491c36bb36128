"""Upstream bodies past ``max_response_bytes`` are refused as they stream in (or by their
Content-Length before any of it is read), with a clear error, never retried, memory bounded.

The bodies are real: the sandbox on loopback streams them (its ``stream_bytes`` fault).
"""

from __future__ import annotations

import json
import tracemalloc

import pytest

from tests.conftest import runner_for, server_env, spawn_server
from truto_stripe_mcp.config import DEFAULT_MAX_RESPONSE_BYTES, Settings
from truto_stripe_mcp.errors import ResponseTooLargeError, UnexpectedBodyError
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer

pytestmark = pytest.mark.anyio
SMALL_CATALOG = {"methods": "get", "tags": "customers"}
"""Stripe's whole catalog is 1.2 MB of JSON, over the small caps these tests set: they load
only the customer reads (the same filters Truto applies), so the cap meets the proxy call."""

GET_CUSTOMER = "get_single_stripe_customer_by_id"
MIB = 1 << 20


def proxy(sandbox: SandboxServer) -> list[RecordedRequest]:
    return [r for r in sandbox.sandbox.requests if r.route == "proxy"]


def test_the_default_cap_is_32_mib() -> None:
    assert DEFAULT_MAX_RESPONSE_BYTES == 33_554_432
    assert Settings.model_fields["max_response_bytes"].default == DEFAULT_MAX_RESPONSE_BYTES


async def test_a_content_length_over_the_cap_is_refused_before_reading(sandbox: SandboxServer) -> None:
    """40 GiB are promised and nothing follows: reading would fail (a dropped connection, then
    retries); refusing by the header answers at once, from the one request."""
    declared = 40 * (1 << 30)
    async with runner_for(sandbox) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(
            Fault(
                path="/proxy/customers",
                status=200,
                stream_bytes=0,
                headers={"content-length": str(declared)},
                times=None,
            )
        )
        with pytest.raises(ResponseTooLargeError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    text = caught.value.agent_message()
    assert text.startswith("Truto's answer (HTTP 200) is larger than the 32 MiB (33554432 bytes)")
    assert f"its Content-Length is {declared} bytes, so none of it was read." in text
    assert "TRUTO_MCP_MAX_RESPONSE_BYTES" in text and "a smaller `limit`" in text
    details = caught.value.details()
    assert (
        details["content_length"] == declared and details["max_response_bytes"] == DEFAULT_MAX_RESPONSE_BYTES
    )
    assert len(proxy(sandbox)) == 1, "not retried"


async def test_a_streamed_body_stops_at_the_cap_and_memory_stays_bounded(sandbox: SandboxServer) -> None:
    """64 MiB streamed without a Content-Length against a 1 MiB cap: the read stops past 1 MiB."""
    async with runner_for(sandbox, max_response_bytes=MIB, **SMALL_CATALOG) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=200, stream_bytes=64 * MIB))
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as caught:
                await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB held for a 1 MiB cap"
    text = caught.value.agent_message()
    assert "larger than the 1 MiB (1048576 bytes) this server accepts: more than that arrived" in text
    assert caught.value.details().get("content_length") is None
    assert len(proxy(sandbox)) == 1


@pytest.mark.parametrize(
    ("cap_offset", "expected"), [(0, UnexpectedBodyError), (-1, ResponseTooLargeError)], ids=["at", "over"]
)
async def test_a_body_of_exactly_the_cap_is_read(
    sandbox: SandboxServer, cap_offset: int, expected: type[Exception]
) -> None:
    """At the cap the whole (filler, so not JSON) body is read; one byte more and it is refused."""
    size = 200_000
    async with runner_for(sandbox, max_response_bytes=size + cap_offset, **SMALL_CATALOG) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=200, stream_bytes=size))
        with pytest.raises(expected) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    if expected is UnexpectedBodyError:
        assert caught.value.details()["bytes"] == size  # type: ignore[attr-defined]


async def test_an_error_body_over_the_cap_is_refused_too(sandbox: SandboxServer) -> None:
    async with runner_for(sandbox, max_response_bytes=MIB, **SMALL_CATALOG) as runner:
        await runner.selected_tools()
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=502, stream_bytes=2 * MIB))
        with pytest.raises(ResponseTooLargeError, match=r"Truto's answer \(HTTP 502\) is larger"):
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert len(proxy(sandbox)) == 1, "a 502 is retried, a 502 too large to read is not"


async def test_over_stdio_the_cap_comes_from_the_environment(sandbox: SandboxServer) -> None:
    # The default toolset (core: customers, refunds ...), fetched with Truto's own filters so
    # that Stripe's 1.2 MB catalog does not meet the 1 MiB cap first.
    env = server_env(
        sandbox,
        TRUTO_MCP_MAX_RESPONSE_BYTES=str(MIB),
        TRUTO_MCP_TOOLSETS="core",
        TRUTO_MCP_TAGS="customers,payments",
    )
    faults = sandbox.sandbox.faults
    async with spawn_server(env) as spawned:
        client = spawned.client
        await client.list_tools()
        faults.inject(Fault(method="GET", path="/proxy/customers", status=200, stream_bytes=16 * MIB))
        read = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        faults.inject(
            Fault(method="POST", path="/proxy/refunds", status=200, stream_bytes=2 * MIB, after_commit=True)
        )
        write = await client.call_tool("create_a_stripe_refund", {"charge": JANE_CHARGE_ID, "amount": 400})
        fine = await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert read.is_error and write.is_error and not fine.is_error
    text = read.content[0].text  # type: ignore[union-attr]
    assert "larger than the 1 MiB (1048576 bytes) this server accepts" in text
    assert (read.structured_content or {})["error"]["max_response_bytes"] == MIB
    written = write.content[0].text  # type: ignore[union-attr]
    assert "may have been carried out" in written and "Repeating the identical call within" in written
    assert json.loads(fine.content[0].text)["id"] == JANE_CUSTOMER_ID  # type: ignore[union-attr]

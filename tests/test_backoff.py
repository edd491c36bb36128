"""Backoff, idempotency and the shared governor against the sandbox on loopback, with faults.

Most tests build a real :class:`ToolRunner` with a real :class:`TrutoClient` in-process and
point it at :class:`SandboxServer`; every assertion is on what the sandbox received (its
request log and store) or on what the caller got. The MCP-level behaviour (progress
notifications, cancellation, stderr logs) runs the real server over stdio. Windows and
waits are short (about a second) so the whole file stays fast.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import ACCOUNT_ID, SECRET_KEY, assert_no_leak, sandbox_config, server_env, spawn_server
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.errors import ToolError, TransportError, UpstreamError
from truto_stripe_mcp.pipeline.call import CallOutcome
from truto_stripe_mcp.runner import ToolRunner
from truto_stripe_mcp.sandbox import JANE_CHARGE_ID, JANE_CUSTOMER_ID, Fault, RecordedRequest, SandboxServer
from truto_stripe_mcp.upstream.client import ProxyResponse, TrutoClient
from truto_stripe_mcp.upstream.governor import RateLimitedError, Wait

pytestmark = pytest.mark.anyio

GET_CUSTOMER = "get_single_stripe_customer_by_id"
LIST_CUSTOMERS = "list_all_stripe_customers"
CREATE_CUSTOMER = "create_a_stripe_customer"
CREATE_REFUND = "create_a_stripe_refund"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One sandbox for the module; ``sandbox`` below resets it for every test."""
    with SandboxServer(sandbox_config(num_customers=40, num_charges=60)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.sandbox.reset()
    server.sandbox.configure(
        rate_limit=None, rate_window=1.0, reset_style="delay", retry_after_style="seconds"
    )
    return server


@asynccontextmanager
async def open_runner(server: SandboxServer, **overrides: Any) -> AsyncIterator[ToolRunner]:
    """A real runner and client for the sandbox, catalog loaded, request log cleared.

    Backoff between transient failures is shortened (the policy's shape is unit-tested on a
    fake clock in test_retry.py); rate-limit waits are the real ones the headers ask for.
    """
    options: dict[str, Any] = {
        "api_key": SECRET_KEY,
        "integrated_account_id": ACCOUNT_ID,
        "base_url": server.url,
        "deadline": 10.0,
        "max_wait": 10.0,
        "confirm": "none",  # approval before refunds is tested elsewhere; here the wire is what matters
    }
    options.update(overrides)
    settings = load_settings(**options)
    api_key, account = settings.require_credentials()
    client = TrutoClient(
        base_url=settings.base_url, api_key=api_key, integrated_account_id=account, timeout=settings.timeout
    )
    async with client:
        runner = ToolRunner(settings, client)
        runner.sender.policy = replace(runner.sender.policy, base_backoff=0.02, max_backoff=0.1)
        await runner.selected_tools()
        server.sandbox.reset_requests()
        yield runner


def proxy(
    server: SandboxServer, resource: str | None = None, method: str | None = None
) -> list[RecordedRequest]:
    return [r for r in server.sandbox.requests_to(resource, method) if r.route == "proxy"]


def refunds_of(server: SandboxServer, charge: str) -> list[dict[str, Any]]:
    return [r for r in server.sandbox.store.list("refunds") if r.get("charge") == charge]


class Waits:
    """An ``on_wait`` listener that keeps every pause it is told about."""

    def __init__(self) -> None:
        self.seen: list[Wait] = []

    async def __call__(self, pause: Wait) -> None:
        self.seen.append(pause)


# -- 429: each header form -------------------------------------------------------------------


def _http_date_in(seconds: int) -> str:
    return email.utils.formatdate(math.ceil(time.time()) + seconds, usegmt=True)


def _epoch_in(seconds: int) -> str:
    return str(math.ceil(time.time()) + seconds)


# Each form sits next to a decoy that would give a very different wait if the form were not
# understood (a 20 s ratelimit-reset, past the 10 s max_wait, or an epoch read as a delay).
HEADER_FORMS = {
    "retry-after seconds beats ratelimit-reset": (
        lambda: {"retry-after": "1", "ratelimit-reset": "20"},
        0.9,
        2.0,
    ),
    "retry-after http-date": (lambda: {"retry-after": _http_date_in(1), "ratelimit-reset": "20"}, 0.9, 2.5),
    "ratelimit-reset delay": (lambda: {"ratelimit-reset": "1.5"}, 1.4, 2.2),
    "ratelimit-reset epoch": (lambda: {"ratelimit-reset": _epoch_in(1)}, 0.9, 2.5),
}


@pytest.mark.parametrize("form", list(HEADER_FORMS))
async def test_429_waits_what_each_header_form_says_then_succeeds(sandbox: SandboxServer, form: str) -> None:
    make_headers, low, high = HEADER_FORMS[form]
    waits = Waits()
    async with open_runner(sandbox) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=429, headers=make_headers()))
        outcome = await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID}, on_wait=waits)
    assert outcome.data["id"] == JANE_CUSTOMER_ID
    sent = proxy(sandbox, "customers")
    assert [r.status for r in sent] == [429, 200], "one 429, then exactly one retry"
    measured = sent[1].timestamp - sent[0].timestamp
    assert low <= measured <= high, f"{form}: waited {measured:.2f} s"
    assert len(waits.seen) == 1 and waits.seen[0].next_attempt == 2
    assert abs(waits.seen[0].delay - measured) < 0.5, "the reported wait is the one taken"


async def test_the_sandboxs_own_rate_limit_429_is_waited_out(sandbox: SandboxServer) -> None:
    """Another client spends the window; the runner's 429 carries the sandbox's real headers."""
    async with open_runner(sandbox) as runner:
        sandbox.sandbox.configure(rate_limit=1, rate_window=1.0)
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {SECRET_KEY}"}) as other:
            spent = other.get(
                f"/proxy/customers/{JANE_CUSTOMER_ID}", params={"integrated_account_id": ACCOUNT_ID}
            )
        assert spent.status_code == 200 and spent.headers["ratelimit-remaining"] == "0"
        outcome = await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert outcome.data["id"] == JANE_CUSTOMER_ID
    sent = proxy(sandbox, "customers")
    assert [r.status for r in sent] == [200, 429, 200]
    assert 0.9 <= sent[2].timestamp - sent[1].timestamp <= 2.0


# -- what is retried and what is not ------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 503])
async def test_503_and_4xx_are_never_retried(sandbox: SandboxServer, status: int) -> None:
    async with open_runner(sandbox) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=status))
        with pytest.raises(UpstreamError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert caught.value.status == status
    assert len(proxy(sandbox)) == 1


@pytest.mark.parametrize(
    ("status", "remote"),
    [(408, False), (500, False), (502, False), (502, True), (504, False), (500, True), (503, True)],
)
async def test_gateway_truto_and_stripe_5xx_are_retried(
    sandbox: SandboxServer, status: int, remote: bool
) -> None:
    async with open_runner(sandbox) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=status, remote=remote, times=2))
        outcome = await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert outcome.data["id"] == JANE_CUSTOMER_ID
    assert [r.status for r in proxy(sandbox)] == [status, status, 200]


@pytest.mark.parametrize(
    "fault",
    [Fault(path="/proxy/customers", delay=1.0), Fault(path="/proxy/customers", drop_before_commit=True)],
    ids=["read-timeout", "connection-dropped"],
)
async def test_timeouts_and_dropped_connections_are_retried(sandbox: SandboxServer, fault: Fault) -> None:
    async with open_runner(sandbox, timeout=0.3) as runner:
        sandbox.sandbox.faults.inject(replace(fault))
        outcome = await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert outcome.data["id"] == JANE_CUSTOMER_ID
    assert len(proxy(sandbox)) == 2


async def test_retries_stop_at_max_attempts(sandbox: SandboxServer) -> None:
    async with open_runner(sandbox, max_attempts=3) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", status=502, times=None))
        with pytest.raises(UpstreamError, match="gave up after 3 attempts") as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert caught.value.status == 502
    assert len(proxy(sandbox)) == 3


async def test_transport_retries_stop_at_max_attempts(sandbox: SandboxServer) -> None:
    async with open_runner(sandbox, max_attempts=2) as runner:
        sandbox.sandbox.faults.inject(Fault(path="/proxy/customers", drop_before_commit=True, times=None))
        with pytest.raises(TransportError, match="gave up after 2 attempts"):
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert len(proxy(sandbox)) == 2


# -- lost responses to writes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(method="POST", path="/proxy/refunds", drop_after_commit=True),
        Fault(method="POST", path="/proxy/refunds", delay=1.0, commit_before_delay=True),
    ],
    ids=["connection-dropped-after-commit", "timed-out-after-commit"],
)
async def test_a_lost_refund_response_is_retried_with_the_same_key(
    sandbox: SandboxServer, fault: Fault
) -> None:
    before = len(refunds_of(sandbox, JANE_CHARGE_ID))
    async with open_runner(sandbox, timeout=0.3) as runner:
        sandbox.sandbox.faults.inject(replace(fault))
        outcome = await runner.call(CREATE_REFUND, {"charge": JANE_CHARGE_ID, "amount": 500})
    posts = proxy(sandbox, "refunds", "POST")
    assert len(posts) == 2
    keys = {p.headers.get("idempotency-key") for p in posts}
    assert len(keys) == 1 and None not in keys, "the retry must carry the first attempt's Idempotency-Key"
    refunds = refunds_of(sandbox, JANE_CHARGE_ID)
    assert len(refunds) == before + 1, "exactly one refund exists afterwards"
    assert outcome.data["id"] == refunds[0]["id"] and outcome.data["amount"] == 500


async def test_many_injected_faults_make_zero_duplicates(sandbox: SandboxServer) -> None:
    """Every write meets a different mix of lost responses, resets, timeouts and 5xx."""
    patterns: list[list[Fault]] = [
        [Fault(drop_after_commit=True), Fault(status=502), Fault(drop_after_commit=True)],
        [Fault(drop_before_commit=True), Fault(drop_after_commit=True)],
        [Fault(status=504), Fault(delay=0.5, commit_before_delay=True), Fault(status=500)],
        [Fault(drop_after_commit=True), Fault(drop_after_commit=True), Fault(drop_after_commit=True)],
        [Fault(status=429, headers={"retry-after": "0.1"}), Fault(drop_after_commit=True)],
    ]
    calls = 15
    before = {r["id"] for r in refunds_of(sandbox, JANE_CHARGE_ID)}
    injected = 0
    async with open_runner(sandbox, timeout=0.3, max_attempts=6) as runner:
        for i in range(calls):
            tool, resource = (CREATE_CUSTOMER, "customers") if i % 2 else (CREATE_REFUND, "refunds")
            for template in patterns[i % len(patterns)]:
                sandbox.sandbox.faults.inject(replace(template, method="POST", path=f"/proxy/{resource}"))
                injected += 1
            args = (
                {"email": f"dup{i}@example.com"} if i % 2 else {"charge": JANE_CHARGE_ID, "amount": 100 + i}
            )
            await runner.call(tool, args)
            assert not sandbox.sandbox.faults.pending(), "every injected fault was met"
    assert injected >= 30
    store = sandbox.sandbox.store
    for i in range(1, calls, 2):
        assert store.count("customers", email=f"dup{i}@example.com") == 1
    amounts = sorted(r["amount"] for r in refunds_of(sandbox, JANE_CHARGE_ID) if r["id"] not in before)
    assert amounts == [100 + i for i in range(0, calls, 2)], "one refund per call, none twice"
    for posts_of_one_call in _group_by_key(proxy(sandbox, method="POST")).values():
        assert len({(p.path, str(p.json)) for p in posts_of_one_call}) == 1, (
            "a key is never reused for another write"
        )
    assert len(_group_by_key(proxy(sandbox, method="POST"))) == calls


def _group_by_key(requests: list[RecordedRequest]) -> dict[str, list[RecordedRequest]]:
    groups: dict[str, list[RecordedRequest]] = {}
    for request in requests:
        groups.setdefault(request.headers["idempotency-key"], []).append(request)
    return groups


# -- the dedupe window -----------------------------------------------------------------------


async def test_the_same_refund_twice_in_the_window_is_one_refund(sandbox: SandboxServer) -> None:
    before = len(refunds_of(sandbox, JANE_CHARGE_ID))
    args = {"charge": JANE_CHARGE_ID, "amount": 700, "reason": "requested_by_customer"}
    async with open_runner(sandbox, idempotency_window=60) as runner:
        first = await runner.call(CREATE_REFUND, args)
        second = await runner.call(CREATE_REFUND, dict(reversed(args.items())))  # same call, other key order
    assert second.data["id"] == first.data["id"]
    assert len(refunds_of(sandbox, JANE_CHARGE_ID)) == before + 1
    assert first.notes == ()
    assert len(second.notes) == 1 and second.notes[0].startswith("Replay:")
    assert "Stripe returned the original result" in second.notes[0]
    posts = proxy(sandbox, "refunds", "POST")
    assert len(posts) == 2 and posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]


async def test_without_the_window_the_same_refund_twice_is_two_refunds(sandbox: SandboxServer) -> None:
    """The control for the test above: the dedupe comes from the window, not from the sandbox."""
    before = len(refunds_of(sandbox, JANE_CHARGE_ID))
    args = {"charge": JANE_CHARGE_ID, "amount": 700}
    async with open_runner(sandbox, idempotency_window=0) as runner:
        first: CallOutcome = await runner.call(CREATE_REFUND, args)
        second = await runner.call(CREATE_REFUND, args)
    assert second.data["id"] != first.data["id"] and second.notes == ()
    assert len(refunds_of(sandbox, JANE_CHARGE_ID)) == before + 2


# -- the shared governor under concurrency ----------------------------------------------------


class _NoGovernor:
    """Every call for itself: retries still honour each 429's Retry-After, nothing is shared."""

    waits = 0

    async def acquire(self, **_: Any) -> int:
        return 0

    async def observe(self, response: ProxyResponse, generation: int | None = None) -> None:
        return None


async def _burst(server: SandboxServer, calls: int, governed: bool) -> tuple[int, list[float], int]:
    """``calls`` concurrent get calls on a fresh runner: (successes, durations, 429s seen)."""
    server.sandbox.configure(rate_limit=10, rate_window=0.5)  # also starts a fresh window
    durations: list[float] = []
    successes = 0
    async with open_runner(server, deadline=8.0, max_wait=8.0) as runner:
        if not governed:
            runner.sender.governor = _NoGovernor()  # type: ignore[assignment]

        async def one() -> None:
            nonlocal successes
            started = time.monotonic()
            try:
                await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
                successes += 1
            except ToolError:
                pass
            durations.append(time.monotonic() - started)

        async with anyio.create_task_group() as group:
            for _ in range(calls):
                group.start_soon(one)
    return successes, durations, sum(r.status == 429 for r in proxy(server))


async def test_fifty_concurrent_calls_share_the_window(sandbox: SandboxServer) -> None:
    successes, durations, governed_429s = await _burst(sandbox, 50, governed=True)
    assert successes == 50
    assert max(durations) < 8.0, "no call ran past its deadline"
    _, _, plain_429s = await _burst(sandbox, 50, governed=False)
    assert plain_429s >= 20, "without the governor the burst must hit the limit hard"
    assert governed_429s * 5 <= plain_429s, (governed_429s, plain_429s)


# -- deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "max_wait", "message"),
    [
        ("120", 300.0, "past this call's 10 s deadline"),
        ("40", 10.0, "longer than the 10 s this server waits"),
    ],
)
async def test_a_wait_past_the_bounds_fails_at_once_with_a_clear_error(
    sandbox: SandboxServer, retry_after: str, max_wait: float, message: str
) -> None:
    async with open_runner(sandbox, deadline=10.0, max_wait=max_wait) as runner:
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=429, headers={"retry-after": retry_after})
        )
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as caught:
            await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
        assert time.monotonic() - started < 5.0, (
            "must not sleep only to fail (the wait asked for is 40 s or more)"
        )
        text = caught.value.agent_message()
        assert message in text and "Retry the call after" in text and text.count("Z") >= 1
        assert caught.value.details()["rate_limited"] is True and caught.value.details()["retry_after"]
        # Everyone is blocked now: the next call is refused without reaching the sandbox.
        if retry_after == "120":
            with pytest.raises(RateLimitedError, match="Nothing was sent"):
                await runner.call(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})
    assert len(proxy(sandbox)) == 1


# -- over MCP: progress, cancellation and logs ---------------------------------------------------


async def test_progress_notifications_while_waiting(sandbox: SandboxServer) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with spawn_server(server_env(sandbox)) as spawned:
        await spawned.client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=429, headers={"retry-after": "1"})
        )
        result = await spawned.client.call_tool(LIST_CUSTOMERS, {"limit": 1}, progress_callback=on_progress)
    assert not result.is_error
    assert seen == [(1, 5, "rate limited by Truto (429), retrying in 1.0 s, attempt 2 of 5")]


async def test_cancelling_a_call_stops_its_wait_and_sends_nothing_more(sandbox: SandboxServer) -> None:
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        await client.list_tools()
        sandbox.sandbox.faults.inject(
            Fault(path="/proxy/customers", status=429, headers={"retry-after": "2"})
        )
        with anyio.move_on_after(0.5) as scope:
            await client.call_tool(LIST_CUSTOMERS, {"limit": 1})
        assert scope.cancelled_caught, "the call was still waiting when it was cancelled"
        await anyio.sleep(2.2)  # past the moment the retry would have been sent
        assert [r.status for r in proxy(sandbox)] == [429], "no request after the cancelled wait"
        # The server is still serving: the next call goes through (the 429's wait has passed).
        after = await client.call_tool(LIST_CUSTOMERS, {"limit": 1})
        assert not after.is_error
        assert [r.status for r in proxy(sandbox)] == [429, 200]


async def test_every_retry_wait_and_replay_is_logged_without_the_key(sandbox: SandboxServer) -> None:
    faults = sandbox.sandbox.faults
    async with spawn_server(server_env(sandbox)) as spawned:
        client = spawned.client
        await client.list_tools()
        faults.inject(
            Fault(path="/proxy/customers", method="GET", status=429, headers={"retry-after": "0.2"})
        )
        assert not (await client.call_tool(LIST_CUSTOMERS, {"limit": 1})).is_error
        faults.inject(Fault(path="/proxy/customers", method="GET", status=502))
        assert not (await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})).is_error
        faults.inject(Fault(path="/proxy/customers", method="POST", drop_after_commit=True))
        created = await client.call_tool(CREATE_CUSTOMER, {"email": "logs@example.com"})
        again = await client.call_tool(CREATE_CUSTOMER, {"email": "logs@example.com"})
        assert not created.is_error and not again.is_error
        sandbox.sandbox.configure(rate_limit=1, rate_window=1.0)
        for _ in range(2):  # the second call waits for the window the first one spent
            assert not (await client.call_tool(GET_CUSTOMER, {"id": JANE_CUSTOMER_ID})).is_error
        log = spawned.stderr()
    assert sandbox.sandbox.store.count("customers", email="logs@example.com") == 1
    expected = [
        f"{LIST_CUSTOMERS}: rate limited by Truto (429), retrying in 0.2 s, attempt 2 of 5",
        f"{GET_CUSTOMER}: HTTP 502 from upstream, retrying in",
        f"{CREATE_CUSTOMER}: connection error, retrying in",
        f"{CREATE_CUSTOMER}: idempotent replay",
        f"{GET_CUSTOMER}: waiting",
    ]
    for line in expected:
        assert line in log, f"missing from the log: {line!r}"
    assert "for the rate-limit window to reset" in log
    assert_no_leak(log)

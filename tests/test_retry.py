"""The retry loop and idempotency keys, on a fake clock (no real sleeping)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from truto_stripe_mcp.errors import KeyInUseError, ToolError, TransportError, UpstreamError
from truto_stripe_mcp.pipeline.idempotency import IdempotencyKeys
from truto_stripe_mcp.upstream.client import ProxyRequest, ProxyResponse
from truto_stripe_mcp.upstream.governor import RateLimitedError, RateLimitGovernor, Wait
from truto_stripe_mcp.upstream.retry_policy import RetryPolicy
from truto_stripe_mcp.upstream.sender import RetryingSender

pytestmark = pytest.mark.anyio

GET = ProxyRequest(tool="list_all_stripe_customers", http_method="GET", path="/proxy/customers")
POST = ProxyRequest(
    tool="create_a_stripe_refund", http_method="POST", path="/proxy/refunds", body={}, idempotency_key="k1"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Script:
    """A sender that answers from a script and records what it was sent."""

    def __init__(self, answers: Sequence[ProxyResponse | Exception]) -> None:
        self.answers = list(answers)
        self.sent: list[ProxyRequest] = []
        self.time_left: list[float | None] = []

    async def send(self, request: ProxyRequest, *, time_left: float | None = None) -> ProxyResponse:
        self.sent.append(request)
        self.time_left.append(time_left)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def response(status: int, headers: dict[str, str] | None = None, body: object = None) -> ProxyResponse:
    return ProxyResponse(
        status=status, headers=headers or {}, body=body if body is not None else {"ok": status}
    )


def sender(script: Script, clock: FakeClock, **policy: float) -> RetryingSender:
    return RetryingSender(
        script,
        RetryPolicy(**policy),  # type: ignore[arg-type]
        RateLimitGovernor(clock=clock, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.5,
    )


async def test_429_waits_exactly_the_header_then_succeeds() -> None:
    clock = FakeClock()
    script = Script([response(429, {"retry-after": "3"}), response(200)])
    result = await sender(script, clock).send(GET)
    assert result.status == 200
    assert len(script.sent) == 2
    assert clock.slept == [3.0]


async def test_retry_after_http_date_and_reset_epoch() -> None:
    clock = FakeClock()
    reset_epoch = str(int(clock.now) + 5)
    script = Script([response(429, {"ratelimit-reset": reset_epoch}), response(200)])
    await sender(script, clock).send(GET)
    assert clock.slept and abs(sum(clock.slept) - 5.0) < 1e-6


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 503])
async def test_never_retried(status: int) -> None:
    clock = FakeClock()
    script = Script([response(status, body={"statusCode": status, "message": "no"})])
    with pytest.raises(UpstreamError) as caught:
        await sender(script, clock).send(GET)
    assert caught.value.status == status
    assert len(script.sent) == 1 and clock.slept == []


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_transient_statuses_are_retried_with_backoff(status: int) -> None:
    clock = FakeClock()
    script = Script([response(status), response(status), response(200)])
    result = await sender(script, clock, base_backoff=1.0, max_backoff=8.0).send(GET)
    assert result.ok and len(script.sent) == 3
    assert clock.slept == [0.5, 1.0]  # full jitter with rand=0.5: 0.5 * 1, 0.5 * 2


@pytest.mark.parametrize("status", [500, 503, 520])
async def test_a_5xx_from_stripe_is_retried_with_backoff_and_the_same_key(status: int) -> None:
    clock = FakeClock()
    failing = response(status, body={"statusCode": status, "truto_is_remote_error": True, "message": "x"})
    script = Script([failing, failing, response(200)])
    result = await sender(script, clock, base_backoff=1.0, max_backoff=8.0).send(POST)
    assert result.ok
    assert [r.idempotency_key for r in script.sent] == ["k1", "k1", "k1"]
    assert clock.slept == [0.5, 1.0]


async def test_a_failing_stripe_stops_at_max_attempts() -> None:
    clock = FakeClock()
    failing = response(500, body={"statusCode": 500, "truto_is_remote_error": True, "message": "x"})
    script = Script([failing] * 3)
    with pytest.raises(UpstreamError, match="HTTP 500 from Stripe: gave up after 3 attempts") as caught:
        await sender(script, clock, max_attempts=3).send(GET)
    assert caught.value.remote and len(script.sent) == 3


async def test_transport_errors_are_retried_and_keep_the_idempotency_key() -> None:
    clock = FakeClock()
    script = Script([TransportError("reset"), TransportError("timeout"), response(200)])
    await sender(script, clock).send(POST)
    assert [r.idempotency_key for r in script.sent] == ["k1", "k1", "k1"]


def key_in_use() -> ProxyResponse:
    body = {
        "statusCode": 409,
        "truto_is_remote_error": True,
        "message": "There is currently another in-progress request using this Idempotent Key",
        "raw_response": {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use"}},
    }
    return response(409, body=body)


async def test_a_key_still_in_use_is_resent_until_stripe_is_done_without_using_up_attempts() -> None:
    clock = FakeClock()
    script = Script([TransportError("timeout"), key_in_use(), key_in_use(), key_in_use(), response(200)])
    result = await sender(script, clock, max_attempts=2).send(POST)
    assert result.ok and len(script.sent) == 5
    assert {r.idempotency_key for r in script.sent} == {"k1"}
    assert clock.slept[1:] == [0.75, 0.75, 0.75], "0.5 to 1 s between resends (rand 0.5)"


async def test_a_key_still_in_use_at_the_deadline_says_the_request_may_still_complete() -> None:
    clock = FakeClock()
    script = Script([key_in_use()] * 20)
    with pytest.raises(KeyInUseError) as caught:
        await sender(script, clock, deadline=5.0).send(POST)
    assert 5 <= len(script.sent) <= 10
    assert caught.value.sent and caught.value.details()["status"] == 409
    assert "still processing an earlier create_a_stripe_refund request" in caught.value.agent_message()


async def test_each_attempt_may_take_only_the_time_left_to_the_deadline() -> None:
    clock = FakeClock()
    script = Script([response(502), response(502), response(200)])
    await sender(script, clock, deadline=10.0, base_backoff=2.0, max_backoff=2.0).send(GET)
    assert script.time_left == [10.0, 9.0, 8.0], "the deadline minus the 1 s backoffs slept so far"


async def test_mutation_without_a_key_is_refused() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="Idempotency-Key"):
        await sender(Script([]), clock).send(
            ProxyRequest(tool="t", http_method="POST", path="/proxy/refunds", body={})
        )


async def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    script = Script([response(502)] * 3)
    with pytest.raises(ToolError, match="after 3 attempts"):
        await sender(script, clock, max_attempts=3).send(GET)
    assert len(script.sent) == 3


async def test_deadline_gives_up_at_once_with_the_reset_time() -> None:
    clock = FakeClock()
    script = Script([response(429, {"retry-after": "120"})])
    with pytest.raises(RateLimitedError) as caught:
        await sender(script, clock, deadline=30.0, max_wait=300.0).send(GET)
    assert clock.slept == [], "must not sleep only to fail"
    text = caught.value.agent_message()
    assert "Rate limited" in text and "Z" in text and "retry" in text.lower()
    assert caught.value.reset_at == pytest.approx(clock.now + 120)


async def test_governor_holds_later_calls_until_the_reset() -> None:
    clock = FakeClock()
    script = Script(
        [
            response(200, {"ratelimit-limit": "2;w=10", "ratelimit-remaining": "0", "ratelimit-reset": "4"}),
            response(200),
        ]
    )
    retrying = sender(script, clock)
    await retrying.send(GET)
    await retrying.send(GET)
    assert clock.slept == [4.0], "the second call must wait for the window, not discover it with a 429"


async def test_governor_refuses_a_wait_past_the_deadline() -> None:
    clock = FakeClock()
    script = Script([response(429, {"retry-after": "20"})])
    retrying = sender(script, clock, deadline=60.0, max_wait=60.0)
    script.answers.append(response(200))
    await retrying.send(GET)  # waits 20 s, then succeeds
    retrying.governor.state.blocked_until = clock.now + 500
    with pytest.raises(RateLimitedError, match="Nothing was sent"):
        await retrying.send(GET)
    assert len(script.sent) == 2


async def test_waits_are_reported() -> None:
    clock = FakeClock()
    seen: list[Wait] = []

    async def listener(pause: Wait) -> None:
        seen.append(pause)

    script = Script([response(429, {"retry-after": "2"}), response(200)])
    await sender(script, clock, max_attempts=5).send(GET, on_wait=listener)
    assert len(seen) == 1
    assert seen[0].message() == "rate limited by Truto (429), retrying in 2.0 s, attempt 2 of 5"


async def test_idempotency_keys_dedupe_within_the_window() -> None:
    now = [0.0]
    keys = IdempotencyKeys(window=600, clock=lambda: now[0])
    first = await keys.choose("create_a_stripe_refund", {"charge": "ch_1", "amount": 5})
    await keys.settle(first, "settled")
    again = await keys.choose("create_a_stripe_refund", {"amount": 5, "charge": "ch_1"})
    assert again.key == first.key and again.reused and not first.reused
    other = await keys.choose("create_a_stripe_refund", {"charge": "ch_1", "amount": 6})
    assert other.key != first.key
    now[0] = 601.0
    later = await keys.choose("create_a_stripe_refund", {"charge": "ch_1", "amount": 5})
    assert later.key != first.key and not later.reused


async def test_a_definite_failure_frees_the_call_for_a_fresh_key() -> None:
    keys = IdempotencyKeys(window=600)
    first = await keys.choose("create_a_stripe_refund", {"charge": "ch_1"})
    await keys.settle(first, "failed", "Your card was declined.")
    again = await keys.choose("create_a_stripe_refund", {"charge": "ch_1"})
    assert again.key != first.key and not again.reused


async def test_idempotency_window_zero_and_explicit_keys() -> None:
    keys = IdempotencyKeys(window=0)
    assert (await keys.choose("t", {"a": 1})).key != (await keys.choose("t", {"a": 1})).key
    explicit = await keys.choose("t", {"a": 1}, explicit="agent-key-1")
    assert explicit.key == "agent-key-1" and explicit.explicit

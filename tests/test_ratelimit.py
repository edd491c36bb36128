"""Tests for truto_stripe_mcp.upstream.retry_policy: header parsing, classification, retry decisions, shared state."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from truto_stripe_mcp.upstream.rate_limit_headers import (
    EPOCH_THRESHOLD,
    RateLimitInfo,
    parse_rate_limit_headers,
    parse_ratelimit_limit,
    parse_ratelimit_remaining,
    parse_ratelimit_reset,
    parse_retry_after,
    reset_resolution,
)
from truto_stripe_mcp.upstream.retry_policy import (
    RetryDecision,
    RetryPolicy,
    backoff_delay,
    classify,
    format_epoch,
)
from truto_stripe_mcp.upstream.window import RateLimitState

RESET = datetime(2026, 11, 24, 20, 41, 7, tzinfo=UTC).timestamp()
NOW = RESET - 42.0  # 2026-11-24T20:40:25Z
RESET_ISO = "2026-11-24T20:41:07Z"
DATE_1994 = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------------------ Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0.25", 0.25),
        ("99999999999999999999", 1e20),  # huge but finite: the policy decides it is too long
        ("Tue, 24 Nov 2026 20:41:07 GMT", 42.0),  # IMF-fixdate
        ("Tuesday, 24-Nov-26 20:41:07 GMT", 42.0),  # obsolete RFC 850
        ("Tue Nov 24 20:41:07 2026", 42.0),  # asctime, implicitly UTC
        ("Tue, 24 Nov 2026 20:41:07 -0000", 42.0),  # zone-less form also read as UTC
        ("Tue, 24 Nov 2026 21:41:07 +0100", 42.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # past date clamps to 0
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),
        ("Sun Nov  6 08:49:37 1994", 0.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("-1", None),
        ("-0.5", None),
        ("+5", None),
        ("1e3", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("Infinity", None),
        ("1" * 400, None),  # overflows to inf
        ("abc", None),
        ("5 seconds", None),
        ("1.", None),
        (".5", None),
        ("1,5", None),
        ("٣", None),  # non-ASCII digit
        ("Mon, 32 Nov 2026 08:49:37 GMT", None),
        ("Tue, 24 Foo 2026 20:41:07 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    result = parse_retry_after(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_parse_retry_after_date_is_relative_to_now() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", DATE_1994 - 10) == pytest.approx(10.0)


# ------------------------------------------------------------------------------- ratelimit-reset


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60.0),
        ("0", 0.0),
        ("0.35", 0.35),
        (" 5 ", 5.0),
        (str(EPOCH_THRESHOLD), float(EPOCH_THRESHOLD)),  # at the threshold still a delay
        (str(int(RESET)), 42.0),  # absolute epoch
        (f"{RESET + 0.5:.1f}", 42.5),  # decimal epoch
        (str(int(NOW - 100)), 0.0),  # epoch in the past clamps
        (None, None),
        ("", None),
        ("-5", None),
        ("abc", None),
        ("nan", None),
        ("inf", None),
        ("1e9", None),
        ("60s", None),
        ("Tue, 24 Nov 2026 20:41:07 GMT", None),
    ],
)
def test_parse_ratelimit_reset(value: str | None, expected: float | None) -> None:
    result = parse_ratelimit_reset(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


# ------------------------------------------------------------------------------- ratelimit-limit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("110", (110, None)),
        (" 110 ", (110, None)),
        ("110;w=10", (110, 10.0)),
        ("110; w=10", (110, 10.0)),
        ("110 ; w = 10", (110, 10.0)),
        ("110;W=10", (110, 10.0)),
        ('110;w="10"', (110, 10.0)),
        ("110;w=0.5", (110, 0.5)),
        ("110;comment=x;w=10", (110, 10.0)),
        ("110;w=10;burst=5", (110, 10.0)),
        ("110, 110;w=10", (110, 10.0)),  # IETF list form: window from the matching policy
        ("110;w=1, 5000;w=3600", (110, 1.0)),  # first policy wins
        ("10, 10;w=1, 50;w=60", (10, 1.0)),
        ("110, 50;w=10", (110, None)),  # no policy matches the limit
        ("110;w=abc", (110, None)),
        ("110;w=0", (110, None)),
        ("110;w=-1", (110, None)),
        ("110;w", (110, None)),
        (None, (None, None)),
        ("", (None, None)),
        ("abc", (None, None)),
        ("-1", (None, None)),
        ("0", (None, None)),
        ("1.5", (None, None)),
        (";w=10", (None, None)),
        (", 110", (None, None)),
        ("٣", (None, None)),
    ],
)
def test_parse_ratelimit_limit(value: str | None, expected: tuple[int | None, float | None]) -> None:
    assert parse_ratelimit_limit(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5),
        ("0", 0),
        (" 42 ", 42),
        ("5;w=1", 5),
        ("5, 10;w=60", 5),
        (None, None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("abc", None),
        ("٣", None),
    ],
)
def test_parse_ratelimit_remaining(value: str | None, expected: int | None) -> None:
    assert parse_ratelimit_remaining(value) == expected


# ----------------------------------------------------------------------------------- all headers


def test_parse_rate_limit_headers_full() -> None:
    headers = {
        "ratelimit-limit": "110;w=10",
        "ratelimit-remaining": "3",
        "ratelimit-reset": "7",
        "retry-after": "10",
    }
    info = parse_rate_limit_headers(headers, NOW)
    assert info == RateLimitInfo(
        limit=110, window=10.0, remaining=3, reset_after=7.0, retry_after=10.0, observed_at=NOW
    )
    assert info.wait_seconds == 10.0  # Retry-After wins over ratelimit-reset
    assert info.reset_at == NOW + 10.0
    assert RateLimitInfo.from_headers(headers, NOW) == info


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "10", "ratelimit-reset": "3"}, 10.0),
        ({"retry-after": "1", "ratelimit-reset": "30"}, 1.0),
        ({"retry-after": "0", "ratelimit-reset": "30"}, 0.0),  # an explicit 0 still wins
        ({"retry-after": "garbage", "ratelimit-reset": "3"}, 3.0),  # unusable falls back
        ({"ratelimit-reset": "3"}, 3.0),
        ({"Retry-After": "10"}, 10.0),  # plain dict with canonical casing
        ({"RATELIMIT-RESET": "4"}, 4.0),
        ({}, None),
        (None, None),
        ({"ratelimit-remaining": "0"}, None),
    ],
)
def test_wait_precedence(headers: dict[str, str] | None, wait: float | None) -> None:
    assert parse_rate_limit_headers(headers, NOW).wait_seconds == wait


def test_empty_info_has_no_wait() -> None:
    info = RateLimitInfo()
    assert info.wait_seconds is None
    assert info.reset_at is None


# -------------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("status", "remote", "expected"),
    [
        (200, False, "ok"),
        (201, True, "ok"),
        (204, False, "ok"),
        (301, False, "ok"),
        (304, False, "ok"),
        (429, False, "rate_limited"),
        (429, True, "rate_limited"),
        (408, False, "transient"),
        (408, True, "transient"),
        (502, False, "transient"),
        (502, True, "transient"),
        (504, False, "transient"),
        (504, True, "transient"),
        (500, False, "transient"),
        (500, True, "transient"),
        (501, False, "transient"),
        (501, True, "transient"),
        (520, False, "transient"),
        (520, True, "transient"),
        (599, False, "transient"),
        (503, False, "fatal"),
        (503, True, "transient"),  # Stripe failing, not a blocked account
        (400, False, "fatal"),
        (400, True, "fatal"),
        (401, False, "fatal"),
        (402, True, "fatal"),
        (403, False, "fatal"),
        (404, False, "fatal"),
        (404, True, "fatal"),
        (405, False, "fatal"),
        (409, False, "fatal"),
        (409, True, "fatal"),
        (422, False, "fatal"),
        (100, False, "fatal"),
        (600, False, "fatal"),
    ],
)
def test_classify(status: int, remote: bool, expected: str) -> None:
    assert classify(status, remote_error=remote) == expected


@pytest.mark.parametrize("status", [None, 200, 404, 503])
def test_classify_transport_error_is_transient(status: int | None) -> None:
    assert classify(status, transport_error=True) == "transient"


def test_classify_no_status_is_transient() -> None:
    assert classify(None) == "transient"


# ----------------------------------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.0),
        (1, 0.5, 0.25),
        (1, 0.999999, 0.4999995),
        (2, 0.999999, 0.999999),
        (3, 0.5, 1.0),
        (4, 1.0, 4.0),
        (5, 1.0, 8.0),  # capped
        (6, 1.0, 8.0),
        (10_000, 0.5, 4.0),  # no overflow for absurd attempts
        (0, 1.0, 0.5),  # treated as the first attempt
        (1, -1.0, 0.0),  # rand clamped into [0, 1]
        (1, 2.0, 0.5),
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, 0.5, 8.0, rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (RESET, RESET_ISO),
        (RESET - 0.4, RESET_ISO),  # rounded up: "retry after" never early
        (0.0, "1970-01-01T00:00:00Z"),
        (1e20, None),
    ],
)
def test_format_epoch(epoch: float, expected: str | None) -> None:
    assert format_epoch(epoch) == expected


# ------------------------------------------------------------------------------------------ decide

POLICY = RetryPolicy()


def decide(
    *,
    attempt: int = 1,
    status: int | None = 429,
    headers: dict[str, str] | None = None,
    remote_error: bool = False,
    transport_error: bool = False,
    started_at: float = NOW,
    now: float = NOW,
    rand: float = 0.5,
    policy: RetryPolicy = POLICY,
) -> RetryDecision:
    return policy.decide(
        attempt=attempt,
        status=status,
        headers=headers,
        remote_error=remote_error,
        transport_error=transport_error,
        started_at=started_at,
        now=now,
        rand=rand,
    )


def test_policy_defaults() -> None:
    expected = (5, 30.0, 60.0, 0.5, 8.0, 1.0)
    actual = (
        POLICY.max_attempts,
        POLICY.max_wait,
        POLICY.deadline,
        POLICY.base_backoff,
        POLICY.max_backoff,
        POLICY.default_rate_limit_wait,
    )
    assert actual == expected


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"max_wait": -1.0}, {"deadline": math.inf}, {"base_backoff": math.nan}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_decide_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError):
        decide(attempt=0)


@pytest.mark.parametrize(
    ("status", "remote", "reason"),
    [
        (200, False, "success (HTTP 200)"),
        (404, True, "HTTP 404 Not Found"),
        (400, False, "HTTP 400 Bad Request"),
        (409, True, "HTTP 409 Conflict"),
        (503, False, "integrated account blocked (HTTP 503)"),
        (499, False, "HTTP 499"),
    ],
)
def test_decide_no_retry_for_ok_and_fatal(status: int, remote: bool, reason: str) -> None:
    d = decide(status=status, remote_error=remote, headers={"retry-after": "1"})
    assert (d.retry, d.delay, d.give_up, d.reason) == (False, 0.0, None, reason)
    assert d.kind == classify(status, remote_error=remote)


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after": "10"}, 10.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "Tue, 24 Nov 2026 20:41:07 GMT"}, 12.0),  # now is set 12 s before the date,
        ({"ratelimit-reset": "7"}, 7.0),
        ({"ratelimit-reset": "0.35"}, 0.35),
        ({"ratelimit-reset": str(int(NOW + 12))}, 12.0),
        ({"retry-after": "3", "ratelimit-reset": "20"}, 3.0),
        ({"retry-after": "bogus", "ratelimit-reset": "20"}, 20.0),
    ],
)
def test_decide_rate_limited_uses_header_wait(headers: dict[str, str], delay: float) -> None:
    now = RESET - delay if "GMT" in headers.get("retry-after", "") else NOW  # make the date `delay` away
    d = decide(status=429, headers=headers, remote_error=True, now=now, started_at=now, rand=0.9)
    assert d.retry is True
    assert d.delay == pytest.approx(delay)
    assert d.kind == "rate_limited"
    assert d.reason == "rate limited by Stripe (429)"
    assert d.give_up is None
    assert d.reset_at == pytest.approx(now + delay)


def test_decide_truto_rate_limit_reason() -> None:
    d = decide(status=429, headers={"Retry-After": "10"})
    assert (d.retry, d.delay, d.reason) == (True, 10.0, "rate limited by Truto (429)")


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_decide_rate_limited_without_headers_backs_off_from_default(attempt: int, delay: float) -> None:
    policy = RetryPolicy(max_attempts=10)
    for rand in (0.0, 0.999):
        d = decide(status=429, attempt=attempt, rand=rand, policy=policy)
        assert (d.retry, d.delay, d.reset_at) == (True, delay, None)
    assert decide(status=429, attempt=9, policy=policy).delay == 8.0  # capped at max_backoff


def test_decide_rate_limited_default_wait_above_cap() -> None:
    policy = RetryPolicy(default_rate_limit_wait=12.0, max_backoff=8.0)
    assert decide(status=429, attempt=3, policy=policy).delay == 12.0


@pytest.mark.parametrize(
    ("status", "remote", "transport", "reason"),
    [
        (502, False, False, "HTTP 502 from upstream"),
        (502, True, False, "HTTP 502 from Stripe"),
        (504, True, False, "HTTP 504 from Stripe"),
        (500, False, False, "HTTP 500 from upstream"),
        (500, True, False, "HTTP 500 from Stripe"),
        (503, True, False, "HTTP 503 from Stripe"),
        (408, False, False, "request timeout (HTTP 408)"),
        (None, False, True, "connection error"),
    ],
)
@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_decide_transient_full_jitter(
    status: int | None, remote: bool, transport: bool, reason: str, attempt: int, ceiling: float
) -> None:
    kw = {"status": status, "remote_error": remote, "transport_error": transport, "attempt": attempt}
    low = decide(rand=0.0, **kw)  # type: ignore[arg-type]
    high = decide(rand=0.999999, **kw)  # type: ignore[arg-type]
    mid = decide(rand=0.5, **kw)  # type: ignore[arg-type]
    assert low.retry and high.retry and mid.retry
    assert low.delay == 0.0
    assert high.delay == pytest.approx(ceiling * 0.999999)
    assert high.delay < ceiling
    assert mid.delay == pytest.approx(ceiling / 2)
    assert (mid.kind, mid.reason, mid.give_up, mid.reset_at) == ("transient", reason, None, None)


def test_decide_transient_backoff_cap() -> None:
    policy = RetryPolicy(max_attempts=20, deadline=600.0)
    assert decide(status=502, attempt=12, rand=0.999999, policy=policy).delay == pytest.approx(8.0 * 0.999999)


def test_decide_transient_honours_retry_after_only() -> None:
    d = decide(status=502, headers={"retry-after": "4"}, rand=0.0)
    assert (d.retry, d.delay, d.reset_at) == (True, 4.0, NOW + 4.0)
    # ratelimit-reset alone does not drive a transient wait: back off with jitter instead.
    d = decide(status=502, headers={"ratelimit-reset": "20"}, rand=0.0)
    assert (d.retry, d.delay, d.reset_at) == (True, 0.0, NOW + 20.0)


@pytest.mark.parametrize("status", [429, 502])
def test_decide_gives_up_after_max_attempts(status: int) -> None:
    for attempt in range(1, 5):
        assert decide(status=status, attempt=attempt, headers={"retry-after": "1"}).retry is True
    d = decide(status=status, attempt=5, headers={"retry-after": "1"})
    assert (d.retry, d.delay) == (False, 0.0)
    assert d.give_up is not None
    assert "after 5 attempts" in d.give_up
    assert d.reason.lower() in d.give_up.lower()
    assert decide(status=status, attempt=9).retry is False


def test_decide_attempt_counting_custom_max() -> None:
    policy = RetryPolicy(max_attempts=1)
    d = decide(status=502, attempt=1, policy=policy)
    assert d.retry is False
    assert d.give_up is not None and "after 1 attempts" in d.give_up
    policy = RetryPolicy(max_attempts=3)
    assert [decide(status=502, attempt=a, policy=policy).retry for a in (1, 2, 3)] == [True, True, False]


def test_decide_max_attempts_message_names_reset() -> None:
    d = decide(status=429, attempt=5, remote_error=True, headers={"ratelimit-reset": "42"})
    assert d.give_up == (
        f"Rate limited by Stripe (429): gave up after 5 attempts; the limit resets at {RESET_ISO} (in 42 s)."
        " Retry the call after that time."
    )
    assert d.reset_at == RESET


def test_decide_gives_up_when_wait_exceeds_max_wait() -> None:
    d = decide(status=429, remote_error=True, headers={"retry-after": "31"})
    assert d.retry is False and d.delay == 0.0
    assert d.give_up is not None
    assert "longer than the 30 s this server waits" in d.give_up
    assert d.give_up.startswith("Rate limited by Stripe (429): the limit resets at")
    assert d.reset_at == NOW + 31
    assert decide(status=429, headers={"retry-after": "30"}).retry is True  # exactly max_wait is fine


def test_decide_huge_retry_after_gives_up_without_crashing() -> None:
    d = decide(status=429, headers={"retry-after": "99999999999999999999"})
    assert d.retry is False
    assert d.give_up is not None and "this server asks again after at most 60 s" in d.give_up
    assert d.reset_at == NOW + 60, "the retry time the agent is told is the cap, not the header's"


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "1000000000"}, {"ratelimit-reset": "999999999"}, {"retry-after": "61"}],
    ids=["retry-after-31-years", "reset-read-as-31-years", "just-over"],
)
def test_decide_a_wait_past_the_block_cap_is_cut_to_it(headers: dict[str, str]) -> None:
    """A server asking for longer than ``max_block`` is asked again after the cap."""
    policy = RetryPolicy(max_wait=60.0, deadline=120.0)
    d = decide(status=429, headers=headers, policy=policy)
    assert (d.retry, d.delay, d.reset_at) == (True, 60.0, NOW + 60)
    small = RetryPolicy(max_block=2.0)
    assert decide(status=429, headers=headers, policy=small).delay == 2.0
    assert decide(status=502, headers=headers, policy=small).delay == (
        2.0 if "retry-after" in headers else 0.25
    )


def test_decide_a_capped_wait_that_is_still_too_long_says_both() -> None:
    d = decide(status=429, remote_error=True, headers={"retry-after": "1000000000"})
    assert d.give_up == (
        "Rate limited by Stripe (429): the server asked to wait about 32 years; this server asks again after"
        f" at most 60 s (at {format_epoch(NOW + 60)}), longer than the 30 s this server waits."
        " Retry the call after that time."
    )


def test_decide_a_key_still_in_use_is_resent_until_the_deadline_not_counted_as_an_attempt() -> None:
    conflict = {"status": 409, "remote_error": True}
    d = POLICY.decide(
        attempt=9,
        headers=None,
        transport_error=False,
        started_at=NOW,
        now=NOW,
        rand=0.5,
        error_code="idempotency_key_in_use",
        **conflict,  # type: ignore[arg-type]
    )
    assert (d.retry, d.kind, d.delay) == (True, "in_progress", 0.75)
    late = POLICY.decide(
        attempt=1,
        headers=None,
        transport_error=False,
        started_at=NOW - 59.5,
        now=NOW,
        rand=0.5,
        error_code="idempotency_key_in_use",
        **conflict,  # type: ignore[arg-type]
    )
    assert (late.retry, late.kind) == (False, "in_progress")
    assert (
        late.give_up is not None and "still in progress when this call's 60 s deadline came" in late.give_up
    )
    other = decide(status=409, remote_error=True)
    assert (other.retry, other.kind) == (False, "fatal"), "any other 409 is Stripe's final answer"


def test_decide_deadline_give_up_message() -> None:
    policy = RetryPolicy(deadline=30.0, max_wait=60.0)
    d = decide(status=429, remote_error=True, headers={"ratelimit-reset": str(int(RESET))}, policy=policy)
    assert d.retry is False and d.delay == 0.0
    assert d.give_up == (
        f"Rate limited by Stripe (429): the limit resets at {RESET_ISO} (in 42 s), which is past this"
        " call's 30 s deadline. Retry the call after that time."
    )
    assert d.reset_at == RESET


def test_decide_deadline_counts_from_call_start() -> None:
    # 55 s into a 60 s call: a 4 s wait fits, a 6 s wait does not.
    ok = decide(status=429, headers={"retry-after": "4"}, started_at=NOW - 55)
    late = decide(status=429, headers={"retry-after": "6"}, started_at=NOW - 55)
    assert ok.retry is True and ok.delay == 4.0
    assert late.retry is False and late.give_up is not None and "deadline" in late.give_up
    exact = decide(status=429, headers={"retry-after": "5"}, started_at=NOW - 55)
    assert exact.retry is True


def test_decide_deadline_already_passed() -> None:
    d = decide(status=502, started_at=NOW - 61, rand=0.0)
    assert d.retry is False
    assert d.give_up is not None and "deadline has passed" in d.give_up


def test_decide_transient_retry_after_message() -> None:
    d = decide(status=502, headers={"retry-after": "42"}, policy=RetryPolicy(max_wait=10.0))
    assert d.give_up == (
        f"HTTP 502 from upstream: the server asked to wait 42 s (until {RESET_ISO}), longer than the 10 s"
        " this server waits. Retry the call after that time."
    )


def test_decide_transient_without_reset_message() -> None:
    d = decide(status=None, transport_error=True, attempt=5)
    assert d.give_up is not None
    assert d.give_up.startswith("Connection error: gave up after 5 attempts.")
    assert "retry the call in a minute" in d.give_up


def test_decide_rate_limited_without_reset_message() -> None:
    d = decide(status=429, attempt=5)
    assert d.give_up == "Rate limited by Truto (429): gave up after 5 attempts. Retry the call in about 8 s."


def test_decide_property_invariants() -> None:
    rng = random.Random(1234)
    statuses = [None, 200, 400, 404, 408, 409, 429, 500, 502, 503, 504, 520]
    values = ["", "0", "1", "2.5", "-1", "nan", "abc", "29", "31", "1000", "Tue, 24 Nov 2026 20:41:07 GMT"]
    values += [str(int(NOW + 5)), str(int(NOW - 5)), "Sun Nov  6 08:49:37 1994", "99999999999999999999"]
    for _ in range(5000):
        policy = RetryPolicy(
            max_attempts=rng.randint(1, 8),
            max_wait=rng.choice([0.0, 1.0, 10.0, 30.0]),
            deadline=rng.choice([0.0, 5.0, 60.0]),
        )
        headers = {
            name: rng.choice(values)
            for name in ("retry-after", "ratelimit-reset", "ratelimit-remaining", "ratelimit-limit")
            if rng.random() < 0.5
        }
        started = NOW - rng.uniform(0, 90)
        status = rng.choice(statuses)
        d = policy.decide(
            attempt=rng.randint(1, 10),
            status=status,
            headers=headers,
            remote_error=rng.random() < 0.5,
            transport_error=status is None,
            started_at=started,
            now=NOW,
            rand=rng.random(),
        )
        assert 0.0 <= d.delay <= policy.max_wait
        if d.retry:
            assert d.kind in ("rate_limited", "transient")
            assert NOW + d.delay <= started + policy.deadline
            assert d.give_up is None
        else:
            assert d.delay == 0.0
            assert (d.give_up is None) == (d.kind in ("ok", "fatal"))


def test_parsers_never_raise_on_random_input() -> None:
    rng = random.Random(99)
    alphabet = "0123456789 .,;=-+wWeEnaifGMT:\"'\t"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        ra = parse_retry_after(text, NOW)
        rr = parse_ratelimit_reset(text, NOW)
        limit, window = parse_ratelimit_limit(text)
        rem = parse_ratelimit_remaining(text)
        assert ra is None or (math.isfinite(ra) and ra >= 0)
        assert rr is None or (math.isfinite(rr) and rr >= 0)
        assert limit is None or limit > 0
        assert window is None or (math.isfinite(window) and window > 0)
        assert rem is None or rem >= 0


# ------------------------------------------------------------------------------------ shared state


def info(now: float, **headers: str) -> RateLimitInfo:
    return parse_rate_limit_headers({k.replace("_", "-"): v for k, v in headers.items()}, now)


def test_unknown_state_lets_everything_through() -> None:
    state = RateLimitState()
    assert [state.reserve(NOW) for _ in range(100)] == [0.0] * 100
    assert state.remaining is None
    assert not state.is_blocked(NOW)


def test_thirty_callers_converge_on_the_limit() -> None:
    state = RateLimitState(limit=10, window=1.0, remaining=10, reset_at=NOW + 1.0)
    waits = [state.reserve(NOW) for _ in range(30)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == [pytest.approx(1.0)] * 20
    # The 20 waiters wake at the reset; the next 10 go, the rest wait one more window.
    t = NOW + 1.0
    waits = [state.reserve(t) for _ in range(20)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == [pytest.approx(1.0)] * 10
    t = NOW + 2.0
    assert [state.reserve(t) for _ in range(10)] == [0.0] * 10
    assert state.remaining == 0


def test_convergence_learned_from_first_response() -> None:
    state = RateLimitState()
    assert state.reserve(NOW) == 0.0  # nothing known: the first request probes
    state.observe(info(NOW, ratelimit_limit="10;w=1", ratelimit_remaining="9", ratelimit_reset="1"), 200, NOW)
    granted = [state.reserve(NOW) for _ in range(20)]
    assert granted.count(0.0) == 9
    assert all(w == pytest.approx(1.0) for w in granted if w)


def test_simulated_callers_never_exceed_rate() -> None:
    """30 callers looping reserve/sleep: at most `limit` requests start in any one window."""
    state = RateLimitState(limit=10, window=1.0, remaining=10, reset_at=NOW + 1.0)
    wake = [NOW] * 30
    sent: list[float] = []
    while len(sent) < 30:
        t = min(w for w in wake if w != math.inf)
        for i, w in enumerate(wake):
            if w == t:
                delay = state.reserve(t)
                if delay == 0.0:
                    sent.append(t)
                    wake[i] = math.inf
                else:
                    wake[i] = t + delay
    per_window = [sum(1 for s in sent if NOW + k <= s < NOW + k + 1) for k in range(3)]
    assert per_window == [10, 10, 10]


def test_refill_after_reset_and_window_roll() -> None:
    state = RateLimitState(limit=5, window=2.0, remaining=0, reset_at=NOW + 1.0)
    assert state.reserve(NOW) == pytest.approx(1.0)
    assert state.reserve(NOW + 1.0) == 0.0
    assert state.remaining == 4
    assert state.reset_at == pytest.approx(NOW + 3.0)
    # Long idle: the window rolls forward by whole windows, not into the past.
    assert state.reserve(NOW + 10.5) == 0.0
    assert state.reset_at == pytest.approx(NOW + 11.0)
    assert state.remaining == 4


def test_refill_without_window_forgets_reset() -> None:
    state = RateLimitState(limit=3, remaining=0, reset_at=NOW + 1.0)
    assert state.reserve(NOW) == pytest.approx(1.0)
    assert [state.reserve(NOW + 1) for _ in range(5)] == [0.0] * 5  # 3 counted, then unknown reset
    assert state.reset_at is None and state.remaining == 0


def test_refill_with_unknown_limit_becomes_unknown() -> None:
    state = RateLimitState(remaining=0, reset_at=NOW + 1.0)
    assert state.reserve(NOW) == pytest.approx(1.0)
    assert state.reserve(NOW + 1.0) == 0.0
    assert state.remaining is None


def test_429_blocks_everyone_until_retry_after() -> None:
    state = RateLimitState(limit=50, window=10.0, remaining=20, reset_at=NOW + 5)
    state.observe(info(NOW, retry_after="10"), 429, NOW)
    assert state.blocked_until == NOW + 10
    assert state.remaining == 0
    assert state.is_blocked(NOW + 9.9)
    assert state.reserve(NOW + 4) == pytest.approx(6.0)
    assert state.reserve(NOW + 10) == 0.0  # block over, window refilled
    assert state.remaining == 49


def test_429_without_headers_uses_default_block() -> None:
    state = RateLimitState(default_block=2.0)
    state.observe(RateLimitInfo(observed_at=NOW), 429, NOW)
    assert state.reserve(NOW) == pytest.approx(2.0)
    assert state.reserve(NOW + 2.0) == 0.0  # limit unknown: let through again


def test_429_block_only_extends() -> None:
    state = RateLimitState()
    state.observe(info(NOW, retry_after="10"), 429, NOW)
    state.observe(info(NOW + 1, retry_after="2"), 429, NOW + 1)  # shorter, later 429
    assert state.blocked_until == NOW + 10
    state.observe(info(NOW + 1, retry_after="20"), 429, NOW + 1)
    assert state.blocked_until == NOW + 21


@pytest.mark.parametrize(
    "headers",
    [
        {"retry_after": "1000000000"},
        {"ratelimit_reset": "999999999", "ratelimit_remaining": "0"},
        {"retry_after": "Fri, 31 Dec 9999 23:59:59 GMT"},
    ],
    ids=["retry-after-1e9", "reset-read-as-31-years", "http-date-in-9999"],
)
def test_a_429_asking_for_decades_blocks_for_the_cap_then_lets_the_server_say_again(
    headers: dict[str, str],
) -> None:
    state = RateLimitState(limit=10, window=1.0, remaining=5, reset_at=NOW + 1)
    state.observe(info(NOW, **headers), 429, NOW)
    assert state.reserve(NOW) == pytest.approx(60.0)
    assert state.reserve(NOW + 59) == pytest.approx(1.0)
    assert state.reserve(NOW + 60) == 0.0, "after the cap, a request goes out"
    short = RateLimitState()
    short.observe(info(NOW, **headers), 429, NOW, max_block=2.0)
    assert short.reserve(NOW, max_block=2.0) == pytest.approx(2.0)
    assert short.reserve(NOW + 2, max_block=2.0) == 0.0


def test_a_spent_window_said_to_reset_in_decades_waits_only_the_cap() -> None:
    state = RateLimitState()
    state.observe(
        info(NOW, ratelimit_limit="100", ratelimit_remaining="0", ratelimit_reset="999999999"), 200, NOW
    )
    assert state.reserve(NOW) == pytest.approx(60.0)
    assert state.reserve(NOW + 60) == 0.0


def test_a_decades_long_window_or_an_old_stored_block_is_held_to_the_cap() -> None:
    """A window of ``w=1000000000`` rolled forward, or a block stored by a server without the cap
    (or with a longer one), never makes anyone wait past the cap from now."""
    rolled = RateLimitState(limit=1, window=1e9, remaining=0, reset_at=NOW)
    assert rolled.reserve(NOW) == 0.0 and rolled.reserve(NOW) == pytest.approx(60.0)
    stored = RateLimitState.from_json(RateLimitState(blocked_until=NOW + 1e9, reset_at=NOW + 1e9).to_json())
    assert stored.reserve(NOW, max_block=5.0) == pytest.approx(5.0)
    assert stored.reserve(NOW + 5, max_block=5.0) == 0.0


def test_429_uses_reset_when_no_retry_after() -> None:
    state = RateLimitState()
    state.observe(info(NOW, ratelimit_reset="3", ratelimit_remaining="0", ratelimit_limit="25"), 429, NOW)
    assert state.reserve(NOW) == pytest.approx(3.0)
    assert state.reserve(NOW + 3) == 0.0
    assert state.remaining == 24


def test_out_of_order_response_does_not_undo_reservations() -> None:
    state = RateLimitState()
    state.observe(info(NOW, ratelimit_limit="10;w=1", ratelimit_remaining="9", ratelimit_reset="1"), 200, NOW)
    for _ in range(5):
        assert state.reserve(NOW) == 0.0
    assert state.remaining == 4
    # A slow response from early in the same window says 8 left: keep our lower estimate.
    state.observe(info(NOW + 0.1, ratelimit_remaining="8", ratelimit_reset="1"), 200, NOW + 0.1)
    assert state.remaining == 4
    # Another process used more: a lower server figure wins.
    state.observe(info(NOW + 0.2, ratelimit_remaining="2", ratelimit_reset="1"), 200, NOW + 0.2)
    assert state.remaining == 2


def test_new_window_response_replaces_estimate() -> None:
    state = RateLimitState(limit=10, window=10.0, remaining=0, reset_at=NOW + 1)
    state.observe(info(NOW + 0.5, ratelimit_remaining="7", ratelimit_reset="9"), 200, NOW + 0.5)
    assert state.remaining == 7
    assert state.reset_at == pytest.approx(NOW + 9.5)


def test_stale_response_from_previous_window_is_ignored() -> None:
    state = RateLimitState(limit=10, window=10.0, remaining=10, reset_at=NOW + 1)
    assert state.reserve(NOW + 1) == 0.0  # rolls to the next window: reset NOW+11, remaining 9
    assert state.reset_at == pytest.approx(NOW + 11)
    # Response to a request sent in the old window, reporting its old reset.
    state.observe(info(NOW + 1.05, ratelimit_remaining="0", ratelimit_reset="0"), 200, NOW + 1.05)
    assert state.remaining == 9
    assert state.reset_at == pytest.approx(NOW + 11)


def test_observe_without_reset_uses_window_bound() -> None:
    state = RateLimitState()
    state.observe(info(NOW, ratelimit_limit="10;w=2", ratelimit_remaining="0"), 200, NOW)
    assert state.reserve(NOW) == pytest.approx(2.0)
    assert state.reserve(NOW + 2) == 0.0
    assert state.remaining == 9


def test_observe_remaining_without_any_timing_is_advisory() -> None:
    state = RateLimitState()
    state.observe(info(NOW, ratelimit_remaining="0"), 200, NOW)
    assert state.reserve(NOW) == 0.0  # no idea when it refills: the server decides
    state.observe(info(NOW, ratelimit_remaining="5"), 200, NOW)
    assert state.remaining == 5  # no window known: the latest figure wins


def test_success_does_not_lift_block() -> None:
    state = RateLimitState()
    state.observe(info(NOW, retry_after="5"), 429, NOW)
    state.observe(info(NOW + 1, ratelimit_remaining="50", ratelimit_reset="9"), 200, NOW + 1)
    assert state.is_blocked(NOW + 1)
    assert state.reserve(NOW + 1) == pytest.approx(4.0)


def test_snapshot() -> None:
    state = RateLimitState(limit=10, window=1.0, remaining=3, reset_at=NOW + 1)
    assert state.snapshot() == {
        "limit": 10,
        "window": 1.0,
        "remaining": 3,
        "reset_at": NOW + 1,
        "blocked_until": 0.0,
    }


def test_state_property_random_traffic() -> None:
    """Random interleavings never raise, never return a negative wait, never count below zero."""
    rng = random.Random(7)
    for _ in range(200):
        state = RateLimitState()
        t = NOW
        for _ in range(100):
            t += rng.uniform(0, 0.5)
            if rng.random() < 0.6:
                wait = state.reserve(t)
                assert wait >= 0.0 and math.isfinite(wait)
            else:
                headers = {
                    "ratelimit-limit": rng.choice(["10;w=1", "25", "garbage", "5, 5;w=2"]),
                    "ratelimit-remaining": str(rng.randint(0, 12)),
                    "ratelimit-reset": rng.choice(["0", "1", "0.4", str(int(t + 2)), "x"]),
                }
                if rng.random() < 0.3:
                    headers["retry-after"] = rng.choice(["1", "0", "2.5", "nope"])
                status = rng.choice([200, 200, 200, 429, 502])
                state.observe(parse_rate_limit_headers(headers, t), status, t)
            assert state.remaining is None or state.remaining >= 0


# ------------------------------------------------------- windows told apart (generations, resolution)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1.0), ("60", 1.0), ("0.35", 0.01), ("0.5", 0.1), (str(int(NOW)), 1.0), ("x", None), (None, None)],
)
def test_reset_resolution(value: str | None, expected: float | None) -> None:
    assert reset_resolution(value) == expected


def test_whole_second_resets_do_not_push_the_window_out() -> None:
    """With "reset: 1" on a one-second window every response of the window says "1": the earliest is right."""
    state = RateLimitState()
    generation = state.generation
    for k, t in enumerate([NOW, NOW + 0.3, NOW + 0.6, NOW + 0.9]):
        headers = {"ratelimit-limit": "50;w=1", "ratelimit-remaining": str(49 - k), "ratelimit-reset": "1"}
        state.observe(parse_rate_limit_headers(headers, t), 200, t, generation)
    assert state.reset_at == pytest.approx(NOW + 1.0)
    assert state.remaining == 46
    assert state.generation == generation


def test_the_first_figure_of_a_new_window_replaces_the_guess() -> None:
    """A window that opens on the next request ends later than the guess: the server's figure wins."""
    state = RateLimitState(limit=10, window=1.0, remaining=0, reset_at=NOW + 1.0)
    assert state.reserve(NOW + 1.2) == 0.0  # rolls: new window, guessed to end at NOW + 2
    generation = state.generation
    assert state.reset_guessed and state.reset_at == pytest.approx(NOW + 2.0)
    state.observe(info(NOW + 1.25, ratelimit_remaining="9", ratelimit_reset="1"), 200, NOW + 1.25, generation)
    assert state.reset_at == pytest.approx(NOW + 2.25) and not state.reset_guessed
    assert state.remaining == 9


def test_a_response_from_an_earlier_window_changes_nothing() -> None:
    state = RateLimitState(limit=10, window=1.0, remaining=0, reset_at=NOW + 1.0)
    old = state.generation
    assert state.reserve(NOW + 1.0) == 0.0
    state.observe(info(NOW + 1.01, ratelimit_remaining="0", ratelimit_reset="1"), 200, NOW + 1.01, old)
    assert state.remaining == 9 and state.reset_at == pytest.approx(NOW + 2.0)


def test_a_stale_429_still_blocks_everyone() -> None:
    state = RateLimitState(limit=10, window=1.0, remaining=5, reset_at=NOW + 1.0)
    state.observe(info(NOW, retry_after="1"), 429, NOW, state.generation - 1)
    assert state.reserve(NOW + 0.5) == pytest.approx(0.5)


def test_the_first_figure_counts_requests_still_in_flight() -> None:
    """20 requests went out before anything was known; the first answer cannot count the other 19."""
    state = RateLimitState()
    assert [state.reserve(NOW) for _ in range(20)] == [0.0] * 20
    state.observe(
        info(NOW, ratelimit_limit="50;w=1", ratelimit_remaining="49", ratelimit_reset="1"), 200, NOW, 0
    )
    assert state.remaining == 30
    state.observe(info(NOW, ratelimit_remaining="40", ratelimit_reset="1"), 200, NOW, 0)
    assert state.remaining == 30, "later answers of the burst only lower the count"


def test_retry_after_beats_a_later_reset_on_a_429() -> None:
    state = RateLimitState()
    state.observe(info(NOW, retry_after="1", ratelimit_reset="20", ratelimit_limit="5"), 429, NOW, 0)
    assert state.reserve(NOW + 0.5) == pytest.approx(0.5)
    assert state.reserve(NOW + 1.0) == 0.0, "Retry-After said one second, not twenty"

"""The retry policy for Truto -> Stripe calls: which answers to retry, and after how long.

Truto's Proxy API passes 429s and upstream errors straight through and never retries, so this
server decides, in one small object with clear knobs (:class:`RetryPolicy`). Pure: no I/O, no
sleeping, no clock reads; ``now`` (Unix epoch seconds) and a random value are always passed in,
which keeps the policy deterministic under test. The sender (:mod:`.sender`) sleeps and resends
around it; the headers are read by :mod:`.rate_limit_headers`, the shared window estimate is in
:mod:`.window`.
"""

from __future__ import annotations

import http
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from .rate_limit_headers import DEFAULT_MAX_BLOCK, RateLimitInfo

Kind = Literal["rate_limited", "transient", "in_progress", "fatal", "ok"]

KEY_IN_USE = "idempotency_key_in_use"
"""Stripe's error code for a request whose Idempotency-Key an unfinished request still holds."""


def classify(
    status: int | None,
    *,
    remote_error: bool = False,
    transport_error: bool = False,
    error_code: str | None = None,
) -> Kind:
    """Map a Truto response to what we should do about it (rules from truto-api.md, "Errors").

    No status (connect error, read timeout, reset) is transient. Every 5xx is transient (Stripe
    failing, a gateway, Truto itself) except a 503 without ``remote_error``: Truto uses that for a
    blocked integrated account, which no retry fixes. A 503 Stripe sent is Stripe failing, and
    retried like any other. A 409 ``idempotency_key_in_use`` is Stripe still processing an earlier
    request with the same key (our own retry raced it, or an identical call with the same key is in
    flight): resending the same key once it is done returns that request's outcome. Other 4xx
    except 408 and 429 are fatal.
    """
    if transport_error or status is None:
        return "transient"
    if 200 <= status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status == 409 and error_code == KEY_IN_USE:
        return "in_progress"
    if status == 408:
        return "transient"
    if 500 <= status < 600:
        return "fatal" if status == 503 and not remote_error else "transient"
    return "fatal"


def backoff_delay(attempt: int, base: float, cap: float, rand: float) -> float:
    """Exponential backoff with full jitter: ``rand * min(cap, base * 2**(attempt-1))``.

    Full jitter spreads concurrent retries over the whole interval so they do not collide again.
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 62))
    return min(max(rand, 0.0), 1.0) * max(ceiling, 0.0)


def format_epoch(epoch: float) -> str | None:
    """ISO 8601 UTC (``2026-11-24T20:41:07Z``), rounded up so "retry after" it is never early."""
    try:
        return datetime.fromtimestamp(math.ceil(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 1 else f"{math.ceil(seconds)} s"


def _fmt_long(seconds: float) -> str:
    """A wait a person can picture: ``1000000000 s`` -> ``about 31 years``; short ones in seconds."""
    for unit, size in (("years", 365.25 * 86_400), ("days", 86_400), ("hours", 3_600)):
        if seconds >= 2 * size:
            return f"about {seconds / size:.0f} {unit}"
    return _fmt_seconds(seconds)


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt. ``stopped`` is set only when bounds stopped a retry."""

    retry: bool
    delay: float
    reason: str
    stopped: str | None
    """Why the bounds stopped the retry, as a sentence (without what to do about it)."""
    reset_at: float | None
    kind: Kind
    hint: str = ""
    """What the caller can do about it (``Retry the call after that time.``)."""

    @property
    def give_up(self) -> str | None:
        """The whole give-up text: why, then what to do."""
        return None if self.stopped is None else " ".join(p for p in (self.stopped, self.hint) if p)


def _reason(kind: Kind, status: int | None, remote_error: bool, transport_error: bool) -> str:
    if transport_error or status is None:
        return "connection error"
    source = "Stripe" if remote_error else "upstream"
    if kind == "ok":
        return f"success (HTTP {status})"
    if kind == "in_progress":
        return f"an earlier request with this Idempotency-Key is still in progress (HTTP 409 {KEY_IN_USE})"
    if kind == "rate_limited":
        return f"rate limited by {'Stripe' if remote_error else 'Truto'} (429)"
    if status == 408:
        return "request timeout (HTTP 408)"
    if status == 503 and not remote_error:
        return "integrated account blocked (HTTP 503)"
    if status >= 500:
        return f"HTTP {status} from {source}"
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


@dataclass(frozen=True)
class RetryPolicy:
    """All retry knobs in one place. Waits never exceed ``max_wait`` nor run past the call's deadline."""

    max_attempts: int = 5  # total attempts, including the first
    max_wait: float = 30.0  # longest single wait; a longer required wait gives up at once
    deadline: float = 60.0  # seconds per tool call, measured from its start
    base_backoff: float = 0.5
    max_backoff: float = 8.0
    default_rate_limit_wait: float = 1.0  # a 429 that carries no usable header
    max_block: float = DEFAULT_MAX_BLOCK  # a server's longer wait is cut to this, then it is asked again
    in_progress_wait: float = 1.0  # between resends of a key Stripe still holds (409), jittered

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        knobs = (self.max_wait, self.deadline, self.base_backoff, self.max_backoff, self.in_progress_wait)
        if not all(math.isfinite(x) and x >= 0 for x in (*knobs, self.default_rate_limit_wait)):
            raise ValueError("waits and deadlines must be finite and non-negative")
        if not (math.isfinite(self.max_block) and self.max_block > 0):
            raise ValueError("max_block must be finite and positive")

    def decide(
        self,
        *,
        attempt: int,
        status: int | None,
        headers: Mapping[str, str] | None,
        remote_error: bool,
        transport_error: bool,
        started_at: float,
        now: float,
        rand: float,
        error_code: str | None = None,
        deadline_at: float | None = None,
    ) -> RetryDecision:
        """Decide whether attempt number ``attempt`` (1-based, just failed) gets a successor, and when.

        ``deadline_at`` is when the call must end (default: ``started_at`` plus ``deadline``).
        ``attempt`` counts toward ``max_attempts``; an answer saying Stripe is still processing the
        key (``in_progress``) does not, and is resent until the deadline.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        kind = classify(
            status, remote_error=remote_error, transport_error=transport_error, error_code=error_code
        )
        reason = _reason(kind, status, remote_error, transport_error)
        info = RateLimitInfo.from_headers(headers, now)
        reset_at = info.reset_at
        if reset_at is not None and reset_at > now + self.max_block:
            reset_at = now + self.max_block  # this server asks again then, whatever the header said
        if kind in ("ok", "fatal"):
            return RetryDecision(False, 0.0, reason, None, reset_at, kind)

        wait_until = info.reset_at  # what the give-up message may quote
        if kind == "in_progress":
            delay, wait_until = self.in_progress_wait * (0.5 + min(max(rand, 0.0), 1.0) / 2), None
        elif kind == "rate_limited":
            delay = info.wait_seconds
            if delay is None:
                cap = max(self.max_backoff, self.default_rate_limit_wait)
                delay = min(cap, self.default_rate_limit_wait * 2.0 ** min(attempt - 1, 62))
        elif info.retry_after is not None:
            delay = info.retry_after
        else:
            delay, wait_until = backoff_delay(attempt, self.base_backoff, self.max_backoff, rand), None
        asked = None
        if delay > self.max_block:  # a server asking for longer than this server ever holds off
            asked, delay, wait_until = delay, self.max_block, now + self.max_block

        end = deadline_at if deadline_at is not None else started_at + self.deadline
        bounds = _Bounds(self, kind, reason, now, end)
        stopped = bounds.stopped(attempt, delay, wait_until, asked)
        if stopped is not None:
            return RetryDecision(False, 0.0, reason, stopped, reset_at, kind, bounds.hint(delay, wait_until))
        return RetryDecision(True, delay, reason, None, reset_at, kind)


@dataclass(frozen=True)
class _Bounds:
    """The bounds one decision is checked against, and the plain-English sentences it gives up with."""

    policy: RetryPolicy
    kind: Kind
    reason: str
    now: float
    end: float

    def stopped(self, attempt: int, delay: float, reset_at: float | None, asked: float | None) -> str | None:
        """Why a bound stops the retry (a sentence for the agent), else None."""
        policy = self.policy
        head = self.reason[0].upper() + self.reason[1:]
        deadline = _fmt_seconds(policy.deadline)
        left = self.end - self.now
        if self.kind == "in_progress":
            if delay > left:
                return f"{head}: it was still in progress when this call's {deadline} deadline came."
            return None
        when = self._when(delay, reset_at, asked)
        if attempt >= policy.max_attempts:
            tail = f"; {when}" if reset_at is not None else ""
            return f"{head}: gave up after {attempt} attempts{tail}."
        if delay > policy.max_wait:
            return f"{head}: {when}, longer than the {_fmt_seconds(policy.max_wait)} this server waits."
        if delay > left:
            if left <= 0:
                return f"{head}: this call's {deadline} deadline has passed."
            return f"{head}: {when}, which is past this call's {deadline} deadline."
        return None

    def _when(self, delay: float, reset_at: float | None, asked: float | None) -> str:
        iso = format_epoch(reset_at) if reset_at is not None else None
        if reset_at is None:
            return f"the next retry would wait {_fmt_seconds(delay)}"
        if asked is not None:
            at = f" (at {iso})" if iso else ""
            return (
                f"the server asked to wait {_fmt_long(asked)}; this server asks again after at most "
                f"{_fmt_seconds(delay)}{at}"
            )
        if self.kind == "rate_limited":
            span = _fmt_seconds(reset_at - self.now)
            return f"the limit resets at {iso} (in {span})" if iso else f"the limit resets in {span}"
        until = f" (until {iso})" if iso else ""
        return f"the server asked to wait {_fmt_seconds(reset_at - self.now)}{until}"

    def hint(self, delay: float, reset_at: float | None) -> str:
        """What the agent can do: when to retry."""
        if self.kind == "in_progress":
            return "It may still complete."
        if reset_at is not None and format_epoch(reset_at) is not None:
            return "Retry the call after that time."
        if self.kind == "rate_limited":
            return f"Retry the call in about {_fmt_seconds(max(delay, 1.0))}."
        return "The upstream looks unhealthy; retry the call in a minute or so."

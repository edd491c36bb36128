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

from .rate_limit_headers import RateLimitInfo

Kind = Literal["rate_limited", "transient", "fatal", "ok"]


def classify(status: int | None, *, remote_error: bool = False, transport_error: bool = False) -> Kind:
    """Map a Truto response to what we should do about it (rules from truto-api.md, "Errors").

    No status (connect error, read timeout, reset) is transient. Every 5xx is transient (Stripe
    failing, a gateway, Truto itself) except a 503 without ``remote_error``: Truto uses that for a
    blocked integrated account, which no retry fixes. A 503 Stripe sent is Stripe failing, and
    retried like any other. 4xx other than 408 and 429 are fatal.
    """
    if transport_error or status is None:
        return "transient"
    if 200 <= status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
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


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt. ``give_up`` is set only when bounds stopped a retry."""

    retry: bool
    delay: float
    reason: str
    give_up: str | None
    reset_at: float | None
    kind: Kind


def _reason(kind: Kind, status: int | None, remote_error: bool, transport_error: bool) -> str:
    if transport_error or status is None:
        return "connection error"
    source = "Stripe" if remote_error else "upstream"
    if kind == "ok":
        return f"success (HTTP {status})"
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

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        knobs = (self.max_wait, self.deadline, self.base_backoff, self.max_backoff)
        if not all(math.isfinite(x) and x >= 0 for x in (*knobs, self.default_rate_limit_wait)):
            raise ValueError("waits and deadlines must be finite and non-negative")

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
    ) -> RetryDecision:
        """Decide whether attempt number ``attempt`` (1-based, just failed) gets a successor, and when."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        kind = classify(status, remote_error=remote_error, transport_error=transport_error)
        reason = _reason(kind, status, remote_error, transport_error)
        info = RateLimitInfo.from_headers(headers, now)
        if kind in ("ok", "fatal"):
            return RetryDecision(False, 0.0, reason, None, info.reset_at, kind)

        wait_until = info.reset_at  # what the give-up message may quote
        if kind == "rate_limited":
            delay = info.wait_seconds
            if delay is None:
                cap = max(self.max_backoff, self.default_rate_limit_wait)
                delay = min(cap, self.default_rate_limit_wait * 2.0 ** min(attempt - 1, 62))
        elif info.retry_after is not None:
            delay = info.retry_after
        else:
            delay, wait_until = backoff_delay(attempt, self.base_backoff, self.max_backoff, rand), None

        give_up = self._bounds(kind, reason, attempt, delay, wait_until, started_at, now)
        if give_up is not None:
            return RetryDecision(False, 0.0, reason, give_up, info.reset_at, kind)
        return RetryDecision(True, delay, reason, None, info.reset_at, kind)

    def _bounds(
        self,
        kind: Kind,
        reason: str,
        attempt: int,
        delay: float,
        reset_at: float | None,
        started_at: float,
        now: float,
    ) -> str | None:
        """A plain-English give-up sentence for the agent when a bound stops the retry, else None."""
        head = reason[0].upper() + reason[1:]
        iso = format_epoch(reset_at) if reset_at is not None else None
        if reset_at is None:
            when = f"the next retry would wait {_fmt_seconds(delay)}"
        elif kind == "rate_limited":
            span = _fmt_seconds(reset_at - now)
            when = f"the limit resets at {iso} (in {span})" if iso else f"the limit resets in {span}"
        else:
            until = f" (until {iso})" if iso else ""
            when = f"the server asked to wait {_fmt_seconds(reset_at - now)}{until}"
        if iso is not None:
            hint = "Retry the call after that time."
        elif kind == "rate_limited":
            hint = f"Retry the call in about {_fmt_seconds(max(delay, 1.0))}."
        else:
            hint = "The upstream looks unhealthy; retry the call in a minute or so."

        if attempt >= self.max_attempts:
            tail = f"; {when}" if reset_at is not None else ""
            return f"{head}: gave up after {attempt} attempts{tail}. {hint}"
        if delay > self.max_wait:
            return f"{head}: {when}, longer than the {_fmt_seconds(self.max_wait)} this server waits. {hint}"
        left = started_at + self.deadline - now
        if delay > left:
            if left <= 0:
                return f"{head}: this call's {_fmt_seconds(self.deadline)} deadline has passed. {hint}"
            return f"{head}: {when}, which is past this call's {_fmt_seconds(self.deadline)} deadline. {hint}"
        return None

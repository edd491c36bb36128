"""Rate-limit header parsing and retry policy for Truto -> Stripe calls.

Truto's Proxy API passes 429s and upstream errors straight through and never retries, so this
server decides whether to retry and how long to wait. Everything here is pure: no I/O, no sleeping,
no clock reads. ``now`` (Unix epoch seconds) and a random value are always passed in, which keeps
the policy deterministic under test. The async code that sleeps is built around these pieces; the shared window estimate is in
:mod:`~truto_stripe_mcp.ratelimit_state`.
"""

from __future__ import annotations

import http
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

__all__ = [
    "EPOCH_THRESHOLD",
    "Kind",
    "RateLimitInfo",
    "RetryDecision",
    "RetryPolicy",
    "backoff_delay",
    "classify",
    "format_epoch",
    "parse_rate_limit_headers",
    "parse_ratelimit_limit",
    "parse_ratelimit_remaining",
    "parse_ratelimit_reset",
    "parse_retry_after",
    "reset_resolution",
]

Kind = Literal["rate_limited", "transient", "fatal", "ok"]

#: A ``ratelimit-reset`` larger than this is an absolute Unix time, not a delay (10**9 s is ~31 years).
EPOCH_THRESHOLD = 10**9

# No sign, no exponent: RFC delay-seconds plus a decimal tail. ASCII so int()/float() agree with the regex.
_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_INT = re.compile(r"\d+", re.ASCII)


# Header parsing: never raises, returns None for anything unusable.


def _number(value: str | None) -> float | None:
    """A finite non-negative decimal, or None; the strict grammar rejects '-1', '1e3', 'nan', 'inf'."""
    if value is None:
        return None
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return None
    result = float(text)
    return result if math.isfinite(result) else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait per an RFC 9110 ``Retry-After`` (delay-seconds or any HTTP-date form).

    A date in the past means "retry now" (0.0). A date without a zone (asctime) is UTC, as the RFC says.
    """
    seconds = _number(value)
    if seconds is not None or value is None or not value.strip():
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return max(0.0, delay) if math.isfinite(delay) else None


def parse_ratelimit_reset(value: str | None, now: float) -> float | None:
    """Seconds until the window resets. Truto documents a delay, some write-ups an epoch: accept both."""
    number = _number(value)
    if number is None:
        return None
    return max(0.0, number - now) if number > EPOCH_THRESHOLD else number


def reset_resolution(value: str | None) -> float | None:
    """How coarse a ``ratelimit-reset`` value is: 1.0 for whole seconds, 0.01 for ``0.35`` ...

    Servers round the reset up to their resolution, so two responses from one window may
    disagree by up to this much; the shared state must not mistake that for a new window.
    """
    text = (value or "").strip()
    if not _NUMBER.fullmatch(text):
        return None
    _, _, decimals = text.partition(".")
    return 10.0 ** -len(decimals) if decimals else 1.0


def parse_ratelimit_limit(value: str | None) -> tuple[int | None, float | None]:
    """``110`` -> (110, None); ``110;w=10`` -> (110, 10.0); list forms use the first item.

    In the IETF list form (``110, 110;w=10``) the first item is the limit and later items are its
    policies, so when the first item has no ``w`` the window comes from a later item with the same quota.
    """
    if value is None:
        return None, None
    items = [[part.strip() for part in item.split(";")] for item in value.split(",")]
    if not _INT.fullmatch(items[0][0]) or int(items[0][0]) <= 0:
        return None, None
    limit = int(items[0][0])
    for item in items:
        if _INT.fullmatch(item[0]) and int(item[0]) == limit:
            for param in item[1:]:
                key, _, raw = param.partition("=")
                window = _number(raw.strip().strip('"')) if key.strip().lower() == "w" else None
                if window:
                    return limit, window
    return limit, None


def parse_ratelimit_remaining(value: str | None) -> int | None:
    """Requests left in the window (first list item, parameters ignored), or None if unusable."""
    if value is None:
        return None
    item = value.split(",", 1)[0].split(";", 1)[0].strip()
    return int(item) if _INT.fullmatch(item) else None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Look ``name`` up lower-cased; fall back to a scan so a plain dict with 'Retry-After' also works."""
    if not headers:
        return None
    found = headers.get(name)
    if found is not None:
        return found
    return next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None)


@dataclass(frozen=True)
class RateLimitInfo:
    """What one response's headers said about the rate limit, relative to ``observed_at``."""

    limit: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset_after: float | None = None
    retry_after: float | None = None
    observed_at: float = 0.0
    #: Resolution of the ``ratelimit-reset`` header (see :func:`reset_resolution`); not part of equality.
    reset_resolution: float | None = field(default=None, compare=False)

    @property
    def wait_seconds(self) -> float | None:
        """How long the server wants us to wait: Retry-After wins over ratelimit-reset (RFC 9110)."""
        return self.retry_after if self.retry_after is not None else self.reset_after

    @property
    def reset_at(self) -> float | None:
        """Epoch when waiting is over, if the headers said."""
        wait = self.wait_seconds
        return None if wait is None else self.observed_at + wait

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None, now: float) -> RateLimitInfo:
        """Parse ``retry-after`` and the three ``ratelimit-*`` headers Truto normalises to."""
        limit, window = parse_ratelimit_limit(_header(headers, "ratelimit-limit"))
        reset = _header(headers, "ratelimit-reset")
        return cls(
            limit=limit,
            window=window,
            remaining=parse_ratelimit_remaining(_header(headers, "ratelimit-remaining")),
            reset_after=parse_ratelimit_reset(reset, now),
            retry_after=parse_retry_after(_header(headers, "retry-after"), now),
            observed_at=now,
            reset_resolution=reset_resolution(reset),
        )


def parse_rate_limit_headers(headers: Mapping[str, str] | None, now: float) -> RateLimitInfo:
    """Function form of :meth:`RateLimitInfo.from_headers`."""
    return RateLimitInfo.from_headers(headers, now)


# Classification and retry policy.


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

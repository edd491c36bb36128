"""Truto's rate-limit headers, parsed: ``Retry-After``, ``ratelimit-limit``, ``-remaining``, ``-reset``.

Truto normalises every provider's limits into the three ``ratelimit-*`` headers and passes a
429's ``Retry-After`` through. Parsing never raises: anything unusable is ``None``. Pure (no
I/O, no clock reads: ``now`` is an argument).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

#: A ``ratelimit-reset`` larger than this is an absolute Unix time, not a delay (10**9 s is ~31 years).
EPOCH_THRESHOLD = 10**9

DEFAULT_MAX_BLOCK = 60.0
"""Seconds this server holds off at most when a server asks it to wait (``Retry-After``,
``ratelimit-reset``, a window's end): after that it asks the server again, which answers
with a new wait if it still means it. One bogus header (``Retry-After: 1000000000``) then
costs a minute, not every call until a restart (``TRUTO_MCP_MAX_BLOCK``)."""

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

"""Timestamp handling for agents: Stripe speaks Unix epoch seconds, agents speak dates.

Stripe returns and filters by epoch seconds (``created[gte]=1700000000``), which language
models misread and miscompute. This module annotates responses with ``<field>_iso``
siblings, parses the dates and phrases agents write ("last 7 days", "Q1 2024"), and converts
time filters to epochs. All times are UTC. The current time is always an argument, never
read here, so results are deterministic. Pure (no I/O); imports nothing from the package.
"""

from __future__ import annotations

import calendar
import contextlib
import math
import re
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any


class TimestampError(ValueError):
    """A time value or phrase could not be understood; the message is safe to show an agent."""


#: Stripe fields holding epoch seconds. Names ending in ``_at`` are covered by a suffix rule
#: (see :func:`is_timestamp_field`), so they only appear here for documentation.
TIMESTAMP_FIELDS: frozenset[str] = frozenset(
    {
        "created", "updated", "date", "start", "end", "start_date", "due_date", "arrival_date",
        "available_on", "current_period_start", "current_period_end", "period_start", "period_end",
        "trial_start", "trial_end", "billing_cycle_anchor", "next_payment_attempt",
        "last_payment_attempt", "due_by", "evidence_due_by", "canceled_at", "cancel_at", "ended_at",
        "paid_at", "voided_at", "finalized_at", "marked_uncollectible_at", "expires_at",
        "effective_at", "webhooks_delivered_at", "closed_at", "resumes_at", "completed_at",
        "succeeded_at", "failed_at", "processed_at", "accepted_at", "revoked_at",
    }
)  # fmt: skip

# Plausible epoch window: 2000-01-01T00:00:00Z (inclusive) .. 2100-01-01T00:00:00Z (exclusive).
# It keeps small integers (0, 30, 1) out while covering any real Stripe timestamp.
_EPOCH_MIN = 946_684_800
_EPOCH_MAX = 4_102_444_800
# What to_iso can render with a four-digit year (0001-01-01 .. 9999-12-31T23:59:59Z).
ISO_MIN = -62_135_596_800
ISO_MAX = 253_402_300_799

_ACCEPTED_FORMS = (
    "Accepted forms: Unix epoch seconds (1714521600), a date (2024-05-01, midnight UTC), or an "
    "ISO 8601 datetime (2024-05-01T12:00:00Z, 2024-05-01T12:00:00+02:00, 2024-05-01 12:00; "
    "no offset means UTC)."
)
_RANGE_EXAMPLES = (
    "Try one of: today, yesterday, last 7 days, past 24 hours, last 3 months, this week, last week, "
    "this month, last month, month to date, this quarter, last quarter, Q1 2024, this year, "
    "last year, year to date, 2024-05, 2024, 2024-05-01, 2024-05-01..2024-05-31, "
    "2024-05-01 to 2024-05-31, since 2024-05-01. All times are UTC."
)
_OPERATORS = ("gt", "gte", "lt", "lte")

_NUMERIC_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
_LAST_N_RE = re.compile(
    r"^last\s*(\d+)\s*"
    r"(minute|min|hour|hr|h|day|d|week|wk|w|month|mo|year|yr|y)s?$"
)
_QUARTER_RE = re.compile(r"^(?:q([1-4])\s*[-/ ]?\s*(\d{4})|(\d{4})\s*[-/ ]?\s*q([1-4]))$")
_YEAR_RE = re.compile(r"^(\d{4})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_BETWEEN_RE = re.compile(r"^between\s+(.+?)\s+and\s+(.+)$")
_SPAN_RE = re.compile(r"^(?:from\s+)?(.+?)\s*(?:\.\.|\s+to\s+|\s+-\s+|\s+until\s+|\s+through\s+)\s*(.+)$")
_SINCE_RE = re.compile(r"^(?:since|from)\s+(.+)$")
_BRACKET_RE = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")
# Rolling-window units: ("s", seconds) or ("m", calendar months).
_UNITS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(("minute", "min"), ("s", 60)),
    **dict.fromkeys(("hour", "hr", "h"), ("s", 3_600)),
    **dict.fromkeys(("day", "d"), ("s", 86_400)),
    **dict.fromkeys(("week", "wk", "w"), ("s", 604_800)),
    **dict.fromkeys(("month", "mo"), ("m", 1)),
    **dict.fromkeys(("year", "yr", "y"), ("m", 12)),
}
_PERIODS = frozenset({"week", "month", "quarter", "year"})
_ALIASES = {
    **dict.fromkeys(("week to date", "wtd"), "this week"),
    **dict.fromkeys(("month to date", "mtd"), "this month"),
    **dict.fromkeys(("quarter to date", "qtd"), "this quarter"),
    **dict.fromkeys(("year to date", "ytd"), "this year"),
    # "past <unit>" without a number reads as a rolling window, unlike calendar "last week".
    "past hour": "last 1 hour",
    "past day": "last 24 hours",
    "past week": "last 7 days",
    "past month": "last 1 month",
    "past year": "last 1 year",
}


def is_timestamp_field(name: str) -> bool:
    """Whether a field name denotes a Stripe epoch (known name or ``*_at``); the value is checked
    separately (:func:`is_plausible_epoch`), so ``amount``-like integers are never taken for times."""
    return name in TIMESTAMP_FIELDS or (name.endswith("_at") and len(name) > 3)


def is_plausible_epoch(value: Any) -> bool:
    """Whether ``value`` is an epoch in 2000..2100 (int or integral float, not bool): Stripe uses
    ``0``/``null`` for "never" and small integers for counts, which must not become 1970 dates."""
    kind = type(value)
    if kind is int:
        return _EPOCH_MIN <= value < _EPOCH_MAX
    if kind is float:
        return value.is_integer() and _EPOCH_MIN <= value < _EPOCH_MAX
    return False


def to_iso(epoch: int | float) -> str:
    """Render epoch seconds as RFC 3339 UTC, seconds precision (fractions floored): ``...T23:59:59Z``."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        raise TimestampError(f"Epoch must be a number of seconds, got {epoch!r}.")
    if isinstance(epoch, float):
        if not math.isfinite(epoch):
            raise TimestampError(f"Epoch must be a finite number, got {epoch!r}.")
        epoch = math.floor(epoch)
    if not ISO_MIN <= epoch <= ISO_MAX:
        raise TimestampError(f"Epoch {epoch!r} is outside the representable years 0001..9999.")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def annotate_timestamps(value: Any) -> Any:
    """Return a copy of ``value`` where each plausible epoch field gains a ``<field>_iso`` sibling.

    The sibling is inserted right after the original key (original value kept) so an agent
    reads both together; an existing ``<field>_iso`` key is never overwritten. Dicts and
    lists are rebuilt, never mutated; scalars are shared (they are immutable).
    """
    kind = type(value)
    if kind is dict:
        return _annotate_dict(value)
    if kind is list or kind is tuple:
        return _annotate_list(value)
    return value


def _annotate_list(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Annotate each element; scalars are appended as-is (hot path, kept branch-light)."""
    out = []
    for item in items:
        kind = type(item)
        if kind is dict:
            out.append(_annotate_dict(item))
        elif kind is list:
            out.append(_annotate_list(item))
        else:
            out.append(item)
    return out


def _annotate_dict(obj: dict[Any, Any]) -> dict[Any, Any]:
    """Annotate one dict. Only int/float values pay for the name check, keeping this fast."""
    out: dict[Any, Any] = {}
    for key, val in obj.items():
        kind = type(val)
        if kind is dict:
            out[key] = _annotate_dict(val)
        elif kind is list:
            out[key] = _annotate_list(val)
        else:
            out[key] = val
            if (
                (kind is int or kind is float)
                and type(key) is str
                and is_timestamp_field(key)
                and is_plausible_epoch(val)
            ):
                iso_key = key + "_iso"
                if iso_key not in obj:
                    out[iso_key] = to_iso(val)
    return out


def parse_time(value: str | int | float, *, end_of_day: bool = False) -> int:
    """Parse one point in time into epoch seconds.

    Epoch numbers (and numeric strings) are returned as ints unchanged, with no plausibility
    check, so callers may pass any value Stripe would accept. A bare date means midnight UTC,
    or 23:59:59 UTC with ``end_of_day=True`` (for inclusive upper bounds). Datetimes without
    an offset are UTC; fractional seconds are floored. ``end_of_day`` only affects bare dates.
    """
    unknown = TimestampError(f"Could not understand time {value!r}. {_ACCEPTED_FORMS}")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return math.floor(value)
    text = value.strip() if isinstance(value, str) else ""
    if _NUMERIC_RE.match(text):
        return math.floor(float(text)) if "." in text else int(text)
    match = _ISO_RE.match(text)
    if not match:
        raise unknown
    # The fraction group is ignored: seconds precision, floored like Stripe's own epochs.
    year, month, day, hour, minute, second, _fraction, offset = match.groups()
    try:
        if hour is None:
            moment = datetime(int(year), int(month), int(day), tzinfo=UTC)
            epoch = calendar.timegm(moment.utctimetuple())
            return epoch + 86_399 if end_of_day else epoch
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError as exc:
        raise TimestampError(f"Invalid date in {value!r}: {exc}. {_ACCEPTED_FORMS}") from None
    epoch = calendar.timegm(moment.timetuple())
    if offset and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise TimestampError(f"Invalid UTC offset in {value!r}. {_ACCEPTED_FORMS}")
        shift = hours * 3600 + minutes * 60
        epoch += -shift if offset[0] == "+" else shift
    return epoch


def _utc(now: datetime) -> datetime:
    """Normalise ``now`` to aware UTC, whole seconds; a naive datetime is taken as UTC."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.replace(microsecond=0)


def _epoch(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())


def _add_months(moment: datetime, months: int) -> datetime:
    """Shift by calendar months, clamping the day (Mar 31 - 1 month = Feb 29/28)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _month_bounds(year: int, month: int, months: int = 1) -> tuple[int, int]:
    """Inclusive epoch bounds of ``months`` calendar months starting at ``year-month``."""
    start = datetime(year, month, 1, tzinfo=UTC)
    return _epoch(start), _epoch(_add_months(start, months)) - 1


def _period_start(now: datetime, period: str, shift: int) -> int:
    """Epoch start of the calendar ``period`` containing ``now``, shifted by ``shift`` periods."""
    midnight = now.replace(hour=0, minute=0, second=0)
    if period == "day":
        return _epoch(midnight) + shift * 86_400
    if period == "week":  # ISO weeks start on Monday
        return _epoch(midnight) - (now.weekday() - shift * 7) * 86_400
    first = midnight.replace(day=1)
    if period == "month":
        return _epoch(_add_months(first, shift))
    if period == "quarter":
        return _epoch(_add_months(first.replace(month=(now.month - 1) // 3 * 3 + 1), 3 * shift))
    return _epoch(_add_months(first.replace(month=1), 12 * shift))  # year


def _resolve_single(text: str, now: datetime) -> tuple[int, int] | None:
    """Resolve one phrase (no ``a..b`` span) to inclusive bounds, or None if not recognised."""
    text = _ALIASES.get(text, text)
    for alias, canonical in (("previous ", "last "), ("past ", "last "), ("current ", "this ")):
        if text.startswith(alias):
            text = canonical + text[len(alias) :]
    now_epoch = _epoch(now)
    end_today = _period_start(now, "day", 1) - 1
    if text == "now":
        return now_epoch, now_epoch
    if text in ("today", "yesterday"):
        shift = 0 if text == "today" else -1
        return _period_start(now, "day", shift), _period_start(now, "day", shift + 1) - 1
    word, _, period = text.partition(" ")
    if period in _PERIODS and word == "this":
        return _period_start(now, period, 0), end_today
    if period in _PERIODS and word == "last":
        return _period_start(now, period, -1), _period_start(now, period, 0) - 1
    if match := _LAST_N_RE.match(text):
        count, (kind, size) = int(match.group(1)), _UNITS[match.group(2)]
        if count < 1:
            raise TimestampError(f"The number in {text!r} must be at least 1. {_RANGE_EXAMPLES}")
        if kind == "s":
            return now_epoch - count * size, now_epoch
        return _epoch(_add_months(now, -count * size)), now_epoch
    if match := _QUARTER_RE.match(text):
        quarter, year = sorted(int(group) for group in match.groups() if group)
        return _month_bounds(year, quarter * 3 - 2, 3)
    if match := _YEAR_RE.match(text):
        return _month_bounds(int(match.group(1)), 1, 12)
    if match := _MONTH_RE.match(text):
        if not 1 <= int(match.group(2)) <= 12:
            raise TimestampError(f"Invalid month in {text!r}. {_RANGE_EXAMPLES}")
        return _month_bounds(int(match.group(1)), int(match.group(2)))
    if _ISO_RE.match(text) or _NUMERIC_RE.match(text):
        return parse_time(text), parse_time(text, end_of_day=True)
    return None


def resolve_range(expression: str, now: datetime) -> tuple[int, int]:
    """Resolve a natural time phrase to inclusive ``(gte, lte)`` epoch bounds, in UTC.

    Rolling windows ("last 7 days", "past 24 hours", "last 3 months") run from that far back
    up to ``now``. Calendar periods are whole periods ("yesterday", "last week" = previous
    Monday..Sunday, "last month", "Q1 2024", "2024-05", "2024"); *current* periods ("today",
    "this week/month/quarter/year", "month/year to date") run to 23:59:59 today, so they
    include the rest of today. Spans ("A..B", "A to B", "between A and B") take the start of A
    and the end of B, where each side may itself be a date, month, year or phrase.
    """
    if not isinstance(expression, str):
        raise TimestampError(f"Time range must be text, got {expression!r}. {_RANGE_EXAMPLES}")
    moment = _utc(now)
    text = " ".join(expression.lower().split())
    bounds = _resolve_single(text, moment) if text else None
    if bounds is None:
        match = _BETWEEN_RE.match(text) or _SPAN_RE.match(text)
        if match:
            first = _resolve_single(match.group(1).strip(), moment)
            last = _resolve_single(match.group(2).strip(), moment)
            if first is not None and last is not None:
                bounds = (first[0], last[1])
        elif match := _SINCE_RE.match(text):
            first = _resolve_single(match.group(1).strip(), moment)
            if first is not None:
                bounds = (first[0], _epoch(moment))
    if bounds is None:
        raise TimestampError(f"Unrecognised time range {expression!r}. {_RANGE_EXAMPLES}")
    if bounds[0] > bounds[1]:
        raise TimestampError(f"Time range {expression!r} starts after it ends.")
    return bounds


def _convert(label: str, value: Any, op: str | None, now: datetime | None) -> int | dict[str, int]:
    """Convert one filter value: ``lte`` takes the end of a date/period, other operators its start;
    a scalar phrase (``op`` None, ``now`` given) becomes a ``{"gte", "lte"}`` range."""
    try:
        return parse_time(value, end_of_day=(op == "lte"))
    except TimestampError as exc:
        error = exc
    if now is not None and isinstance(value, str):
        with contextlib.suppress(TimestampError):
            start, end = resolve_range(value, now)
            return {"gte": start, "lte": end} if op is None else (end if op == "lte" else start)
    raise TimestampError(f"Invalid value for time filter '{label}': {error}") from None


def _convert_op(param: str, op: str, value: Any, now: datetime | None) -> Any:
    """Convert ``param[op]``, rejecting operators Stripe does not know."""
    if op not in _OPERATORS:
        raise TimestampError(f"Unknown operator {op!r} for time filter {param!r}; use gt, gte, lt or lte.")
    return None if value is None else _convert(f"{param}[{op}]", value, op, now)


def convert_time_filters(
    query: Mapping[str, Any], time_params: Collection[str], *, now: datetime | None = None
) -> dict[str, Any]:
    """Return a copy of ``query`` with agent-friendly times in ``time_params`` turned into epochs.

    Handles a scalar (``"2024-05-01"`` -> midnight epoch; an exact-match filter, as Stripe
    defines it), an operator dict (``{"gte": "2024-05-01", "lte": "2024-05-31"}``; a bare date
    under ``lte`` means 23:59:59 of that day, under ``gte``/``gt``/``lt`` midnight) and flat
    bracket keys (``"created[gte]"``). Epoch ints pass unchanged; numeric strings become ints;
    ``None`` passes through. When ``now`` is given, phrases are accepted too: a scalar phrase
    ("last 7 days") becomes ``{"gte": start, "lte": end}`` and an operator takes the phrase's
    start (or end for ``lte``). Raises :class:`TimestampError` naming the parameter.
    """
    params = set(time_params)
    out: dict[str, Any] = {}
    for key, value in query.items():
        base, op = key, None
        if key not in params and (match := _BRACKET_RE.match(key)) and match.group(1) in params:
            base, op = match.group(1), match.group(2)
        if base not in params or value is None:
            out[key] = value
        elif op is not None:
            out[key] = _convert_op(base, op, value, now)
        elif isinstance(value, Mapping):
            out[key] = {str(sub): _convert_op(base, str(sub), val, now) for sub, val in value.items()}
        else:
            out[key] = _convert(base, value, None, now)
    return out

"""Configuration of the sandbox.

Kept in a plain dataclass (no pydantic) so constructing a sandbox is cheap and the
sandbox has no dependency on the rest of the package's settings machinery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Literal

SANDBOX_API_KEY = "sandbox-api-key"
"""The bearer token the sandbox accepts by default (public: it guards nothing real)."""

SANDBOX_ACCOUNT_ID = "sandbox-stripe"
"""The only integrated account id the sandbox knows by default."""

CatalogShape = Literal["result", "results", "bare"]
ResetStyle = Literal["delay", "epoch"]
RetryAfterStyle = Literal["seconds", "http-date", "none"]
ResetPrecision = Literal["auto", "integer", "decimal"]

_DAY = 86_400

RUNTIME_FIELDS = frozenset(
    {
        "rate_limit",
        "rate_window",
        "reset_style",
        "retry_after_style",
        "reset_header_precision",
        "rate_limit_remote",
        "catalog_shape",
        "catalog_page_size",
    }
)
"""Options that may change while the sandbox runs (via `Sandbox.configure` or
`POST /_sandbox/config`); the rest only take effect on `reset()`."""


def start_of_utc_day(ts: float | None = None) -> float:
    """Midnight UTC of the day containing `ts`: data is "the last year" yet stable for a day."""
    now = time.time() if ts is None else ts
    return float(int(now) - int(now) % _DAY)


@dataclass
class SandboxConfig:
    """Everything that shapes one sandbox instance.

    `now` anchors the seeded data (every seeded timestamp is within the year before it);
    tests pass a fixed value so two sandboxes with the same `seed` and `now` hold
    byte-identical data.
    """

    api_key: str = SANDBOX_API_KEY
    account_id: str = SANDBOX_ACCOUNT_ID
    seed: int = 42
    now: float = field(default_factory=start_of_utc_day)
    num_customers: int = 300
    num_charges: int = 400
    # Rate limiting (fixed window, shared by proxy and tools calls). None = unlimited,
    # and then no ratelimit-* headers are sent at all (Truto only sends what it got).
    rate_limit: int | None = None
    rate_window: float = 1.0
    reset_style: ResetStyle = "delay"
    retry_after_style: RetryAfterStyle = "seconds"
    # "auto": whole seconds (rounded up, min 1) unless rate_window < 1, then decimals.
    reset_header_precision: ResetPrecision = "auto"
    # True: the 429 looks like Stripe's own (truto_is_remote_error + raw_response).
    rate_limit_remote: bool = False
    # Tool catalog response shape and optional pagination (ignored for "bare").
    catalog_shape: CatalogShape = "result"
    catalog_page_size: int | None = None
    # Bounded memory for request recording and idempotency replays.
    max_recorded_requests: int = 100_000
    max_idempotency_keys: int = 10_000

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail early with a clear message instead of misbehaving mid-request."""
        if self.rate_limit is not None and self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0 or None")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be > 0")
        _check_choice("reset_style", self.reset_style, ("delay", "epoch"))
        _check_choice("retry_after_style", self.retry_after_style, ("seconds", "http-date", "none"))
        _check_choice("reset_header_precision", self.reset_header_precision, ("auto", "integer", "decimal"))
        _check_choice("catalog_shape", self.catalog_shape, ("result", "results", "bare"))
        if self.catalog_page_size is not None and self.catalog_page_size < 1:
            raise ValueError("catalog_page_size must be >= 1 or None")
        if self.num_customers < 1 or self.num_charges < 1:
            raise ValueError("num_customers and num_charges must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view for the control endpoint (the key is the public sandbox one)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

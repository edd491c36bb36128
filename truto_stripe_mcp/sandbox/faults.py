"""Rate limiting, fault injection and request recording: the knobs tests and benchmarks
turn to see how a client copes with Truto and Stripe misbehaving.

All three are touched from the server thread and from test threads, so each guards its
state with a lock; none of them does more than O(1) work per request on the hot path
(fault matching walks only the pending faults, usually none).
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .config import SandboxConfig

# -- rate limiting ---------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    """Outcome of counting one request against the window."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window resets


class RateLimiter:
    """A fixed window that opens on the first request after the previous one expired.

    Opening on demand (rather than on wall-clock multiples of the window) makes "N+1
    quick requests -> one 429" deterministic in tests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._count = 0

    def reset(self) -> None:
        with self._lock:
            self._window_start, self._count = -math.inf, 0

    def hit(self, limit: int, window: float) -> RateDecision:
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= window:
                self._window_start, self._count = now, 0
            self._count += 1
            reset_after = max(0.0, self._window_start + window - now)
            return RateDecision(self._count <= limit, limit, max(0, limit - self._count), reset_after)


def format_seconds(seconds: float, decimal: bool) -> str:
    """Whole seconds rounded up (min 1), or hundredths rounded up (min 0.01) for sub-second windows."""
    if not decimal:
        return str(max(1, math.ceil(seconds - 1e-9)))
    value = max(0.01, math.ceil(seconds * 100 - 1e-6) / 100)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_window(window: float) -> str:
    return str(int(window)) if float(window).is_integer() else f"{window:.3f}".rstrip("0").rstrip(".")


def rate_headers(decision: RateDecision, config: SandboxConfig, *, limited: bool) -> dict[str, str]:
    """The ratelimit-* headers (plus Retry-After on a 429) in the configured styles."""
    precision = config.reset_header_precision
    decimal = precision == "decimal" or (precision == "auto" and config.rate_window < 1)
    if config.reset_style == "epoch":
        target = time.time() + decision.reset_after
        reset = f"{target:.2f}" if decimal else str(math.ceil(target))
    else:
        reset = format_seconds(decision.reset_after, decimal)
    headers = {
        "ratelimit-limit": f"{decision.limit};w={format_window(config.rate_window)}",
        "ratelimit-remaining": str(decision.remaining),
        "ratelimit-reset": reset,
    }
    if limited and config.retry_after_style == "seconds":
        headers["retry-after"] = format_seconds(decision.reset_after, decimal)
    elif limited and config.retry_after_style == "http-date":
        headers["retry-after"] = http_date_in(decision.reset_after)
    return headers


def http_date_in(seconds: float) -> str:
    """An HTTP date ``seconds`` from now. HTTP dates have whole-second resolution: rounded up
    so clients never retry early."""
    return email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)


# -- fault injection -------------------------------------------------------------------


@dataclass
class Fault:
    """One injected misbehaviour, consumed `times` times (None = forever) by matching requests.

    Matching: `method` (HTTP verb), `path` (prefix of the decoded path, e.g.
    "/proxy/refunds"), `resource` (the proxy resource, or "tools" for the catalog); unset
    fields match anything. Effects, by priority:
    - `drop_after_commit`: run the request fully (the write happens), then cut the
      connection mid-response, so the client sees a transport error.
    - `drop_before_commit`: cut the connection without running the request.
    - `delay`: sleep that many seconds first (or after running the request when
      `commit_before_delay`), then answer normally, or with `status` if set. A write
      delayed before it runs holds its Idempotency-Key meanwhile, as Stripe does while
      processing: a request with the same key gets a 409 `idempotency_key_in_use`.
    - `status`: answer with that status, Truto's envelope (`message`), optional `headers`,
      and `remote=True` for a Stripe-originated error (truto_is_remote_error + raw_response);
      `body` replaces the whole JSON body. `retry_after_in` adds a `Retry-After` HTTP date
      that many seconds after the moment of answering (a static header would go stale).
      `raw_body` is sent byte for byte instead of JSON (an HTML page, a cut-off or empty
      body; set its type with `headers={"content-type": ...}`). `stream_bytes` streams that
      many filler bytes in 64 kB chunks, chunked unless `headers` declare a Content-Length;
      a declared length the stream does not reach ends in a dropped connection.
      `after_commit` runs the request first (the write happens), then answers with the fault.
    `probability` below 1 applies the fault to only that share of matching requests (drawn
    from the queue's seeded generator, so a soak run is repeatable); `times` counts only the
    requests it was applied to.
    """

    method: str | None = None
    path: str | None = None
    resource: str | None = None
    times: int | None = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    remote: bool = False
    message: str | None = None
    body: Any = None
    drop_after_commit: bool = False
    drop_before_commit: bool = False
    delay: float = 0.0
    commit_before_delay: bool = False
    probability: float = 1.0
    retry_after_in: float | None = None
    raw_body: str | None = None
    stream_bytes: int | None = None
    after_commit: bool = False

    def __post_init__(self) -> None:
        effects = [self.status is not None, self.drop_after_commit, self.drop_before_commit, self.delay > 0]
        if not any(effects):
            raise ValueError("a Fault needs one of status, drop_after_commit, drop_before_commit or delay")
        shaped = [self.raw_body is not None, self.stream_bytes is not None, self.after_commit]
        if any(shaped) and self.status is None:
            raise ValueError("raw_body, stream_bytes and after_commit shape a `status` answer: set status")
        if self.raw_body is not None and self.stream_bytes is not None:
            raise ValueError("raw_body and stream_bytes are two different bodies: pick one")
        if self.stream_bytes is not None and self.stream_bytes < 0:
            raise ValueError("stream_bytes must be >= 0")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 < self.probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")

    def matches(self, method: str, path: str, resource: str | None) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        return self.resource is None or self.resource == resource

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from the JSON spec of `POST /_sandbox/faults` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


class FaultQueue:
    """Pending faults, consumed in injection order by the first one that matches (and, for a
    fault with a `probability`, whose draw says it applies)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, resource: str | None) -> Fault | None:
        """The first matching fault, counting one use of it."""
        if not self._faults:  # fast path: nothing injected
            return None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path, resource) and (
                    fault.probability >= 1.0 or self._random.random() < fault.probability
                ):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            del self._faults[i]
                    return fault
        return None


# -- request recording -----------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as received (path still percent-encoded) and the status answered."""

    method: str
    path: str
    query_string: str
    query: dict[str, Any]
    headers: dict[str, str]
    json: Any
    timestamp: float
    route: str = "unknown"  # "proxy" | "tools" | "unknown"
    resource: str | None = None
    action: str | None = None  # list, get, create, update, delete or a custom method
    resource_id: str | None = None
    status: int | None = None
    dropped: bool = False
    committed: bool = False  # a write that changed the store (not a replay, not refused)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A bounded log of requests plus cheap counters."""

    def __init__(self, max_length: int) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=max_length)
        self.total = 0
        self.rate_limited = 0
        self.faults_applied = 0

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)
            self.total += 1

    def bump(self, counter: str) -> None:
        """Increment `rate_limited` or `faults_applied` (thread-safe)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.total = self.rate_limited = self.faults_applied = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "total_requests": self.total,
                "rate_limited": self.rate_limited,
                "faults_applied": self.faults_applied,
                "recorded": len(self._items),
            }

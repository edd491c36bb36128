"""HTTP control endpoints under `/_sandbox/`, so another process (a benchmark, a CLI
session) can inspect and steer a running sandbox. They need the same bearer key, are
not rate limited and are not recorded.

    GET    /_sandbox/requests[?limit=N]   recorded requests (newest last) + stats
    DELETE /_sandbox/requests             forget recorded requests
    GET    /_sandbox/stats                counters
    GET    /_sandbox/faults               pending faults
    POST   /_sandbox/faults               inject one fault (JSON object) or several (array)
    DELETE /_sandbox/faults               clear pending faults
    GET    /_sandbox/config               current configuration
    POST   /_sandbox/config               change run-time options (rate limit, styles, catalog)
    POST   /_sandbox/reset                reseed (optional JSON: seed, now, num_customers, num_charges)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Protocol
from urllib.parse import parse_qs

from starlette.types import Scope

from .asgi import header_dict
from .config import SandboxConfig
from .errors import truto_envelope
from .faults import Fault, FaultQueue, RecordedRequest


class Controlled(Protocol):
    """What the control endpoints steer: the sandbox (:class:`~.app.Sandbox`), seen from here."""

    config: SandboxConfig
    faults: FaultQueue

    @property
    def requests(self) -> list[RecordedRequest]: ...

    def stats(self) -> dict[str, int]: ...

    def reset_requests(self) -> None: ...

    def configure(self, **changes: Any) -> SandboxConfig: ...

    def reset(self, **overrides: Any) -> None: ...


RESET_FIELDS = frozenset({"seed", "now", "num_customers", "num_charges"})


def _error(status: int, message: str) -> tuple[int, Any]:
    return status, truto_envelope(status, message)


def handle_control(
    sandbox: Controlled, method: str, segments: list[str], scope: Scope, body: bytes
) -> tuple[int, Any]:
    """Route one control request; returns (status, JSON-able body)."""
    headers = header_dict(scope.get("headers", []))
    if headers.get("authorization") != f"Bearer {sandbox.config.api_key}":
        return _error(401, "Invalid or missing API token")
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return _error(400, "The request body is not valid JSON")
    name = segments[0] if len(segments) == 1 else None
    handler = _ROUTES.get((method, name))
    if handler is None:
        return _error(404, f"Cannot {method} /_sandbox/{'/'.join(segments)}")
    query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    try:
        return handler(sandbox, payload, query)
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))


def _requests(sandbox: Controlled, _: Any, query: dict[str, str]) -> tuple[int, Any]:
    items = sandbox.requests
    if "limit" in query:
        items = items[-int(query["limit"]) :] if int(query["limit"]) > 0 else []
    return 200, {"result": [item.to_dict() for item in items], "stats": sandbox.stats()}


def _clear_requests(sandbox: Controlled, _: Any, __: dict[str, str]) -> tuple[int, Any]:
    count = len(sandbox.requests)
    sandbox.reset_requests()
    return 200, {"deleted": count}


def _stats(sandbox: Controlled, _: Any, __: dict[str, str]) -> tuple[int, Any]:
    return 200, sandbox.stats()


def _faults(sandbox: Controlled, _: Any, __: dict[str, str]) -> tuple[int, Any]:
    return 200, {"result": [asdict(f) for f in sandbox.faults.pending()]}


def _inject(sandbox: Controlled, payload: Any, __: dict[str, str]) -> tuple[int, Any]:
    specs = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(spec, dict) for spec in specs):
        raise ValueError("a fault spec must be a JSON object (or an array of them)")
    faults = [Fault.from_dict(spec) for spec in specs]  # validate all before injecting any
    for fault in faults:
        sandbox.faults.inject(fault)
    return 200, {"result": [asdict(f) for f in faults]}


def _clear_faults(sandbox: Controlled, _: Any, __: dict[str, str]) -> tuple[int, Any]:
    sandbox.faults.clear()
    return 200, {"result": []}


def _config(sandbox: Controlled, _: Any, __: dict[str, str]) -> tuple[int, Any]:
    return 200, sandbox.config.to_dict()


def _configure(sandbox: Controlled, payload: Any, __: dict[str, str]) -> tuple[int, Any]:
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object of options")
    return 200, sandbox.configure(**payload).to_dict()


def _reset(sandbox: Controlled, payload: Any, __: dict[str, str]) -> tuple[int, Any]:
    overrides = payload or {}
    if not isinstance(overrides, dict) or set(overrides) - RESET_FIELDS:
        raise ValueError(f"reset accepts only: {', '.join(sorted(RESET_FIELDS))}")
    sandbox.reset(**overrides)
    return 200, {"reset": True, "config": sandbox.config.to_dict()}


_ROUTES = {
    ("GET", "requests"): _requests,
    ("DELETE", "requests"): _clear_requests,
    ("GET", "stats"): _stats,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _inject,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "config"): _config,
    ("POST", "config"): _configure,
    ("POST", "reset"): _reset,
}

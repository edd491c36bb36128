"""The sandbox application: Truto's tools and Proxy routes over the seeded store.

`Sandbox` holds all state (store, faults, limiter, request log, idempotency cache) and is
itself the ASGI callable that Starlette mounts. Routing is done on `raw_path` split into
segments decoded once, so `/proxy/customers/a%2Fb` is the id "a/b" (a 404 from Stripe)
and never a different route.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from . import ops_billing, ops_lifecycle, ops_payments  # noqa: F401  (register the write operations)
from .asgi import dumps, header_dict, read_body, send_bytes, send_stream, send_truncated, split_path
from .catalog import catalog_body, filter_tools
from .config import RUNTIME_FIELDS, SandboxConfig
from .control import handle_control
from .errors import ApiError, remote_envelope, stripe_error_body, truto_envelope, truto_error
from .faults import Fault, FaultQueue, RateLimiter, RecordedRequest, RequestLog, http_date_in, rate_headers
from .idempotency import IdempotencyCache, StoredResponse, fingerprint
from .operations import execute, prepare
from .querystring import parse_query
from .seed import seed_store

MUTATING = frozenset({"POST", "PATCH", "DELETE"})
logger = logging.getLogger(__name__)


@dataclass
class Route:
    """What a request addresses, resolved from its path segments and HTTP method."""

    kind: str  # "tools" | "proxy" | "control" | "unknown"
    account_id: str | None = None
    resource: str | None = None
    action: str | None = None
    object_id: str | None = None
    allowed: bool = True  # False: the path exists but not with this HTTP method


def resolve(method: str, segments: list[str]) -> Route:
    if segments and segments[0] == "_sandbox":
        return Route("control")
    if "" in segments:
        return Route("unknown")
    if len(segments) == 3 and segments[0] == "integrated-account" and segments[2] == "tools":
        return Route("tools", account_id=segments[1], allowed=method == "GET")
    if len(segments) == 2 and segments[0] == "proxy":
        action = {"GET": "list", "POST": "create"}.get(method)
        return Route("proxy", resource=segments[1], action=action, allowed=action is not None)
    if len(segments) == 3 and segments[0] == "proxy":
        if method == "POST":
            return Route("proxy", resource=segments[1], action=segments[2])
        action = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method)
        return Route(
            "proxy", resource=segments[1], action=action, object_id=segments[2], allowed=action is not None
        )
    return Route("unknown")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class _Claim:
    """A write's Idempotency-Key, claimed until its request ran (no key: nothing claimed)."""

    key: str | None
    fingerprint: str
    headers: dict[str, str]


def _error_reply(error: ApiError) -> Reply:
    return Reply(error.status, dumps(error.body), dict(error.headers))


class Sandbox:
    """One sandboxed Truto + Stripe account. Construct it, then serve `.app`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.store = seed_store(self.config)
        self.faults = FaultQueue(seed=self.config.seed)
        self.limiter = RateLimiter()
        self.log = RequestLog(self.config.max_recorded_requests)
        self.idempotency = IdempotencyCache(self.config.max_idempotency_keys)
        self._request_ids = 0
        self.app = Starlette(routes=[Mount("", app=self)])
        self.app.state.sandbox = self

    # -- public helpers for tests --------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Recorded proxy/tools requests, oldest first (a snapshot)."""
        return self.log.snapshot()

    def requests_to(
        self, resource: str | None = None, method: str | None = None, action: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by proxy resource ("tools" for the catalog), HTTP
        method (case-insensitive) and tool action (list/get/create/.../custom name)."""
        out = []
        for req in self.log.snapshot():
            name = "tools" if req.route == "tools" else req.resource
            if resource is not None and name != resource:
                continue
            if method is not None and req.method != method.upper():
                continue
            if action is not None and req.action != action:
                continue
            out.append(req)
        return out

    def reset_requests(self) -> None:
        self.log.clear()

    def stats(self) -> dict[str, int]:
        return self.log.stats()

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change run-time options (rate limit, header styles, catalog shape) in place."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"not changeable at run time: {', '.join(sorted(unknown))}")
        updated = replace(self.config, **changes)  # validates
        for name in changes:
            setattr(self.config, name, getattr(updated, name))
        if {"rate_limit", "rate_window"} & changes.keys():
            self.limiter.reset()
        return self.config

    def reset(self, **overrides: Any) -> None:
        """Reseed the data (optionally with a new seed/now/sizes) and forget faults,
        recorded requests, counters, idempotency keys and the rate-limit window."""
        if overrides:
            self.config = replace(self.config, **overrides)
        self.store = seed_store(self.config)
        self.faults.clear()
        self.log.clear()
        self.log.reset_counters()
        self.idempotency.clear()
        self.limiter.reset()

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        raw_path, segments = split_path(scope.get("raw_path") or scope["path"].encode())
        route = resolve(method, segments)
        body_bytes = await read_body(receive)
        if route.kind == "control":
            status, payload = handle_control(self, method, segments[1:], scope, body_bytes)
            await send_bytes(send, status, dumps(payload), {})
            return
        query_string = scope.get("query_string", b"").decode("latin-1")
        headers = header_dict(scope.get("headers", []))
        record = RecordedRequest(
            method=method,
            path=raw_path,
            query_string=query_string,
            query={},
            headers=headers,
            json=None,
            timestamp=time.time(),
            route=route.kind,
            resource=route.resource,
            action=route.action,
            resource_id=route.object_id,
        )
        self.log.append(record)
        await self._serve(route, record, body_bytes, send)

    async def _serve(self, route: Route, record: RecordedRequest, body_bytes: bytes, send: Send) -> None:
        """Truto's order: rate limit, route/auth/account, then faults and the call itself."""
        config, extra = self.config, dict[str, str]()
        problem: ApiError | None = None
        try:
            record.query = parse_query(record.query_string)
        except ApiError as error:  # keep flat values so the account id is still readable
            record.query, problem = dict(parse_qsl(record.query_string, keep_blank_values=True)), error
        if body_bytes:
            try:
                record.json = json.loads(body_bytes)
            except ValueError:
                problem = problem or truto_error(400, "The request body is not valid JSON")
        reply: Reply | None = None
        if route.kind in ("proxy", "tools") and config.rate_limit is not None:
            decision = self.limiter.hit(config.rate_limit, config.rate_window)
            extra = rate_headers(decision, config, limited=not decision.allowed)
            if not decision.allowed:
                self.log.bump("rate_limited")
                reply = self._rate_limited_reply()
        reply = reply or self._precheck(route, record) or (_error_reply(problem) if problem else None)
        if reply is not None:
            return await self._send(send, record, reply, extra)
        target = "tools" if route.kind == "tools" else route.resource
        fault = self.faults.take(record.method, unquote(record.path), target)
        if fault is not None:
            self.log.bump("faults_applied")
            return await self._serve_fault(fault, route, record, send, extra)
        await self._send(send, record, self._dispatch(route, record), extra)

    def _rate_limited_reply(self) -> Reply:
        if self.config.rate_limit_remote:
            raw = stripe_error_body(
                "invalid_request_error",
                "Request rate limit exceeded. You can learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
            return Reply(429, dumps(remote_envelope(429, raw)), {})
        return Reply(
            429, dumps(truto_envelope(429, "Rate limit exceeded. Please retry after some time.")), {}
        )

    def _precheck(self, route: Route, record: RecordedRequest) -> Reply | None:
        """Truto's own checks, in its order: route, auth, integrated account."""
        if route.kind == "unknown":
            return _error_reply(truto_error(404, f"Cannot {record.method} {record.path}"))
        if record.headers.get("authorization") != f"Bearer {self.config.api_key}":
            return _error_reply(truto_error(401, "Invalid or missing API token"))
        if not route.allowed:
            return _error_reply(truto_error(405, f"Method {record.method} is not allowed on {record.path}"))
        account = route.account_id if route.kind == "tools" else record.query.get("integrated_account_id")
        if route.kind == "proxy" and not account:
            return _error_reply(truto_error(400, "integrated_account_id is required"))
        if account != self.config.account_id:
            return _error_reply(truto_error(404, f"Integrated account {account} not found"))
        return None

    def _dispatch(self, route: Route, record: RecordedRequest, claim: _Claim | None = None) -> Reply:
        """Run the request (``claim``: its key is already held); a sandbox bug becomes Truto's
        plain 500 rather than a dead socket."""
        try:
            if route.kind == "tools":
                return self._tools(record)
            return self._proxy(route, record, claim)
        except Exception:
            logger.exception("sandbox error while handling %s %s", record.method, record.path)
            return _error_reply(truto_error(500, "Internal sandbox error"))

    def _tools(self, record: RecordedRequest) -> Reply:
        q = record.query
        try:
            tools = filter_tools(
                _text(q.get("methods")), _text(q.get("tags")), _text(q.get("has_description"))
            )
            body = catalog_body(
                tools, self.config.catalog_shape, self.config.catalog_page_size, _text(q.get("next_cursor"))
            )
        except ApiError as error:
            return _error_reply(error)
        return Reply(200, dumps(body), {})

    def _proxy(self, route: Route, record: RecordedRequest, claim: _Claim | None = None) -> Reply:
        opened = claim or self._open(record)
        return opened if isinstance(opened, Reply) else self._execute(route, record, opened)

    def _open(self, record: RecordedRequest) -> Reply | _Claim:
        """Stripe's first step: a replay or a 409 for a key already used, else the key claimed."""
        self._request_ids += 1
        headers = {"request-id": f"req_sandbox{self._request_ids:08d}"}
        key = record.headers.get("idempotency-key") if record.method in MUTATING else None
        print_ = fingerprint(record.method, unquote(record.path), record.json) if key else ""
        if key:
            headers["idempotency-key"] = key
            try:
                stored = self.idempotency.begin(key, print_)
            except ApiError as error:
                return Reply(error.status, dumps(error.body), headers)
            if stored is not None:
                return Reply(
                    stored.status, stored.body, {**dict(stored.headers), "idempotent-replayed": "true"}
                )
        return _Claim(key, print_, headers)

    def _execute(self, route: Route, record: RecordedRequest, claim: _Claim) -> Reply:
        """Run the request, store its answer under its key and release the key."""
        assert route.resource is not None and route.action is not None
        key, headers = claim.key, claim.headers
        to_store: StoredResponse | None = None
        try:
            try:
                call = prepare(
                    self.store, route.resource, route.action, route.object_id, record.query, record.json
                )
            except ApiError as error:  # validation: never stored, as at Stripe
                return Reply(error.status, dumps(error.body), headers)
            try:
                status, body = 200, dumps(execute(call))
                record.committed = record.method in MUTATING
            except ApiError as error:
                status, body = error.status, dumps(error.body)
            if key:
                to_store = StoredResponse(claim.fingerprint, status, body, tuple(headers.items()))
            return Reply(status, body, headers)
        finally:
            if key:
                self.idempotency.finish(key, to_store)

    async def _dispatch_slowly(self, route: Route, record: RecordedRequest, delay: float) -> Reply:
        """A request that takes ``delay`` seconds before it runs. A write's Idempotency-Key is
        held meanwhile, as Stripe holds it while processing: a request with the same key then
        gets Stripe's 409 ``idempotency_key_in_use``."""
        opened = self._open(record) if route.kind == "proxy" and record.method in MUTATING else None
        try:
            await anyio.sleep(delay)
        except BaseException:
            if isinstance(opened, _Claim) and opened.key:
                self.idempotency.finish(opened.key, None)
            raise
        return opened if isinstance(opened, Reply) else self._dispatch(route, record, opened)

    async def _serve_fault(
        self, fault: Fault, route: Route, record: RecordedRequest, send: Send, extra: dict[str, str]
    ) -> None:
        if fault.drop_before_commit:
            record.dropped = True
            return await self._send(send, record, Reply(200, b" " * 256, {}), extra, truncate=True)
        if fault.drop_after_commit:
            record.dropped = True
            return await self._send(send, record, self._dispatch(route, record), extra, truncate=True)
        if fault.delay > 0 and fault.commit_before_delay:
            reply = self._dispatch(route, record)
            await anyio.sleep(fault.delay)
            return await self._send(send, record, reply, extra)
        if fault.delay > 0 and fault.status is None:
            return await self._send(
                send, record, await self._dispatch_slowly(route, record, fault.delay), extra
            )
        if fault.delay > 0:
            await anyio.sleep(fault.delay)
        if fault.status is None:
            return await self._send(send, record, self._dispatch(route, record), extra)
        if fault.after_commit:
            self._dispatch(route, record)  # the write happens; its answer is replaced below
        if fault.body is not None:
            body = fault.body
        elif fault.remote:
            error_type = "api_error" if fault.status >= 500 else "invalid_request_error"
            message = fault.message or "An error occurred with our connection to Stripe."
            body = remote_envelope(fault.status, stripe_error_body(error_type, message))
        else:
            body = truto_envelope(fault.status, fault.message or "Injected fault")
        headers = dict(fault.headers)
        if fault.retry_after_in is not None:
            headers["retry-after"] = http_date_in(fault.retry_after_in)
        if fault.stream_bytes is not None:
            record.status = fault.status
            return await send_stream(send, fault.status, fault.stream_bytes, {**extra, **headers})
        raw = fault.raw_body.encode() if fault.raw_body is not None else dumps(body)
        await self._send(send, record, Reply(fault.status, raw, headers), extra)

    async def _send(
        self, send: Send, record: RecordedRequest, reply: Reply, extra: dict[str, str], truncate: bool = False
    ) -> None:
        record.status = reply.status
        headers = {**extra, **reply.headers}
        if truncate:
            await send_truncated(send, reply.status, reply.body, headers)  # raises ConnectionDropped
        else:
            await send_bytes(send, reply.status, reply.body, headers)


def _text(value: Any) -> str | None:
    """A query value that should be a plain string (bracket syntax would give a dict)."""
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A Starlette app serving a fresh sandbox; the state is at `app.state.sandbox`."""
    return Sandbox(config).app

"""The Truto HTTP client: one shared ``httpx.AsyncClient``, Truto's routes, nothing else.

It knows the contract (``../shared/truto-api.md``): bearer auth, the tools endpoint, the
Proxy API routes per method, bracket-encoded query strings and single-segment ids. It
does not retry: that is the job of the retry layer above it, which sees every response.
Bodies are streamed in and refused past ``max_response_bytes``, so one huge answer cannot
take the process's memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from ..config import DEFAULT_MAX_RESPONSE_BYTES
from ..errors import (
    CatalogFormatError,
    InvalidArgumentsError,
    ResponseTooLargeError,
    TransportError,
    UnexpectedBodyError,
    UpstreamError,
)
from ..redaction import redact_url

logger = logging.getLogger(__name__)

USER_AGENT = "truto-stripe-mcp/0.1"
_MAX_CATALOG_PAGES = 1_000
"""A bound on a tools endpoint that keeps answering with a cursor (Stripe's catalog is ~470 tools)."""


def encode_query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested values into Stripe's bracket form.

    ``{"created": {"gte": 1}}`` -> ``created[gte]=1``; ``{"expand": ["a"]}`` ->
    ``expand[]=a``; lists of objects get their index (``items[0][price]=...``), as
    Stripe's own libraries send them. ``None`` values are left out; booleans are
    ``true``/``false``.
    """
    pairs: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                walk(f"{key}[{sub_key}]", sub_value)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping | list | tuple):
                    walk(f"{key}[{index}]", item)
                else:
                    walk(f"{key}[]", item)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))

    for top_key, top_value in params.items():
        walk(str(top_key), top_value)
    return pairs


def encode_path_id(object_id: str, tool: str = "this tool") -> str:
    """One path segment, whatever the id holds: ``/``, ``?``, ``#`` and ``%`` are escaped.

    ``.`` and ``..`` are refused outright: some HTTP stacks resolve dot segments even
    when escaped, and no Stripe id looks like that.
    """
    if object_id.strip() in {"", ".", ".."}:
        raise InvalidArgumentsError(tool, [f"`id` {object_id!r} is not a valid Stripe id"])
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in object_id):
        raise InvalidArgumentsError(tool, ["`id` contains control characters"])
    return quote(object_id, safe="")


def extract_tools(payload: Any) -> tuple[list[Mapping[str, Any]], str | None]:
    """The tool entries and the next cursor of one page of the tools endpoint.

    Accepts ``{"result": [...]}`` (what the SDKs read), ``{"results": [...]}`` (what the
    reference shows) and a bare array.
    """
    if isinstance(payload, list):
        entries, cursor = payload, None
    elif isinstance(payload, Mapping):
        entries = payload.get("result", payload.get("results"))
        cursor = payload.get("next_cursor")
        if not isinstance(entries, list):
            raise CatalogFormatError("the tools response has neither a `result` nor a `results` list")
    else:
        raise CatalogFormatError(f"the tools response is a {type(payload).__name__}, not a list of tools")
    tools = [entry for entry in entries if isinstance(entry, Mapping)]
    return tools, (str(cursor) if cursor else None)


@dataclass(frozen=True)
class ProxyRequest:
    """One Proxy API call, fully resolved: what will go on the wire."""

    tool: str
    http_method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: dict[str, Any] | None = None
    idempotency_key: str | None = None
    mutation: bool | None = None
    """Whether the call changes data; ``None`` reads it off the HTTP method. A custom read
    action (``search``) is a POST on Truto's route, yet no mutation."""

    @property
    def is_mutation(self) -> bool:
        return self.http_method != "GET" if self.mutation is None else self.mutation


@dataclass(frozen=True)
class ProxyResponse:
    """An HTTP answer, successful or not; the retry layer decides what it means."""

    status: int
    headers: dict[str, str]
    body: Any
    replayed: bool = field(default=False)
    is_json: bool = True
    """False for an empty body or one that does not parse as JSON (``body`` then holds the text)."""
    size: int = 0
    """Bytes of body received."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def remote_error(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("truto_is_remote_error"))

    @property
    def stripe_code(self) -> str | None:
        """Stripe's error code in Truto's ``raw_response`` (``idempotency_key_in_use`` ...), if any."""
        raw = self.body.get("raw_response") if isinstance(self.body, dict) else None
        error = raw.get("error") if isinstance(raw, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    def raise_for_error(self) -> None:
        if not self.ok:
            raise UpstreamError.from_response(self.status, self.body, self.headers)

    def json_object(self) -> dict[str, Any]:
        """The body as the JSON object every Proxy API call returns (a list envelope or a Stripe
        object), or an :class:`UnexpectedBodyError` saying what came back instead."""
        if self.is_json and isinstance(self.body, dict):
            return self.body
        raise self._unexpected("a JSON object")

    def json_value(self) -> Any:
        """The body as any JSON value (the tools endpoint may answer with a bare array)."""
        if self.is_json:
            return self.body
        raise self._unexpected("JSON")

    def _unexpected(self, expected: str) -> UnexpectedBodyError:
        return UnexpectedBodyError.for_body(
            status=self.status,
            content_type=self.headers.get("content-type", ""),
            size=self.size,
            body=self.body,
            is_json=self.is_json,
            expected=expected,
        )


class TrutoClient:
    """Truto's API for one integrated account, over one connection pool.

    ``transport`` lets the sandbox be served in-process (``httpx.ASGITransport``)
    without opening a port.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        integrated_account_id: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.integrated_account_id = integrated_account_id
        self.max_response_bytes = max_response_bytes
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=_timeouts(timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TrutoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(
        self,
        http_method: str,
        path: str,
        query: list[tuple[str, str]],
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        time_left: float | None = None,
    ) -> ProxyResponse:
        content = None
        send_headers = dict(headers or {})
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            send_headers["Content-Type"] = "application/json"
        timeout = self.timeout if time_left is None else max(0.001, min(self.timeout, time_left))
        try:
            outgoing = self._http.build_request(
                http_method,
                path,
                params=query,
                content=content,
                headers=send_headers,
                timeout=_timeouts(timeout),
            )
            response = await self._http.send(outgoing, stream=True)
            try:
                raw = await self._read_body(response)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise self._no_answer(exc) from exc
        body, is_json = _parse_body(raw)
        return ProxyResponse(
            status=response.status_code,
            headers={key.lower(): value for key, value in response.headers.items()},
            body=body,
            replayed=response.headers.get("idempotent-replayed", "").lower() == "true",
            is_json=is_json,
            size=len(raw),
        )

    async def _read_body(self, response: httpx.Response) -> bytearray:
        """The body, refused past ``max_response_bytes``: by a Content-Length over the cap before
        any of it is read, else as soon as the bytes read would pass the cap, so no more than the
        cap is ever held. Closing the unread response drops its connection."""
        cap = self.max_response_bytes
        declared = _content_length(response.headers)
        if declared is not None and declared > cap:
            raise self._too_large(response, declared)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            if len(body) + len(chunk) > cap:
                raise self._too_large(response, None)
            body += chunk
        return body

    def _no_answer(self, exc: httpx.TransportError) -> TransportError:
        """What became of a request that got no answer: never sent (no connection was made), or
        sent and then lost (a timeout or a reset while Truto had it), which leaves a write's
        outcome unknown."""
        name = type(exc).__name__
        if isinstance(exc, _NEVER_SENT):
            return TransportError(
                f"Could not reach Truto at {redact_url(self.base_url)} ({name}): nothing was sent.",
                sent=False,
            )
        if isinstance(exc, httpx.TimeoutException):
            return TransportError(f"Truto did not answer in time ({name}).")
        return TransportError(
            f"The connection to Truto at {redact_url(self.base_url)} broke before its answer arrived ({name})."
        )

    def _too_large(self, response: httpx.Response, declared: int | None) -> ResponseTooLargeError:
        return ResponseTooLargeError.over_cap(
            status=response.status_code,
            cap=self.max_response_bytes,
            content_length=declared,
            content_type=response.headers.get("content-type", ""),
        )

    async def send(self, request: ProxyRequest, *, time_left: float | None = None) -> ProxyResponse:
        """Send one request once; HTTP errors come back as a response, not raised.

        ``time_left`` (seconds to the call's deadline) cuts this attempt's timeouts below the
        client's own, so an attempt never waits past the call's deadline.
        """
        query = list(request.query)
        if request.path.startswith("/proxy/"):
            query.insert(0, ("integrated_account_id", self.integrated_account_id))
        headers = {"Idempotency-Key": request.idempotency_key} if request.idempotency_key else None
        try:
            return await self._send(
                request.http_method,
                request.path,
                query,
                body=request.body,
                headers=headers,
                time_left=time_left,
            )
        except httpx.InvalidURL as exc:  # raised before anything is sent: e.g. a 100 kB filter value
            raise InvalidArgumentsError(
                request.tool,
                [f"the request URL cannot be built ({exc}); shorten the `id` or the filter values"],
            ) from None

    @property
    def tools_path(self) -> str:
        """The tool catalog's route: ``/integrated-account/{id}/tools``."""
        return f"/integrated-account/{quote(self.integrated_account_id, safe='')}/tools"

    async def fetch_tool_entries(
        self,
        filters: Mapping[str, str] | None = None,
        send: Callable[[ProxyRequest], Awaitable[ProxyResponse]] | None = None,
    ) -> list[Mapping[str, Any]]:
        """Every page of ``GET /integrated-account/{id}/tools``, as the raw entries Truto sent.

        Raw, not parsed: the catalog's disk copy stores them as they came, so that a newer
        version of this server parses them with its own rules. ``send`` lets the caller
        route the pages through its retry layer.
        """
        send = send or self.send
        entries: list[Mapping[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_CATALOG_PAGES):
            query = list((filters or {}).items())
            if cursor:
                query.append(("next_cursor", cursor))
            response = await send(
                ProxyRequest(tool="tools/list", http_method="GET", path=self.tools_path, query=tuple(query))
            )
            response.raise_for_error()
            page, cursor = extract_tools(response.json_value())
            entries.extend(page)
            if not cursor:
                break
        else:
            logger.warning("tool catalog had more than %d pages; using the first ones", _MAX_CATALOG_PAGES)
        return entries


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
"""Failures before any byte of the request left: no connection was made, so nothing happened."""


def _timeouts(seconds: float) -> httpx.Timeout:
    """Every phase bounded by ``seconds``; connecting by at most 10 s of it."""
    return httpx.Timeout(seconds, connect=min(10.0, seconds))


def _content_length(headers: httpx.Headers) -> int | None:
    """The declared body size in bytes, or None when absent or unreadable (then the stream decides)."""
    value = headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _parse_body(raw: bytearray) -> tuple[Any, bool]:
    """``(value, True)`` for a JSON body; ``(text, False)`` when it is not JSON; ``(None, False)`` when empty.

    Error bodies that are not JSON still reach :meth:`UpstreamError.from_response` as text; a 2xx
    that is not JSON is refused where its value is used (:meth:`ProxyResponse.json_object`).
    """
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return raw.decode("utf-8", "replace"), False

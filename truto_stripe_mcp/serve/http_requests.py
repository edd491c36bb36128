"""Reading HTTP requests with deadlines, and clients that leave said in one line.

uvicorn (h11) waits for a request's headers and body as long as the client likes: a client
that sends one byte a minute holds a connection, and a task, forever. Two clocks bound that,
both ``TRUTO_MCP_HTTP_READ_TIMEOUT`` seconds:

- the headers: :func:`protocol_with_header_timeout` is uvicorn's h11 protocol with a timer
  from the connection's first moment (or a kept-alive connection's first new byte) until the
  headers are complete; when it fires the client gets ``408`` and the connection is closed;
- the body: :class:`RequestBodyReader` reads the whole body before the MCP transport sees the
  request, under the same deadline (``408`` and close when it passes).

Reading the body first also means a client that disconnects before sending all of it is one
INFO line here, instead of the SDK's ERROR with a ``ClientDisconnect`` traceback; one that
leaves before its answer is complete is one INFO line too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

import anyio
import h11
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


def _timeout_body(seconds: float, part: str) -> bytes:
    message = (
        f"Request Timeout: the request's {part} did not arrive within {seconds:g} s "
        "(TRUTO_MCP_HTTP_READ_TIMEOUT). Nothing was done; send the request again."
    )
    return json.dumps({"error": "request_timeout", "message": message}).encode()


class RequestBodyReader:
    """ASGI middleware: the whole request body is read, within the deadline, before ``app`` runs.

    At most the SDK's body limit (plus one byte) is held; a larger body is handed on as it is,
    for the SDK to answer 413.
    """

    def __init__(
        self, app: ASGIApp, read_timeout: float, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    ) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        if scope["method"] in _BODY_METHODS:
            outcome = await self._read_body(scope, receive, buffered)
            if outcome == "disconnected":
                logger.info(
                    "%s disconnected before sending the whole request (%s %s); nothing was done",
                    _client(scope),
                    scope["method"],
                    scope["path"],
                )
                return
            if outcome == "timeout":
                logger.info(
                    "%s did not send its request body within %g s (%s %s); answered 408",
                    _client(scope),
                    self.read_timeout,
                    scope["method"],
                    scope["path"],
                )
                await _send_timeout(send, _timeout_body(self.read_timeout, "body"))
                return
        watch = _LeaveWatch(receive, send)
        await self.app(scope, _replay(buffered, watch.receive), watch.send)
        if watch.left and scope["method"] == "POST":
            logger.info(
                "%s disconnected before its answer was complete (%s %s)",
                _client(scope),
                scope["method"],
                scope["path"],
            )

    async def _read_body(self, scope: Scope, receive: Receive, buffered: list[Message]) -> str:
        """``"complete"``, ``"oversized"`` (stopped at the limit), ``"disconnected"`` or ``"timeout"``."""
        body = bytearray()
        with anyio.move_on_after(self.read_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return "disconnected"
                body.extend(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if not more or len(body) > self.max_body:
                    buffered.append({"type": "http.request", "body": bytes(body), "more_body": more})
                    return "oversized" if more else "complete"
        return "timeout"


def _replay(buffered: list[Message], receive: Receive) -> Receive:
    """The body already read, then whatever the connection says next (a disconnect, usually)."""

    async def replayed() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return replayed


class _LeaveWatch:
    """Notes whether the client left before its answer was complete.

    uvicorn drops what is sent to a client that has gone; the sign is an ``http.disconnect``
    from ``receive`` (which the SDK's event streams listen for) while the answer is still open.
    """

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._complete = False
        self.left = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" and not self._complete:
            self.left = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._complete = True
        await self._send(message)


async def _send_timeout(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on a request's headers (see the module docstring)."""

    read_timeout: ClassVar[float] = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the headers are in (or the connection is done)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.read_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return  # closed already, or the headers came in meanwhile
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info(
            "%s did not send a request's headers within %g s; answered 408 and closed the connection",
            client,
            self.read_timeout,
        )
        if self.conn.our_state is h11.IDLE:  # no answer under way: a whole 408 can be written
            body = _timeout_body(self.read_timeout, "headers")
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[H11Protocol]:
    """uvicorn's ``http`` protocol class, with ``seconds`` to send each request's headers."""
    return type("HeaderTimeoutH11Protocol", (_HeaderTimeoutProtocol,), {"read_timeout": seconds})

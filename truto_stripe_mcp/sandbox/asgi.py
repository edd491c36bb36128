"""Small ASGI helpers: reading the request, sending JSON, and cutting connections.

The sandbox speaks raw ASGI instead of Starlette's Request/Response because it must see
`raw_path` (so an id containing `%2F` stays one segment) and must be able to abort a
response half-way (the drop faults).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.types import Receive, Send

JSON_TYPE = "application/json; charset=utf-8"


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to abort a response mid-body, on purpose.

    Under uvicorn the server closes the socket, so the client sees a truncated response.
    In-process (httpx.ASGITransport re-raises app exceptions) the client receives this
    exception directly, and because it is an httpx.RemoteProtocolError it looks the same
    to client code as the real network failure.
    """

    def __init__(self, message: str = "Server disconnected without sending a complete response.") -> None:
        super().__init__(message)


def split_path(raw_path: bytes) -> tuple[str, list[str]]:
    """The raw path as text and its segments, each percent-decoded exactly once."""
    text = raw_path.decode("latin-1")
    return text, [unquote(part) for part in text.split("/")[1:]]


def header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names; repeated headers are joined with ", " as HTTP allows."""
    out: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _raw_headers(body: bytes | None, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """JSON's content type unless ``headers`` name another; the body's length unless streamed (None)."""
    given = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw = [] if any(name == b"content-type" for name, _ in given) else [(b"content-type", JSON_TYPE.encode())]
    if body is not None:
        raw.append((b"content-length", str(len(body)).encode()))
    return raw + given


async def send_bytes(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _raw_headers(body, headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_truncated(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Promise the full Content-Length, send at most half of it, then abort."""
    await send({"type": "http.response.start", "status": status, "headers": _raw_headers(body, headers)})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionDropped()


STREAM_CHUNK = 64 * 1024


async def send_stream(send: Send, status: int, size: int, headers: dict[str, str]) -> None:
    """``size`` filler bytes in 64 kB chunks: chunked, unless ``headers`` declare a Content-Length.

    A declared length the stream does not reach is cut with :class:`ConnectionDropped`, as a
    server that promised more than it had would be. Under uvicorn, a send after the client hung
    up returns at once, so the loop ends quickly once nobody is reading.
    """
    await send({"type": "http.response.start", "status": status, "headers": _raw_headers(None, headers)})
    chunk = b"x" * STREAM_CHUNK
    left = size
    while left > 0:
        part = chunk[: min(left, STREAM_CHUNK)]
        await send({"type": "http.response.body", "body": part, "more_body": True})
        left -= len(part)
    declared = {k.lower(): v for k, v in headers.items()}.get("content-length")
    if declared is not None and int(declared) != size:
        raise ConnectionDropped()
    await send({"type": "http.response.body", "body": b"", "more_body": False})

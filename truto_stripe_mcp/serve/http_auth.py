"""The bearer token every HTTP request must carry (``TRUTO_MCP_HTTP_TOKEN``).

RFC 9110 makes the authentication scheme case-insensitive (``bearer x`` and ``BEARER x`` are
``Bearer x``) and allows more than one space before the credentials. A request with two
``Authorization`` headers is refused with 400 rather than judged by one of them: proxies and
frameworks disagree on which one wins, and a server must not let that ambiguity pick.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OWNER_KEY = "truto_mcp.owner"
"""Where the gate leaves, in the ASGI scope, who the request is from: a digest of the token it
presented (never the token), so per-token limits (:mod:`.http_sessions`) can key on it."""

ANONYMOUS = "anonymous"
"""The owner of every request when no token is configured (loopback only)."""


def owner_of(token: str) -> str:
    """A stable, non-secret name for a token: the first 16 hex digits of its SHA-256."""
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]


def presented_token(scope: Scope) -> tuple[str | None, str | None]:
    """The bearer credentials of a request, or why there are none usable.

    Returns ``(token, None)``, or ``(None, problem)`` where ``problem`` is ``"duplicate"`` (two
    or more ``Authorization`` headers), ``"missing"`` or ``"scheme"`` (not a Bearer token).
    """
    values = [value for name, value in scope.get("headers") or [] if name == b"authorization"]
    if len(values) > 1:
        return None, "duplicate"
    if not values:
        return None, "missing"
    scheme, _, credentials = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None, "scheme"
    return credentials.strip(), None


class BearerTokenGate:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()
        self._owner = owner_of(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token, problem = presented_token(scope)
        if problem == "duplicate":
            await _refuse(
                send,
                400,
                "bad_request",
                "The request has more than one Authorization header. Send exactly one: "
                "'Authorization: Bearer <TRUTO_MCP_HTTP_TOKEN>'.",
            )
            return
        if token is None or not hmac.compare_digest(token.encode(), self._expected):
            await _refuse(send, 401, "unauthorized", "Send 'Authorization: Bearer <TRUTO_MCP_HTTP_TOKEN>'.")
            return
        scope[OWNER_KEY] = self._owner
        await self.app(scope, receive, send)


class AnonymousOwner:
    """Without a token (loopback only) every request belongs to one owner, ``anonymous``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[OWNER_KEY] = ANONYMOUS
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="truto-stripe-mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Stateful HTTP sessions, capped per bearer token so that no client can lock the others out.

The SDK keeps up to 10,000 sessions for 30 idle minutes each; a burst of ``initialize``
requests then filled the server for half an hour and every new client got 503. Here each
token (every request without one, on loopback, counts as one owner) may hold at most
``TRUTO_MCP_HTTP_MAX_SESSIONS`` sessions, each closed by the SDK after
``TRUTO_MCP_HTTP_SESSION_IDLE`` seconds without a request in flight. When a token is at its
cap, a new session takes the place of that token's least recently used one that has no call
in flight (one that only holds its event stream open goes before none; one with a call under
way is never closed); a request for a session closed that way answers 404 saying why, and the
client starts a new session, as the MCP specification has clients do on 404. Only when every
session of the token has a call in flight is the new one refused: 503 with ``Retry-After``.

Sessions are seen from outside the SDK (its answers' ``Mcp-Session-Id``) and ended the way a
client ends one, with ``DELETE``; nothing of the SDK's internals is touched.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_auth import ANONYMOUS, OWNER_KEY

logger = logging.getLogger(__name__)

SESSION_HEADER = b"mcp-session-id"
RETRY_AFTER_SECONDS = 5
_CLOSED_REMEMBERED = 4096
"""How many sessions closed to make room are remembered, to tell their clients why (404)."""


@dataclass
class _Session:
    owner: str
    session_id: str
    last_active: float
    """When a request of the session last started or ended (its idle clock)."""
    calls: int = 0
    """POST and DELETE requests in flight: a call under way; never closed to make room."""
    streams: int = 0
    """GET event streams open."""

    def idle_for(self, now: float) -> float | None:
        """Seconds without any request in flight, or ``None`` while one is."""
        return None if self.calls or self.streams else now - self.last_active


class SessionQuota:
    """ASGI middleware in front of the SDK's stateful session manager (see the module docstring).

    ``close_session`` ends one session as a client's ``DELETE`` would (the SDK's own handler).
    """

    def __init__(
        self,
        app: ASGIApp,
        close_session: Callable[[str], Awaitable[None]],
        *,
        max_per_owner: int,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._close_session = close_session
        self.max_per_owner = max_per_owner
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._opening: dict[str, int] = {}
        """Per owner: new-session requests admitted whose answer has not come yet."""
        self._closed: OrderedDict[str, str] = OrderedDict()
        """Session id -> owner, for sessions closed to make room (bounded)."""

    # -- bookkeeping ---------------------------------------------------------------------------

    def _owned(self, owner: str, now: float) -> list[_Session]:
        """The owner's sessions, forgetting those the SDK has closed for idleness by now."""
        owned = []
        for session in [s for s in self._sessions.values() if s.owner == owner]:
            idle = session.idle_for(now)
            if idle is not None and idle > self.idle_timeout + 1.0:
                del self._sessions[session.session_id]  # expired in the SDK (its clock, ours + 1 s)
            else:
                owned.append(session)
        return owned

    def _room_for(self, owner: str) -> _Session | bool:
        """``True`` when there is room; else the session to close for it, or ``False`` for none."""
        now = self._clock()
        owned = self._owned(owner, now)
        if len(owned) + self._opening.get(owner, 0) < self.max_per_owner:
            return True
        quiet = [s for s in owned if not s.calls]
        if not quiet:
            return False
        # Sessions with nothing in flight first, then those holding only an event stream; the
        # least recently used of them.
        return min(quiet, key=lambda s: (s.streams > 0, s.last_active))

    # -- the middleware ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        owner = scope.get(OWNER_KEY, ANONYMOUS)
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None:
            if scope["method"] == "POST":
                await self._open(owner, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        session = self._sessions.get(session_id)
        if session is None:
            if self._closed.get(session_id) == owner:
                await _json_rpc_error(
                    send,
                    404,
                    "This session was closed to make room for a newer one: this token may hold "
                    f"{self.max_per_owner} sessions (TRUTO_MCP_HTTP_MAX_SESSIONS). "
                    "Start a new session with initialize.",
                )
                return
            await self._adopt(owner, session_id, scope, receive, send)
            return
        if session.owner != owner:  # a session belongs to the token that opened it
            await _json_rpc_error(send, 404, "Session not found.")
            return
        await self._serve(session, scope, receive, send)

    async def _open(self, owner: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A request without a session: an ``initialize`` may open one if the owner has room (or
        makes some); anything else is the SDK's to refuse, and closes nothing."""
        first = await receive()  # the body, already read whole (RequestBodyReader)
        receive = _replaying(first, receive)
        if not _is_initialize(first):
            await self.app(scope, receive, send)
            return
        room = self._room_for(owner)
        if room is False:
            logger.warning(
                "refused a new MCP session for %s: its %d sessions all have a call in flight",
                owner,
                self.max_per_owner,
            )
            await _json_rpc_error(
                send,
                503,
                f"Too many open sessions: this token may hold {self.max_per_owner} "
                "(TRUTO_MCP_HTTP_MAX_SESSIONS), and each has a call in progress. "
                f"Retry in {RETRY_AFTER_SECONDS} s, or end sessions you no longer use (HTTP DELETE).",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return
        self._opening[owner] = self._opening.get(owner, 0) + 1
        opened: list[str] = []
        try:
            if isinstance(room, _Session):
                await self._make_room(room)

            async def watch(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] < 400:
                    new_id = _header(message, SESSION_HEADER)
                    if new_id is not None and not opened:
                        opened.append(new_id)
                        self._opening[owner] -= 1
                        self._sessions[new_id] = _Session(owner, new_id, self._clock(), calls=1)
                await send(message)

            await self.app(scope, receive, watch)
        finally:
            if opened:
                self._done(opened[0], "POST")
            else:
                self._opening[owner] -= 1

    async def _make_room(self, victim: _Session) -> None:
        del self._sessions[victim.session_id]
        self._closed[victim.session_id] = victim.owner
        while len(self._closed) > _CLOSED_REMEMBERED:
            self._closed.popitem(last=False)
        logger.info(
            "closed MCP session %s… of %s to make room for a new one (%d sessions per token)",
            victim.session_id[:8],
            victim.owner,
            self.max_per_owner,
        )
        try:
            await self._close_session(victim.session_id)
        except Exception:  # the new session must not fail for an old one that would not close
            logger.warning("closing MCP session %s… failed", victim.session_id[:8], exc_info=True)

    async def _adopt(self, owner: str, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A session this layer does not know (it forgot an idle one the SDK still kept): the SDK
        decides; if it serves the request, the session is counted again."""
        served: list[_Session] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and not served:
                session = _Session(owner, session_id, self._clock())
                self._sessions.setdefault(session_id, session)
                served.append(self._sessions[session_id])
                self._started(served[0], scope["method"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if served:
                self._done(session_id, scope["method"])

    async def _serve(self, session: _Session, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        self._started(session, method)
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._done(session.session_id, method)
            ended = status and ((method == "DELETE" and status[0] < 400) or status[0] == 404)
            if ended:
                self._sessions.pop(session.session_id, None)

    def _started(self, session: _Session, method: str) -> None:
        if method == "GET":
            session.streams += 1
        else:
            session.calls += 1
        session.last_active = self._clock()

    def _done(self, session_id: str, method: str) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        if method == "GET":
            session.streams = max(0, session.streams - 1)
        else:
            session.calls = max(0, session.calls - 1)
        session.last_active = self._clock()


def _is_initialize(message: Message) -> bool:
    if message.get("type") != "http.request" or message.get("more_body"):
        return False
    try:
        document = json.loads(message.get("body", b""))
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("method") == "initialize"


def _replaying(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _header(holder: Scope | Message, name: bytes) -> str | None:
    for key, value in holder.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _json_rpc_error(send: Send, status: int, message: str, retry_after: int | None = None) -> None:
    """A JSON-RPC error without an id, as the SDK answers transport-level refusals."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600 if status == 404 else -32603, "message": message},
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

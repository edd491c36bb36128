"""The approval page: where a person, not the agent, approves a money-moving call.

A client that cannot show a question gets a link to a page served by this process, on
127.0.0.1 at a port the system picks, started the first time a call needs it (stdio and
HTTP alike). Each page shows one question and the exact call, with Approve and Decline;
the answer goes to :class:`~truto_stripe_mcp.pipeline.page_approvals.PageApprovals`.

What the page checks, and what each check stops:

- the ``Host`` header must be the page's own ``127.0.0.1:PORT``: a web page that rebinds
  its own name to 127.0.0.1 (DNS rebinding) can neither read a page nor answer it;
- an answer is a form ``POST`` that carries the page's nonce, which only the page's HTML
  holds (the link does not), and an ``Origin`` naming the page itself (and, when the
  browser sends it, ``Sec-Fetch-Site: same-origin``): another web page cannot answer
  (cross-site request forgery), and nothing the agent sends through MCP, nor anything it
  reads in a tool result, approves a call;
- no page may frame it (``frame-ancestors 'none'``, ``X-Frame-Options``), so no click
  can be stolen; the page runs no script and loads nothing.

What it cannot tell apart: a program on this machine that fetches the page and submits
its form the way a browser does (an agent with a shell or an unrestricted HTTP client)
looks like the person. docs/safety.md says which path guarantees what.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
from anyio.abc import TaskGroup
from starlette.types import Receive, Scope, Send

from ..pipeline.page_approvals import AnswerListener, PageQuestion
from ..redaction import redact

logger = logging.getLogger(__name__)

PATH = "/approvals/"
_MAX_BODY = 4096
_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Not no-referrer: under it a browser sends ``Origin: null`` with the page's own form POST.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass
class _Page:
    id: str
    nonce: str
    question: PageQuestion
    expires_at: float
    on_answer: AnswerListener
    answer: Literal["approved", "declined"] | None = None
    answering: bool = False


class ApprovalPageServer:
    """Approval pages on loopback; the listening socket is opened on the first :meth:`open`."""

    def __init__(self, group: TaskGroup, clock: Callable[[], float] = time.time) -> None:
        self._group = group
        self._clock = clock
        self._pages: dict[str, _Page] = {}
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._finished = anyio.Event()
        self._starting = anyio.Lock()
        self.origin = ""

    # -- what the approval gate uses ---------------------------------------------------------

    async def open(
        self, question: PageQuestion, expires_at: float, on_answer: AnswerListener
    ) -> tuple[str, str]:
        """Show ``question`` on a new page until ``expires_at``; its id and URL."""
        await self._start()
        now = self._clock()
        self._pages = {key: page for key, page in self._pages.items() if page.expires_at > now}
        page = _Page(secrets.token_urlsafe(16), secrets.token_urlsafe(24), question, expires_at, on_answer)
        self._pages[page.id] = page
        return page.id, f"{self.origin}{PATH}{page.id}"

    async def _start(self) -> None:
        async with self._starting:
            if self._socket is not None:
                return
            import uvicorn

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            sock.setblocking(False)
            port = sock.getsockname()[1]
            config = uvicorn.Config(
                self,
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ws="none",
                server_header=False,
                timeout_keep_alive=5,
                limit_concurrency=64,
            )
            self._server = _quiet_server(config)
            self._socket = sock
            self.origin = f"http://127.0.0.1:{port}"
            self._group.start_soon(self._serve, sock)
            logger.info("approval pages are served at %s%s...", self.origin, PATH)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        finally:
            self._finished.set()

    async def aclose(self) -> None:
        """Stop answering (in-flight requests get a moment to finish)."""
        if self._server is None:
            return
        self._server.should_exit = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            await self._finished.wait()
        if self._socket is not None:
            self._socket.close()

    # -- HTTP ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        if headers.get("host") != self.origin.removeprefix("http://"):
            await _respond(send, 421, "Wrong address", "Open the link exactly as it was given.")
            return
        path: str = scope["path"]
        page = self._pages.get(path.removeprefix(PATH)) if path.startswith(PATH) else None
        if page is None:
            await _respond(
                send, 404, "No such approval", "This link is unknown: it expired, or the server restarted."
            )
            return
        if scope["method"] == "GET":
            await self._show(send, page)
        elif scope["method"] == "POST":
            await self._answer(send, page, headers, await _body(receive))
        else:
            await _respond(send, 405, "Not allowed", "Use the buttons on the page.")

    async def _show(self, send: Send, page: _Page) -> None:
        if page.answer is not None or page.expires_at <= self._clock():
            await _respond(send, 200, *self._outcome(page))
            return
        await _send(send, 200, _question_html(page, self._clock()))

    async def _answer(self, send: Send, page: _Page, headers: dict[str, str], body: bytes | None) -> None:
        refusal = self._refusal(page, headers, body)
        if refusal is not None:
            await _respond(send, refusal[0], "Not accepted", refusal[1])
            return
        if page.answer is not None or page.expires_at <= self._clock() or page.answering:
            await _respond(send, 409, *self._outcome(page))
            return
        form = parse_qs((body or b"").decode("utf-8", "replace"))
        answer: Literal["approved", "declined"] = (
            "approved" if form.get("answer") == ["approve"] else "declined"
        )
        page.answering = True
        try:
            await page.on_answer(answer)
        except Exception as exc:
            logger.warning("could not keep the answer to approval page %s: %s", page.id, exc)
            await _respond(send, 503, "Not recorded", "Your answer could not be kept. Try again.")
            return
        finally:
            page.answering = False
        page.answer = answer
        logger.info("approval page %s: the user %s %s", page.id, answer, page.question.tool)
        await _respond(send, 200, *self._outcome(page))

    def _refusal(self, page: _Page, headers: dict[str, str], body: bytes | None) -> tuple[int, str] | None:
        """Why this POST is not the person answering on this page, or None."""
        if (
            headers.get("origin") != self.origin
            or headers.get("sec-fetch-site", "same-origin") != "same-origin"
        ):
            return 403, "Answers are accepted only from the approval page itself."
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 415, "Answers are accepted only from the approval page's buttons."
        if body is None:
            return 413, "That answer is too large."
        form = parse_qs(body.decode("utf-8", "replace"))
        nonce = form.get("nonce", [""])[0]
        if not hmac.compare_digest(nonce.encode(), page.nonce.encode()):
            return 403, "This answer did not come from the approval page. Reload it and answer there."
        if form.get("answer") not in (["approve"], ["decline"]):
            return 400, "Answer with the Approve or Decline button."
        return None

    def _outcome(self, page: _Page) -> tuple[str, str]:
        if page.answer == "approved":
            return "Approved", "The call goes ahead, once. You can close this page."
        if page.answer == "declined":
            return "Declined", "Nothing was done. You can close this page."
        if page.expires_at <= self._clock():
            return "Expired", "Nothing was done. Ask the agent to try again if you still want this."
        return "Being answered", "An answer to this page is being recorded."


def _quiet_server(config: Any) -> Any:
    """uvicorn's server without its signal handlers: the MCP server handles SIGINT/SIGTERM
    (uvicorn is imported only once a page is needed)."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


@asynccontextmanager
async def approval_pages(clock: Callable[[], float] = time.time) -> AsyncIterator[ApprovalPageServer]:
    """Approval pages for one serving process; nothing listens until a call needs a page."""
    async with anyio.create_task_group() as group:
        pages = ApprovalPageServer(group, clock)
        try:
            yield pages
        finally:
            await pages.aclose()
            group.cancel_scope.cancel()


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None past :data:`_MAX_BODY` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond(send: Send, status: int, title: str, message: str) -> None:
    await _send(send, status, _document(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"))


def _question_html(page: _Page, now: float) -> str:
    question = page.question
    arguments = redact(json.dumps(question.arguments, indent=2, ensure_ascii=False, sort_keys=True))
    until = datetime.fromtimestamp(page.expires_at, UTC).strftime("%H:%M:%S UTC")
    body = f"""<h1>Approve this Stripe action?</h1>
<p class="question">{html.escape(question.description)}</p>
<p>An agent asked truto-stripe-mcp to make this call. Nothing has been sent to Stripe yet.</p>
<details open><summary>The exact call: <code>{html.escape(question.tool)}</code></summary>
<pre>{html.escape(arguments)}</pre></details>
<form method="post" action="{PATH}{html.escape(page.id)}">
<input type="hidden" name="nonce" value="{html.escape(page.nonce)}">
<button class="approve" name="answer" value="approve">Approve</button>
<button name="answer" value="decline">Decline</button>
</form>
<p class="small">Open until {until} ({max(0, round((page.expires_at - now) / 60))} min).</p>"""
    return _document("Approve this Stripe action?", body)


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)} - truto-stripe-mcp</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}
.question{{font-size:1.25em;font-weight:600}}pre{{background:#f4f4f4;padding:.75em;overflow:auto}}
button{{font-size:1em;padding:.5em 1.5em;margin-right:1em}}.approve{{font-weight:600}}
.small{{color:#555;font-size:.875em}}</style></head>
<body>{body}</body></html>
"""

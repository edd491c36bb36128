"""MCP over streamable HTTP, for teams that host agents and IDEs that connect to a URL.

The SDK's transport does the protocol; this module adds what a network service needs:
a bearer token on every request (:mod:`.http_auth`: constant-time compared, never forwarded
to Truto), Host/Origin validation against DNS rebinding on every bind address, a refusal to
listen beyond loopback without a token, deadlines on reading requests
(:mod:`.http_requests`), a per-token cap on stateful sessions (:mod:`.http_sessions`), a
one-line error when the port cannot be bound, and a graceful shutdown on SIGINT/SIGTERM.
Imported only for ``--transport http``.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from ..config import ConfigError, Settings
from ..named_tools import check_named_tools
from ..runner import open_runner
from .approval_page import approval_pages
from .http_auth import AnonymousOwner, BearerTokenGate
from .http_requests import RequestBodyReader, protocol_with_header_timeout
from .http_sessions import SessionQuota
from .server import build_server

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse, before binding, to serve beyond this machine without a token."""
    if settings.http_token is None and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} without a token: set TRUTO_MCP_HTTP_TOKEN "
            "(every request must then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
        )


def security_settings(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection stays on for every bind address, not only loopback."""
    port = settings.port
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"]
    if not is_loopback(settings.host) and settings.host not in {"0.0.0.0", "::"}:
        hosts.append(f"{settings.host}:{port}")
        origins.append(f"http://{settings.host}:{port}")
    hosts.extend(settings.allowed_hosts)
    origins.extend(settings.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def build_app(settings: Settings, server: Any, port: int | None = None) -> ASGIApp:
    """The MCP endpoint with, from the outside in: the token check (or the anonymous owner on
    loopback), the body read under its deadline, and (stateful mode) the per-token session cap.

    ``port`` is the port actually bound (``settings.port`` may be 0: any free port).
    """
    port = settings.port if port is None else port
    if port != settings.port:
        settings = settings.model_copy(update={"port": port})
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.stateless,
        transport_security=security_settings(settings),
        host=settings.host,
        session_idle_timeout=settings.http_session_idle,
    )
    if not settings.stateless:
        app = SessionQuota(
            app,
            _session_closer(server.session_manager, port),
            max_per_owner=settings.http_max_sessions,
            idle_timeout=settings.http_session_idle,
        )
    app = RequestBodyReader(app, settings.http_read_timeout)
    if settings.http_token is not None:
        return BearerTokenGate(app, settings.http_token.get_secret_value())
    return AnonymousOwner(app)


def _session_closer(manager: Any, port: int) -> Callable[[str], Awaitable[None]]:
    """Ends a session the way its client would: a ``DELETE`` through the SDK's own handler."""

    async def close(session_id: str) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": MCP_PATH,
            "raw_path": MCP_PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", f"127.0.0.1:{port}".encode()), (b"mcp-session-id", session_id.encode())],
            "client": None,
            "server": None,
            "state": {},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            pass

        await manager.handle_request(scope, receive, send)

    return close


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for ``host:port``, or a :class:`ConfigError` that says why not in one line.

    Bound here rather than by uvicorn, which logs the error and exits from inside the event
    loop (a long traceback, after "serving at ..." was already printed).
    """
    try:
        addresses = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(
            f"Cannot listen on {host}: the name does not resolve ({exc.strerror}). "
            "Set --host / TRUTO_MCP_HOST to an address of this machine, e.g. 127.0.0.1."
        ) from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in addresses:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            if sockets and port == 0:  # "any free port": the same one on every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name != "nt":  # on Windows it would let two servers share the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(_bind_failure(host, port, exc)) from None
    return sockets


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} is already in use on {host}: another program (perhaps another "
            "truto-stripe-mcp) is listening there. Stop it, or choose another port with --port or "
            "TRUTO_MCP_PORT."
        )
    if exc.errno == errno.EACCES:
        return (
            f"Not allowed to listen on {where}: ports below 1024 need administrator rights. "
            "Choose a port above 1024 with --port or TRUTO_MCP_PORT."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"Cannot listen on {where}: {host} is not an address of this machine. "
            "Set --host / TRUTO_MCP_HOST to one of its addresses, e.g. 127.0.0.1."
        )
    return f"Cannot listen on {where}: {exc.strerror or exc}."


async def serve_http(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight calls get a grace period to finish."""
    check_exposure(settings)
    sockets = bind(settings.host, settings.port)
    port = sockets[0].getsockname()[1]
    try:
        async with open_runner(settings, serving=True) as runner, approval_pages() as pages:
            await check_named_tools(runner)
            app = build_app(settings, build_server(runner, pages), port)
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=10,
                http=protocol_with_header_timeout(settings.http_read_timeout),
            )
            if settings.http_token is None:
                logger.warning("no TRUTO_MCP_HTTP_TOKEN: serving without authentication on loopback only")
            shown = f"[{settings.host}]" if ":" in settings.host else settings.host
            logger.info("serving MCP at http://%s:%d%s", shown, port, MCP_PATH)
            server = _QuietSignalsServer(config)
            async with anyio.create_task_group() as group:
                group.start_soon(_stop_on_signal, server)
                await server.serve(sockets=sockets)
                group.cancel_scope.cancel()
            logger.info("stopped")
    finally:
        for sock in sockets:
            sock.close()


class _QuietSignalsServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15); the signals
    are handled by :func:`_stop_on_signal` instead, so a clean stop exits with 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on_signal(server: uvicorn.Server) -> None:
    """First signal: stop accepting, let in-flight requests finish (up to the grace period)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            logger.info(
                "received %s: finishing in-flight requests, then stopping", signal.Signals(received).name
            )
            server.should_exit = True
            return

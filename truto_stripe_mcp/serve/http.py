"""MCP over streamable HTTP, for teams that host agents and IDEs that connect to a URL.

The SDK's transport does the protocol; this module adds what a network service needs:
a bearer token on every request (constant-time compared, never forwarded to Truto),
Host/Origin validation against DNS rebinding on every bind address, a refusal to listen
beyond loopback without a token, and a graceful shutdown on SIGINT/SIGTERM. Imported only
for ``--transport http``.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import signal
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ConfigError, Settings
from ..runner import open_runner
from .approval_page import approval_pages
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


class BearerTokenGate:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not hmac.compare_digest(supplied, self._expected):
            body = b'{"error":"unauthorized","message":"send Authorization: Bearer <TRUTO_MCP_HTTP_TOKEN>"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="truto-stripe-mcp"'),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def build_app(settings: Settings, server: Any) -> ASGIApp:
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.stateless,
        transport_security=security_settings(settings),
        host=settings.host,
    )
    if settings.http_token is not None:
        app = BearerTokenGate(app, settings.http_token.get_secret_value())
    return app


async def serve_http(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight calls get a grace period to finish."""
    check_exposure(settings)
    async with open_runner(settings, serving=True) as runner, approval_pages() as pages:
        app = build_app(settings, build_server(runner, pages))
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        if settings.http_token is None:
            logger.warning("no TRUTO_MCP_HTTP_TOKEN: serving without authentication on loopback only")
        logger.info("serving MCP at http://%s:%d%s", settings.host, settings.port, MCP_PATH)
        server = _QuietSignalsServer(config)
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, server)
            await server.serve()
            group.cancel_scope.cancel()
        logger.info("stopped")


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

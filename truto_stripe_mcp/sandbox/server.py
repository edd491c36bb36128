"""Run the sandbox over real HTTP on loopback: in a background thread for tests and
benchmarks (`SandboxServer`), or in the foreground for the CLI (`serve`).

uvicorn runs at log level "warning" with access logs off, and never writes to stdout:
stdout belongs to the MCP stdio transport when the sandbox runs next to the server.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn

from .app import Sandbox
from .asgi import ConnectionDropped
from .config import SandboxConfig

_STARTUP_TIMEOUT = 10.0


class _HideDeliberateDrops(logging.Filter):
    """uvicorn logs every app exception; the drop faults raise on purpose, so hide those."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateDrops) for f in logger.filters):
        logger.addFilter(_HideDeliberateDrops())


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, so port 0 resolves to a real port before uvicorn starts.

    The protocol must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets
    that say so, and without it every response waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(sandbox: Sandbox, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        sandbox.app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # Keep connections for clients that pool them; close idle ones quickly on shutdown.
        timeout_keep_alive=5,
        log_config=None,  # keep uvicorn from installing stdout handlers
    )


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SandboxServer:
    """A sandbox served by uvicorn on a loopback port, in a daemon thread.

    Use as a context manager: `with SandboxServer(config) as server: httpx.get(server.url ...)`.
    `port=0` picks a free port; `.url`, `.port` and `.sandbox` are ready once entered.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.sandbox = Sandbox(config)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        return _url(self.host, self.port)

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    def start(self) -> SandboxServer:
        _install_log_filter()
        self._socket = _bind(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.sandbox, self._log_level))
        server, sock = self._server, self._socket
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def serve(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning"
) -> None:
    """Serve a sandbox in the foreground until cancelled (the CLI's `sandbox` command).

    Announces itself with one line on stderr: the URL, the API key and the account id.
    """
    _install_log_filter()
    sandbox = Sandbox(config)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    cfg = sandbox.config
    print(
        f"Truto sandbox listening on {_url(host, bound_port)} "
        f"(api key: {cfg.api_key}, integrated account id: {cfg.account_id})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await uvicorn.Server(_uvicorn_config(sandbox, log_level)).serve(sockets=[sock])
    finally:
        sock.close()

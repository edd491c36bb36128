"""Pieces shared by the cold-start, per-call overhead and throughput benchmarks.

Each benchmark runs the sandbox in its own process (so it never shares a GIL with the
client or the server being measured), reports medians and p95s over many samples, and
compares against a baseline measured in the same run. What they share lives here so the
three report figures the same way: one summary line per figure, and ``--json PATH``.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_ACCOUNT_ID = "sandbox-stripe"
JANE_CUSTOMER_ID = "cus_sandbox_jane"
GET_TOOL = "get_single_stripe_customer_by_id"
AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
# Handshake-era version: what today's clients (Claude Desktop, Cursor) send.
PROTOCOL_VERSION = "2025-11-25"


def free_port() -> int:
    """A loopback port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> float:
    """Seconds until ``port`` accepts a TCP connection; raises if ``proc`` dies or time runs out.

    A plain connect, not an HTTP request: some endpoints (an MCP server behind a bearer
    token) answer every probe with 401, and readiness is all that matters here.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s: uvicorn shuts down cleanly on SIGTERM."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SandboxProcess:
    """The sandbox on a free loopback port in its own process, stopped on exit.

    A separate process because an in-thread sandbox would take GIL time from whichever
    client is being measured, and an in-process (``--sandbox``) one would run inside the
    server being measured. ``extra_args`` go to ``truto-stripe-mcp sandbox`` (e.g. a rate
    limit); ``command`` replaces that command for a sandbox the CLI cannot configure (e.g.
    10,000 seeded customers). ``ready_s`` includes seeding.
    """

    def __init__(
        self,
        *extra_args: str,
        command: Callable[[int], list[str]] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_s = 0.0
        self._timeout = timeout
        argv = (
            command(self.port)
            if command is not None
            else [sys.executable, "-m", "truto_stripe_mcp", "sandbox", "--port", str(self.port), *extra_args]
        )
        self._proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def __enter__(self) -> SandboxProcess:
        try:
            self.ready_s = wait_for_port(self.port, self._proc, "the sandbox", self._timeout)
        except BaseException:
            stop(self._proc)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self._proc)

    @property
    def pid(self) -> int:
        return self._proc.pid


_cache_dir: Path | None = None


def bench_cache_dir() -> Path:
    """The catalog cache directory of this benchmark process (``TRUTO_MCP_CACHE_DIR``), removed
    at exit: a benchmark must not write into the user's cache directory, and must not find a
    catalog copy saved by an earlier run there (that would turn a cold start into a warm one)."""
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="truto-mcp-bench-cache-"))
        atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
    return _cache_dir


def bench_state() -> str:
    """The shared state of this benchmark's servers and runners: the default backend (SQLite),
    in a file under :func:`bench_cache_dir`, never the user's own state file."""
    return f"sqlite:///{bench_cache_dir() / 'state.sqlite3'}"


def server_env(base_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for ``python -m truto_stripe_mcp`` against the sandbox at ``base_url``.

    Approval is off (``TRUTO_MCP_CONFIRM=none``) and logging quiet, so the figures are the
    call path, not prompts or log formatting. Inherited ``TRUTO_*`` variables are dropped
    so a developer's real account can never leak into a benchmark, and the catalog's disk
    copy and the shared state (the default SQLite backend) go to :func:`bench_cache_dir`.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUTO_")}
    env.update(
        {
            "TRUTO_API_KEY": SANDBOX_API_KEY,
            "TRUTO_INTEGRATED_ACCOUNT_ID": SANDBOX_ACCOUNT_ID,
            "TRUTO_BASE_URL": base_url,
            "TRUTO_MCP_LOG_LEVEL": "WARNING",
            "TRUTO_MCP_CONFIRM": "none",
            "TRUTO_MCP_CACHE_DIR": str(bench_cache_dir()),
            "TRUTO_MCP_STATE": bench_state(),
        }
    )
    env.update(extra or {})
    return env


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, p95 (nearest rank, so it is a value that was observed), min, max, mean, n."""
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return {
        "median": statistics.median(ordered),
        "p95": ordered[rank - 1],
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
        "n": float(len(ordered)),
    }


def machine() -> dict[str, Any]:
    """Enough about the machine to compare figures across runs (load matters on 2 cores)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1min": os.getloadavg()[0],
    }


def child_processes() -> list[tuple[int, list[bytes]]]:
    """(pid, argv) of every child of this process, from ``/proc`` (psutil is not a dependency).

    The SDK's stdio client does not expose the server's pid, so benchmarks find it here.
    """
    me = os.getpid()
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited while we looked
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:  # the name in (...) may hold spaces
            children.append((int(entry.name), argv))
    return children


def find_server_pid() -> int:
    """The pid of the one ``truto_stripe_mcp`` child (the server the SDK client spawned).

    Callers keep any other child from matching: the pagination benchmark's sandbox child
    runs ``python -m bench.pagination``, the soak's sandbox is a thread.
    """
    found = [pid for pid, argv in child_processes() if b"truto_stripe_mcp" in argv]
    if len(found) != 1:
        raise RuntimeError(f"expected one truto_stripe_mcp child process, found {found}")
    return found[0]


def memory_mib(pid: int) -> dict[str, float]:
    """``VmHWM`` (peak resident set) and ``VmRSS`` of ``pid``, in MiB, from ``/proc``."""
    figures = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in {"VmHWM", "VmRSS"}:
            figures[key] = int(value.split()[0]) / 1024  # reported in kB
    return figures


def cpu_seconds(pid: int) -> float:
    """User plus system CPU ``pid`` has used so far (``/proc``): load elsewhere does not inflate it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def line(label: str, value: str) -> None:
    """One summary line: a label padded to a column, then the figure."""
    print(f"{label:52s} {value}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def write_json(path: Path | None, report: Mapping[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + os.linesep)


def jsonrpc_line(message: Mapping[str, Any]) -> bytes:
    """One newline-delimited JSON-RPC message, as the stdio transport frames it."""
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def initialize_request(request_id: int, client_name: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}

"""The ``truto-stripe-mcp`` command.

With no subcommand it serves MCP over stdio (what Claude Desktop and Cursor spawn).
Subcommands are for people: ``tools``, ``call``, ``doctor`` and ``sandbox``. Only MCP
messages (when serving) or a subcommand's own output go to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import anyio

from .config import APPROVAL_PATHS, CONFIRM_MODES, ConfigError, Settings, load_settings
from .redaction import RedactingFormatter, register_secret
from .version import __version__

PROG = "truto-stripe-mcp"


def configure_logging(settings: Settings) -> None:
    """Logs go to stderr, redacted: the formatter masks the configured secrets in every line."""
    for secret in (settings.api_key, settings.http_token):
        register_secret(secret.get_secret_value() if secret else None)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("truto_stripe_mcp").setLevel(settings.log_level)


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the subcommand (flags beat environment variables)."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection and tool selection")
    group.add_argument(
        "--api-key", default=default, help="Truto API token (env TRUTO_API_KEY; prefer the env var)"
    )
    group.add_argument(
        "--account-id",
        dest="integrated_account_id",
        default=default,
        help="Stripe integrated account id (env TRUTO_INTEGRATED_ACCOUNT_ID)",
    )
    group.add_argument("--base-url", default=default, help="Truto API base URL (env TRUTO_BASE_URL)")
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=default,
        help="serve against the embedded sandbox (no account needed; env TRUTO_MCP_SANDBOX)",
    )
    group.add_argument(
        "--toolsets",
        default=default,
        help="comma list of core, support, billing, sales, readonly, all (default: core; env TRUTO_MCP_TOOLSETS)",
    )
    group.add_argument(
        "--discovery",
        action="store_true",
        default=default,
        help="list a small set plus search_tools/describe_tool/call_tool, which reach every selected tool "
        "(env TRUTO_MCP_DISCOVERY)",
    )
    group.add_argument(
        "--code-mode",
        action="store_true",
        default=default,
        help="add run_code: a sandboxed Python program that calls the tools and returns only its answer; "
        "with --discovery, only search_tools, describe_tool and run_code are listed (env TRUTO_MCP_CODE_MODE)",
    )
    group.add_argument(
        "--code-timeout",
        type=float,
        default=default,
        help="seconds a run_code program may take (default 60; env TRUTO_MCP_CODE_TIMEOUT)",
    )
    group.add_argument(
        "--code-memory",
        dest="code_memory_mb",
        type=int,
        default=default,
        help="megabytes a run_code program may use (default 256; env TRUTO_MCP_CODE_MEMORY_MB)",
    )
    group.add_argument(
        "--code-max-calls",
        type=int,
        default=default,
        help="tool calls (list pages included) per run_code program (default 500; env TRUTO_MCP_CODE_MAX_CALLS)",
    )
    group.add_argument(
        "--methods",
        default=default,
        help="comma list: list,get,create,update,delete,read,write,custom or a custom method (env TRUTO_MCP_METHODS)",
    )
    group.add_argument("--tags", default=default, help="comma list of tool tags (env TRUTO_MCP_TAGS)")
    group.add_argument("--tools", default=default, help="allow list of tool names (env TRUTO_MCP_TOOLS)")
    group.add_argument(
        "--exclude-tools", default=default, help="tool names never exposed (env TRUTO_MCP_EXCLUDE_TOOLS)"
    )
    group.add_argument(
        "--read-only",
        action="store_true",
        default=default,
        help="only list/get tools, enforced at call time too (env TRUTO_MCP_READ_ONLY)",
    )
    group.add_argument(
        "--include-undocumented",
        action="store_true",
        default=default,
        help="also ask Truto for tools without documentation (has_description=false; "
        "env TRUTO_MCP_INCLUDE_UNDOCUMENTED)",
    )
    group.add_argument("--catalog-ttl", type=float, default=default, help="seconds to cache the tool catalog")
    group.add_argument(
        "--cache-dir",
        default=default,
        help="where the last good tool catalog is saved (default: the user cache directory; "
        "env TRUTO_MCP_CACHE_DIR)",
    )
    group.add_argument(
        "--state",
        default=default,
        help="where idempotency keys, the rate-limit window and approval tokens are shared: sqlite "
        "(default, one machine), sqlite:///PATH, redis://HOST:PORT/DB (replicas), memory "
        "(env TRUTO_MCP_STATE)",
    )
    group.add_argument("--timeout", type=float, default=default, help="HTTP timeout in seconds (default 30)")
    group.add_argument("--log-level", default=default, help="DEBUG, INFO, WARNING or ERROR (stderr)")
    group.add_argument(
        "--confirm",
        choices=CONFIRM_MODES,
        default=default,
        help="ask the user before: nothing, destructive and money-moving calls (default), or every write "
        "(env TRUTO_MCP_CONFIRM)",
    )
    group.add_argument(
        "--approval",
        choices=APPROVAL_PATHS,
        default=default,
        help="when the client cannot show the question: page (default: a local page where the user "
        "approves; the agent cannot) or token (a token in the result: the agent can approve this itself; "
        "env TRUTO_MCP_APPROVAL)",
    )
    group.add_argument(
        "--no-iso-timestamps",
        dest="iso_timestamps",
        action="store_false",
        default=default,
        help="do not add <field>_iso copies of epoch timestamps (env TRUTO_MCP_ISO_TIMESTAMPS=false)",
    )
    group.add_argument(
        "--result-budget", type=int, default=default, help="largest tool result in characters (default 25000)"
    )
    group.add_argument(
        "--keep-empty",
        action="store_true",
        default=default,
        help="keep null, {} and [] fields in results, which are left out by default (env TRUTO_MCP_KEEP_EMPTY)",
    )


def _transport_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("transport")
    group.add_argument("--transport", choices=("stdio", "http"), default=default, help="default stdio")
    group.add_argument("--host", dest="host", default=default, help="HTTP bind address (default 127.0.0.1)")
    group.add_argument("--port", dest="port", type=int, default=default, help="HTTP port (default 8765)")
    group.add_argument(
        "--stateless",
        action="store_true",
        default=default,
        help="HTTP without sessions, for several replicas behind a load balancer",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MCP server for Stripe through Truto. With no command, serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def sub(name: str, help_text: str) -> argparse.ArgumentParser:
        child = commands.add_parser(name, help=help_text, description=help_text)
        _common_options(child, suppress=True)
        return child

    serve = sub("serve", "serve MCP over stdio (the default) or streamable HTTP")
    for target in (parser, serve):
        _transport_options(target, suppress=target is serve)
    tools = sub("tools", "list the tools this configuration exposes")
    tools.add_argument("--json", action="store_true", help="print the MCP tool definitions as JSON")
    call = sub("call", "call one tool through the same pipeline an agent uses; print the result")
    call.add_argument("tool", help="tool name, e.g. list_all_stripe_customers")
    call.add_argument("--args", default="{}", help="arguments as a JSON object, e.g. '{\"limit\": 3}'")
    sub("doctor", "check the key, the account, reachability and the shared state, in plain words")
    state = sub("state", "show or clear this account's shared state (idempotency keys, tokens, window)")
    state.add_argument("action", nargs="?", choices=("show", "clear"), default="show")
    sandbox = sub("sandbox", "serve the Truto-compatible sandbox on 127.0.0.1 for tests and other clients")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument("--rate-limit", type=int, default=None, help="requests allowed per window")
    sandbox.add_argument("--rate-window", type=float, default=1.0, help="window length in seconds")
    return parser


_SETTING_FLAGS = (
    "transport",
    "host",
    "port",
    "stateless",
    "toolsets",
    "discovery",
    "code_mode",
    "code_timeout",
    "code_memory_mb",
    "code_max_calls",
    "api_key",
    "integrated_account_id",
    "base_url",
    "sandbox",
    "methods",
    "tags",
    "tools",
    "exclude_tools",
    "read_only",
    "include_undocumented",
    "catalog_ttl",
    "cache_dir",
    "state",
    "timeout",
    "log_level",
    "iso_timestamps",
    "result_budget",
    "keep_empty",
    "confirm",
    "approval",
)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in _SETTING_FLAGS}
    if overrides["sandbox"] is False:
        overrides["sandbox"] = None
    for flag in ("read_only", "discovery", "code_mode", "stateless", "include_undocumented", "keep_empty"):
        if overrides[flag] is False:
            overrides[flag] = None
    return load_settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        command = args.command or "serve"
        if (
            command != "serve"
            and getattr(args, "log_level", None) is None
            and "TRUTO_MCP_LOG_LEVEL" not in os.environ
        ):
            # People running a subcommand want its output, not the server's progress log.
            settings = settings.model_copy(update={"log_level": "WARNING"})
        configure_logging(settings)
        if command == "sandbox":
            return _run_sandbox(args)
        if not settings.sandbox:
            settings.require_credentials()
        if command == "serve" and settings.transport == "http":
            from .serve.http import check_exposure, serve_http

            check_exposure(settings)
            anyio.run(serve_http, settings)
            return 0
        if command == "serve":
            from .serve.server import serve_stdio

            anyio.run(serve_stdio, settings)
            return 0
        from . import commands

        if command == "tools":
            return anyio.run(commands.print_tools, settings, args.json)
        if command == "call":
            return anyio.run(commands.call_once, settings, args.tool, args.args)
        if command == "doctor":
            return anyio.run(commands.doctor, settings)
        if command == "state":
            return anyio.run(commands.state, settings, args.action)
        raise ConfigError(f"unknown command {command!r}")
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        # A configuration problem found inside a task group (the runner's) arrives wrapped.
        found = _only_config_error(group)
        if found is None:
            raise
        print(f"{PROG}: error: {found}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `truto-stripe-mcp tools | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _only_config_error(group: BaseExceptionGroup[BaseException]) -> ConfigError | None:
    """The :class:`ConfigError` a group holds when it holds nothing else (nested groups too)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], ConfigError) else None


def _run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import SandboxConfig, serve

    config = SandboxConfig(rate_limit=args.rate_limit, rate_window=args.rate_window)
    anyio.run(serve, config, args.host, args.port)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

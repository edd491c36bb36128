"""Configuration: environment variables and command-line flags, flags winning.

Everything the server can be told lives in :class:`Settings`. Upstream connection
settings use Truto's own names (``TRUTO_API_KEY`` ...); options of this server use the
``TRUTO_MCP_`` prefix so they cannot collide with anything Truto's SDKs read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .redaction import url_without_userinfo

DEFAULT_BASE_URL = "https://api.truto.one"
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest upstream body read (32 MiB): far above any Stripe page Truto returns (100 objects),
low enough that a runaway answer cannot take the process's memory."""

CommaList = Annotated[tuple[str, ...], NoDecode]
"""A list given as ``a,b,c`` in the environment or on the command line."""

# -- where the shared state lives (--state) -------------------------------------------------

STATE_FILE = "state.sqlite3"
STATE_FORMS = "sqlite (the default), sqlite:///PATH, redis://HOST:PORT/DB, rediss://..., or memory"


def default_state_path() -> Path:
    """``~/.local/state/truto-stripe-mcp/state.sqlite3`` on Linux, ``~/Library/Application
    Support/truto-stripe-mcp/`` on macOS, ``%LOCALAPPDATA%\\truto-stripe-mcp\\`` on Windows."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("truto-stripe-mcp", appauthor=False)) / STATE_FILE


@dataclass(frozen=True)
class StateLocation:
    """Where the state lives, as parsed from ``--state``."""

    kind: Literal["memory", "sqlite", "redis"]
    target: str = ""
    """The SQLite file ('' for the default one), or the Redis URL."""

    @classmethod
    def parse(cls, value: str | None) -> StateLocation:
        """Read ``--state``; a ``ValueError`` names the accepted forms."""
        text = (value or "sqlite").strip()
        if text in ("sqlite", "sqlite://"):
            return cls("sqlite")
        if text == "memory":
            return cls("memory")
        if text.startswith("sqlite:///"):
            return cls("sqlite", _file_of(text.removeprefix("sqlite:///")))
        if text.startswith(("redis://", "rediss://", "unix://")):
            return cls("redis", text)
        raise ValueError(f"--state must be {STATE_FORMS}; got {url_without_userinfo(text)!r}")

    def path(self) -> Path:
        """The SQLite file (``sqlite`` only)."""
        return Path(self.target).expanduser() if self.target else default_state_path()

    def describe(self) -> str:
        """Safe to print: the file, or the URL without its password."""
        if self.kind == "memory":
            return "memory (this process only)"
        if self.kind == "sqlite":
            return f"sqlite {self.path()}"
        return f"redis {url_without_userinfo(self.target)}"


def _file_of(rest: str) -> str:
    """``sqlite:///PATH``: an absolute path (any number of slashes), ``~/...``, or ``C:/...``."""
    if rest.startswith("~") or (len(rest) > 1 and rest[1] == ":"):
        return rest
    return "/" + rest.lstrip("/")


CONFIRM_MODES = ("none", "destructive", "writes")
"""``--confirm``: which calls wait for a person's approval (nothing, destructive and money-moving
ones, or every write)."""
APPROVAL_PATHS = ("page", "token")
"""``--approval``: how a client that cannot show a form gets the person's approval."""

# -- the settings ----------------------------------------------------------------------------


class ConfigError(Exception):
    """A configuration problem a person must fix; the CLI prints it and exits with 2."""


class Settings(BaseSettings):
    """The whole configuration of one server process.

    Secrets are :class:`SecretStr` so that printing a ``Settings`` (in a traceback, a
    debug log) can never show the Truto API key.
    """

    model_config = SettingsConfigDict(
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        case_sensitive=True,
        # A variable set to "" means "not set": a host app passes an optional field the user
        # left blank (an MCP Bundle's user_config) as an empty string, and that is the default.
        env_ignore_empty=True,
    )

    api_key: SecretStr | None = Field(None, validation_alias="TRUTO_API_KEY")
    integrated_account_id: str | None = Field(None, validation_alias="TRUTO_INTEGRATED_ACCOUNT_ID")
    base_url: str = Field(DEFAULT_BASE_URL, validation_alias="TRUTO_BASE_URL")

    # Which tools are exposed.
    toolsets: CommaList = Field((), validation_alias="TRUTO_MCP_TOOLSETS")
    discovery: bool = Field(False, validation_alias="TRUTO_MCP_DISCOVERY")
    discovery_threshold: int = Field(80, ge=1, validation_alias="TRUTO_MCP_DISCOVERY_THRESHOLD")
    tools_page_size: int = Field(100, ge=0, validation_alias="TRUTO_MCP_TOOLS_PAGE_SIZE")
    methods: CommaList = Field((), validation_alias="TRUTO_MCP_METHODS")
    tags: CommaList = Field((), validation_alias="TRUTO_MCP_TAGS")
    tools: CommaList = Field((), validation_alias="TRUTO_MCP_TOOLS")
    exclude_tools: CommaList = Field((), validation_alias="TRUTO_MCP_EXCLUDE_TOOLS")
    read_only: bool = Field(False, validation_alias="TRUTO_MCP_READ_ONLY")
    # Also ask Truto for tools it has no documentation for (has_description=false).
    include_undocumented: bool = Field(False, validation_alias="TRUTO_MCP_INCLUDE_UNDOCUMENTED")

    # Behaviour knobs.
    catalog_ttl: float = Field(300.0, ge=0, validation_alias="TRUTO_MCP_CATALOG_TTL")
    # Where the last good catalog of each account is saved; None: the platform's user cache directory.
    cache_dir: Path | None = Field(None, validation_alias="TRUTO_MCP_CACHE_DIR")
    timeout: float = Field(30.0, gt=0, validation_alias="TRUTO_MCP_TIMEOUT")
    max_argument_bytes: int = Field(1_000_000, gt=0, validation_alias="TRUTO_MCP_MAX_ARGUMENT_BYTES")
    max_response_bytes: int = Field(
        DEFAULT_MAX_RESPONSE_BYTES, gt=0, validation_alias="TRUTO_MCP_MAX_RESPONSE_BYTES"
    )
    log_level: str = Field("INFO", validation_alias="TRUTO_MCP_LOG_LEVEL")

    # Shaping results for agents.
    iso_timestamps: bool = Field(True, validation_alias="TRUTO_MCP_ISO_TIMESTAMPS")
    result_budget: int = Field(25_000, ge=1_000, validation_alias="TRUTO_MCP_RESULT_BUDGET")
    # Keep the fields that hold nothing (null, {}, []); by default results leave them out.
    keep_empty: bool = Field(False, validation_alias="TRUTO_MCP_KEEP_EMPTY")

    # Approval before money-moving or destructive calls: none | destructive | writes.
    confirm: str = Field("destructive", validation_alias="TRUTO_MCP_CONFIRM")
    confirmation_ttl: float = Field(300.0, gt=0, validation_alias="TRUTO_MCP_CONFIRMATION_TTL")
    # How a client that cannot show a form gets the person's approval: page (a loopback page the
    # person answers; the agent cannot) or token (a token the agent can pass back: it can approve
    # such calls itself). Clients that show forms are asked through them either way.
    approval: str = Field("page", validation_alias="TRUTO_MCP_APPROVAL")
    # Longest wait, in seconds, for the person's answer on the page within one call (under the
    # 60 s request timeout common clients have); the call can be repeated once they answered.
    approval_wait: float = Field(50.0, ge=0, validation_alias="TRUTO_MCP_APPROVAL_WAIT")

    # Backoff and idempotency (see ratelimit.RetryPolicy for what each bound means).
    max_attempts: int = Field(5, ge=1, le=20, validation_alias="TRUTO_MCP_MAX_ATTEMPTS")
    max_wait: float = Field(30.0, ge=0, validation_alias="TRUTO_MCP_MAX_WAIT")
    deadline: float = Field(45.0, gt=0, validation_alias="TRUTO_MCP_DEADLINE")
    # The longest a server's wait (Retry-After, ratelimit-reset) holds calls back before asking again.
    max_block: float = Field(60.0, gt=0, le=86_400, validation_alias="TRUTO_MCP_MAX_BLOCK")
    idempotency_window: float = Field(600.0, ge=0, validation_alias="TRUTO_MCP_IDEMPOTENCY_WINDOW")
    # Where the dedupe window, the rate-limit window and confirmation tokens live, shared by
    # every process of the account: sqlite (default), sqlite:///PATH, redis://..., memory.
    state: str = Field("sqlite", validation_alias="TRUTO_MCP_STATE")

    # Transport: stdio (spawned by a client) or streamable HTTP.
    transport: str = Field("stdio", validation_alias="TRUTO_MCP_TRANSPORT")
    host: str = Field("127.0.0.1", validation_alias="TRUTO_MCP_HOST")
    port: int = Field(8765, ge=0, le=65535, validation_alias="TRUTO_MCP_PORT")
    http_token: SecretStr | None = Field(None, validation_alias="TRUTO_MCP_HTTP_TOKEN")
    stateless: bool = Field(False, validation_alias="TRUTO_MCP_STATELESS")
    allowed_hosts: CommaList = Field((), validation_alias="TRUTO_MCP_ALLOWED_HOSTS")
    allowed_origins: CommaList = Field((), validation_alias="TRUTO_MCP_ALLOWED_ORIGINS")
    # Stateful HTTP sessions (see docs/http.md): at most this many per bearer token, each closed
    # after this many seconds with no request in flight (the SDK's own default is 30 minutes).
    http_max_sessions: int = Field(100, ge=1, validation_alias="TRUTO_MCP_HTTP_MAX_SESSIONS")
    http_session_idle: float = Field(300.0, gt=0, validation_alias="TRUTO_MCP_HTTP_SESSION_IDLE")
    # Seconds a client has to send a request's headers, and then its body, before the connection
    # is answered 408 and closed (a client that trickles bytes cannot hold a connection forever).
    http_read_timeout: float = Field(15.0, gt=0, validation_alias="TRUTO_MCP_HTTP_READ_TIMEOUT")

    # Code mode: run_code, a sandboxed Python program calling the tools (pydantic-monty).
    code_mode: bool = Field(False, validation_alias="TRUTO_MCP_CODE_MODE")
    code_timeout: float = Field(60.0, gt=0, le=3_600, validation_alias="TRUTO_MCP_CODE_TIMEOUT")
    code_memory_mb: int = Field(256, ge=16, le=16_384, validation_alias="TRUTO_MCP_CODE_MEMORY_MB")
    code_max_calls: int = Field(500, ge=1, le=100_000, validation_alias="TRUTO_MCP_CODE_MAX_CALLS")
    code_max_output: int = Field(10_000, ge=100, validation_alias="TRUTO_MCP_CODE_MAX_OUTPUT")

    # Serve against the embedded sandbox instead of api.truto.one.
    sandbox: bool = Field(False, validation_alias="TRUTO_MCP_SANDBOX")

    @field_validator("toolsets", mode="after")
    @classmethod
    def _known_toolsets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from .catalog.toolsets import parse_toolsets

        return parse_toolsets(value)

    @field_validator("transport")
    @classmethod
    def _transport(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"stdio", "http"}:
            raise ValueError(f"TRUTO_MCP_TRANSPORT must be stdio or http (got {value!r})")
        return value

    @field_validator("http_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator(
        "toolsets",
        "methods",
        "tags",
        "tools",
        "exclude_tools",
        "allowed_hosts",
        "allowed_origins",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            out: list[str] = []
            for item in value:
                out.extend(part.strip() for part in str(item).split(",") if part.strip())
            return tuple(out)
        return value

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _cache_dir(cls, value: Any) -> Any:
        """``~`` expanded; an empty value means the default directory."""
        if isinstance(value, str):
            value = value.strip()
            return Path(value).expanduser() if value else None
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"TRUTO_BASE_URL must start with http:// or https:// (got {value!r})")
        return value

    @field_validator("confirm")
    @classmethod
    def _confirm_mode(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in CONFIRM_MODES:
            raise ValueError(f"TRUTO_MCP_CONFIRM must be none, destructive or writes (got {value!r})")
        return value

    @field_validator("approval")
    @classmethod
    def _approval_path(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in APPROVAL_PATHS:
            raise ValueError(f"TRUTO_MCP_APPROVAL must be page or token (got {value!r})")
        return value

    @field_validator("code_mode")
    @classmethod
    def _interpreter_installed(cls, value: bool) -> bool:
        """Code mode runs programs in pydantic-monty, an optional dependency: say so at start-up,
        not at the first run_code."""
        from importlib.util import find_spec

        if value and find_spec("pydantic_monty") is None:
            raise ValueError(
                "code mode needs pydantic-monty; install it with pip install 'truto-stripe-mcp[code]'"
            )
        return value

    @field_validator("state")
    @classmethod
    def _state_location(cls, value: str) -> str:
        StateLocation.parse(value)
        return value.strip() or "sqlite"

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"log level must be DEBUG, INFO, WARNING or ERROR (got {value!r})")
        return value

    def require_credentials(self) -> tuple[str, str]:
        """The key and account id, or a :class:`ConfigError` naming the missing variable."""
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise ConfigError(
                "TRUTO_API_KEY is not set. Export your Truto API token as TRUTO_API_KEY "
                "(or run with --sandbox to try the server without an account)."
            )
        if not self.integrated_account_id or not self.integrated_account_id.strip():
            raise ConfigError(
                "TRUTO_INTEGRATED_ACCOUNT_ID is not set. Export the id of your Stripe integrated "
                "account as TRUTO_INTEGRATED_ACCOUNT_ID (or run with --sandbox)."
            )
        return self.api_key.get_secret_value().strip(), self.integrated_account_id.strip()

    def state_location(self) -> StateLocation:
        """The parsed ``state`` (validated when the settings were built)."""
        return StateLocation.parse(self.state)

    def catalog_cache_dir(self) -> Path:
        """The directory of the catalog's disk copies: ``cache_dir``, else the platform's user cache."""
        if self.cache_dir is not None:
            return self.cache_dir
        from .catalog.file import default_cache_dir

        return default_cache_dir()


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit values (flags) winning.

    ``None`` overrides are dropped so that an absent flag never hides an env var.
    Validation problems become a :class:`ConfigError` with one readable line.
    """
    from pydantic import ValidationError

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "configuration"
        field = Settings.model_fields.get(where)
        if field is not None and isinstance(field.validation_alias, str):  # given as a flag
            where = f"--{where.replace('_', '-')} ({field.validation_alias})"
        message = _sentence(first.get("msg", "invalid value"))
        raise ConfigError(message if where in message else f"Invalid {where}: {message}") from None


def _sentence(message: str) -> str:
    """Pydantic's message as one sentence: without its "Value error, " prefix, capitalised, ended."""
    text = message.removeprefix("Value error, ").strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."

"""Errors that end a tool call, each able to explain itself to an agent.

Every error here becomes an ``isError: true`` tool result, never a protocol error: an
agent can read the text, correct its arguments and try again. ``agent_message`` is the
sentence it reads; it never contains the API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ToolError(Exception):
    """Base class: a tool call that failed in a way the agent should be told about."""

    def agent_message(self) -> str:
        return str(self)

    def details(self) -> dict[str, Any]:
        """Structured fields for ``structuredContent``; the text carries the same facts."""
        return {"message": self.agent_message()}


class UnknownToolError(ToolError):
    """The name is not a tool of this server (or was filtered out)."""


class ToolRefusedError(ToolError):
    """The tool exists but this server will not run it (read-only mode, an exclusion)."""


class InvalidArgumentsError(ToolError):
    """Arguments failed validation against the tool's input schema."""

    def __init__(self, tool: str, problems: list[str]) -> None:
        self.tool = tool
        self.problems = problems
        super().__init__(f"Invalid arguments for {tool}: " + "; ".join(p.rstrip(".") for p in problems) + ".")

    def details(self) -> dict[str, Any]:
        return {"message": self.agent_message(), "problems": self.problems}


@dataclass
class UpstreamError(ToolError):
    """Truto (or Stripe behind it) answered with an HTTP error.

    Carries Truto's envelope fields and, for errors that came from Stripe
    (``truto_is_remote_error``), Stripe's own type/code/param/message so the agent can
    fix the exact parameter Stripe complained about.
    """

    status: int
    message: str
    truto_error: str | None = None
    remote: bool = False
    stripe: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        Exception.__init__(self, self.status, self.message)

    def __str__(self) -> str:
        return self.agent_message()

    @classmethod
    def from_response(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> UpstreamError:
        """Build from Truto's error envelope; tolerate bodies that are not one."""
        message = ""
        truto_error = None
        remote = False
        stripe: dict[str, Any] = {}
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            truto_error = body.get("error") if isinstance(body.get("error"), str) else None
            remote = bool(body.get("truto_is_remote_error"))
            raw = body.get("raw_response")
            if isinstance(raw, dict) and isinstance(raw.get("error"), dict):
                stripe = {
                    key: raw["error"][key]
                    for key in ("type", "code", "param", "message", "decline_code")
                    if raw["error"].get(key) is not None
                }
        elif isinstance(body, str):
            message = body.strip()[:500]
        return cls(
            status=status,
            message=message or _REASONS.get(status, "request failed"),
            truto_error=truto_error,
            remote=remote,
            stripe=stripe,
            headers=dict(headers or {}),
        )

    def agent_message(self) -> str:
        source = "Stripe" if self.remote else "Truto"
        text = f"{source} returned HTTP {self.status}"
        if self.stripe:
            kind = "/".join(str(self.stripe[k]) for k in ("type", "code") if k in self.stripe)
            if kind:
                text += f" ({kind})"
            text += f": {self.stripe.get('message') or self.message}"
            if "param" in self.stripe:
                text += f" [param: {self.stripe['param']}]"
        else:
            text += f": {self.message}"
        hint = _HINTS.get(self.status)
        if hint:
            text += f" {hint}"
        if self.note:
            text += f" {self.note}"
        return text

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.agent_message(), "status": self.status}
        if self.truto_error:
            out["error"] = self.truto_error
        if self.remote:
            out["from_stripe"] = True
        if self.stripe:
            out["stripe_error"] = self.stripe
        return out


class TransportError(ToolError):
    """The request never got an HTTP answer (connection refused, timeout, reset)."""


_REASONS = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    422: "unprocessable entity",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}

_HINTS = {
    401: "Check TRUTO_API_KEY: Truto rejected the API token.",
    403: "The API token is not allowed to use this integrated account.",
    404: "Check the id: no such object (or no such integrated account).",
    405: "This integrated account refuses writes (Truto sandbox accounts are read-only).",
    503: "The integrated account is blocked or needs re-authentication in Truto; retrying will not help.",
}

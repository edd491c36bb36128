"""Errors that end a tool call, each able to explain itself to an agent.

Every error here becomes an ``isError: true`` tool result, never a protocol error: an
agent can read the text, correct its arguments and try again. ``agent_message`` is the
sentence it reads; it never contains the API key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .body_preview import body_preview, format_bytes, json_kind
from .redaction import redact


class ToolError(Exception):
    """Base class: a tool call that failed in a way the agent should be told about."""

    def agent_message(self) -> str:
        return str(self)

    def details(self) -> dict[str, Any]:
        """Structured fields for ``structuredContent``; the text carries the same facts."""
        return {"message": self.agent_message()}


class CatalogFormatError(ValueError):
    """The tools endpoint answered with something that is not a tool list (or an entry that is not a tool)."""


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
    missing_scopes: tuple[str, ...] = ()
    """Scopes Truto's ``truto_error_insight`` says the connection lacks (403 only)."""

    def __post_init__(self) -> None:
        Exception.__init__(self, self.status, self.message)

    def __str__(self) -> str:
        return self.agent_message()

    @classmethod
    def from_response(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> UpstreamError:
        """Build from Truto's error envelope; tolerate bodies that are not one.

        A 401 or 403 that Stripe itself sent becomes a :class:`StripeCredentialsError`:
        the agent must be told to reconnect the account, not to check the Truto token.
        """
        message = ""
        truto_error = None
        remote = False
        stripe: dict[str, Any] = {}
        scopes: tuple[str, ...] = ()
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            truto_error = body.get("error") if isinstance(body.get("error"), str) else None
            remote = bool(body.get("truto_is_remote_error"))
            stripe = _stripe_error(body.get("raw_response"))
            scopes = _missing_scopes(body) if status == 403 else ()
        elif isinstance(body, str):
            message = body.strip()[:500]
        kind = StripeCredentialsError if remote and status in (401, 403) else cls
        return kind(
            status=status,
            message=message or _REASONS.get(status, "request failed"),
            truto_error=truto_error,
            remote=remote,
            stripe=stripe,
            headers=dict(headers or {}),
            missing_scopes=scopes,
        )

    @property
    def replayed(self) -> bool:
        """Stripe sent its stored answer to an earlier request with the same Idempotency-Key
        (``Idempotent-Replayed: true``): this request was not tried again."""
        return str(self.headers.get("idempotent-replayed", "")).lower() == "true"

    @property
    def stripe_code(self) -> str | None:
        """Stripe's error code (``card_declined``, ``idempotency_key_in_use`` ...), when it sent one."""
        code = self.stripe.get("code")
        return code if isinstance(code, str) else None

    def status_label(self) -> str:
        """``HTTP 400`` plus Stripe's error type/code when it sent them: ``HTTP 400 (card_error/card_declined)``."""
        kind = "/".join(str(self.stripe[k]) for k in ("type", "code") if k in self.stripe)
        return f"HTTP {self.status} ({kind})" if kind else f"HTTP {self.status}"

    def said(self) -> str:
        """What the upstream said: Stripe's own message and the parameter it named, else Truto's message."""
        text = str(self.stripe.get("message") or self.message) if self.stripe else self.message
        if "param" in self.stripe:
            text += f" [param: {self.stripe['param']}]"
        return text

    def agent_message(self) -> str:
        source = "Stripe" if self.remote else "Truto"
        parts = [_sentence(f"{source} returned {self.status_label()}: {self.said()}")]
        if self.missing_scopes:
            parts.append(f"Missing scopes: {', '.join(self.missing_scopes)}.")
        hint = _hint(self.status, self.remote)
        if hint:
            parts.append(hint)
        if self.note:
            parts.append(self.note)
        return " ".join(parts)

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.agent_message(), "status": self.status}
        if self.truto_error:
            out["error"] = self.truto_error
        if self.remote:
            out["from_stripe"] = True
        if self.stripe:
            out["stripe_error"] = self.stripe
        if self.missing_scopes:
            out["missing_scopes"] = list(self.missing_scopes)
        if self.replayed:
            out["replayed"] = True
        return out


class StripeCredentialsError(UpstreamError):
    """Stripe rejected the integrated account's connection (a 401/403 with ``truto_is_remote_error``).

    The Truto API token worked (Truto forwarded the call); what failed is the Stripe
    credential Truto holds for the account, so the fix is to reconnect the account in
    Truto. Telling the agent to check TRUTO_API_KEY would send a person the wrong way.
    """

    def agent_message(self) -> str:
        action = "reconnect this Stripe account in Truto (its owner re-authorises the connection there)"
        if self.missing_scopes:
            action += f" and grant the missing scopes {', '.join(self.missing_scopes)}"
        parts = [
            f"Stripe rejected this integrated account's credentials: {action}, then retry the call.",
            _sentence(f"Stripe answered {self.status_label()}: {self.said()}"),
            "Tell the user: retrying before the account is reconnected fails the same way.",
            "The Truto API token is fine: TRUTO_API_KEY needs no change.",
        ]
        if self.note:
            parts.append(self.note)
        return " ".join(parts)

    def details(self) -> dict[str, Any]:
        return {**super().details(), "reconnect_required": True}


def _stripe_error(raw: Any) -> dict[str, Any]:
    """Stripe's own ``{"error": {...}}`` fields from ``raw_response``, when it is there."""
    if not (isinstance(raw, dict) and isinstance(raw.get("error"), dict)):
        return {}
    error = raw["error"]
    return {
        key: error[key]
        for key in ("type", "code", "param", "message", "decline_code")
        if error.get(key) is not None
    }


_MAX_SCOPES = 50


def _missing_scopes(body: dict[str, Any]) -> tuple[str, ...]:
    """``truto_error_insight.forbidden_error.value.missing_scopes``: the names, deduplicated, or ()."""
    node: Any = body
    for key in ("truto_error_insight", "forbidden_error", "value", "missing_scopes"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        return ()
    names = (item.strip() for item in node if isinstance(item, str) and item.strip())
    return tuple(dict.fromkeys(names))[:_MAX_SCOPES]


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (or its own ``?``/``!``), so the next sentence starts clean."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _hint(status: int, remote: bool) -> str | None:
    """What the agent can do about a status; Truto's own 401/403/503 mean something else from Stripe."""
    if not remote and status in _TRUTO_HINTS:
        return _TRUTO_HINTS[status]
    return _HINTS.get(status)


class StateUnavailableError(ToolError):
    """The shared state (the SQLite file, Redis) cannot be used.

    Writes are refused rather than sent without their dedupe: a write sent while the state
    is away could run twice when repeated. Reads go on, with this process's own rate-limit
    estimate.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where, reason)
        self.where = where
        self.reason = reason

    def agent_message(self) -> str:
        return redact(
            f"Not sent: the shared state ({self.where}) cannot be used ({self.reason}), so this write could "
            "not be protected against running twice. Nothing was sent to Stripe; reads still work. "
            "Ask the user to check it (`truto-stripe-mcp doctor`), then call again."
        )

    def __str__(self) -> str:
        return redact(f"the shared state ({self.where}) cannot be used: {self.reason}")


class OutcomeUnknownError(ToolError):
    """Whether the request was carried out is not known: no answer came, or none this server
    can hand on as Stripe's.

    Never resent blindly by the caller's agent: a write may already have happened. For a write
    that may have reached Truto (``sent``), the idempotency stage says how to repeat it without
    doing it twice (:meth:`after_write`); otherwise ``advice`` says what to do.
    """

    read_advice = ""
    """The advice when no write may have happened (a subclass's default)."""

    def __init__(self, summary: str, *, sent: bool = True, advice: str = "", **facts: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.sent = sent
        """The request may have reached Truto (False only when it certainly did not)."""
        self.advice = advice or self.read_advice
        self.facts = facts
        self.write_advice = ""

    def after_write(self, advice: str) -> None:
        """Say that the write may have happened and how to repeat it without doing it twice."""
        self.write_advice = advice

    def agent_message(self) -> str:
        return " ".join(part for part in (self.summary, self.write_advice or self.advice) if part)

    def details(self) -> dict[str, Any]:
        facts = {key: value for key, value in self.facts.items() if value is not None}
        return {
            "message": self.agent_message(),
            **facts,
            "may_have_been_carried_out": bool(self.write_advice),
        }


class TransportError(OutcomeUnknownError):
    """The request never got an HTTP answer (connection refused, timeout, reset).

    ``sent`` is False only when no connection was made (nothing can have happened); a reset
    or a timeout after the request went out leaves a write's outcome unknown.
    """


class DeadlineError(TransportError):
    """The call's deadline came while an attempt was still waiting for its answer: the
    attempt was abandoned there, so the deadline bounds the whole call."""


class KeyInUseError(OutcomeUnknownError):
    """Stripe kept answering 409 ``idempotency_key_in_use`` (an earlier request with the same
    key still being processed) until the call's deadline: that request may yet complete."""


class UnusableResponseError(OutcomeUnknownError):
    """Truto answered, but with nothing this server can hand on as Stripe's answer.

    Never retried here: a read could be, but a write may already have been carried out, and
    whether to repeat it is the caller's decision. The idempotency stage adds, for writes, how
    to repeat it safely (:meth:`after_write`); reads get the subclass's ``read_advice``.
    """


class UnexpectedBodyError(UnusableResponseError):
    """A 2xx whose body is not JSON (a proxy's HTML page, a cut-off body, nothing at all), or is
    JSON of the wrong shape (a bare string where Stripe returns an object). Passing it on as a
    success would tell the agent the call worked when nobody knows what happened."""

    read_advice = (
        "This was a read, so nothing changed. Retrying may work; if this keeps happening, something "
        "between this server and Truto (a proxy, or a wrong TRUTO_BASE_URL) is answering instead of Truto."
    )

    @classmethod
    def for_body(
        cls, *, status: int, content_type: str, size: int, body: Any, is_json: bool, expected: str
    ) -> UnexpectedBodyError:
        """Describe what came back: its kind, content type, size and first characters (redacted)."""
        if size == 0:
            what, text = "an empty body", ""
        elif not is_json:
            what, text = "a body that is not JSON", str(body)
        else:
            what, text = f"a JSON {json_kind(body)}", json.dumps(body, ensure_ascii=False)
        preview = body_preview(text)
        shown = f", beginning {json.dumps(preview, ensure_ascii=False)}" if preview else ""
        summary = (
            f"Truto answered HTTP {status} with {what} where {expected} was expected "
            f"({content_type or 'no Content-Type'}, {size} bytes{shown}), so it is not Stripe's answer."
        )
        return cls(summary, status=status, content_type=content_type or None, bytes=size, preview=preview)


class ResponseTooLargeError(UnusableResponseError):
    """An upstream body past ``max_response_bytes``: refused by its Content-Length before reading,
    or as soon as more than the cap has arrived, so memory never holds more than the cap."""

    @classmethod
    def over_cap(
        cls, *, status: int, cap: int, content_length: int | None, content_type: str
    ) -> ResponseTooLargeError:
        if content_length is not None:
            how = f"its Content-Length is {content_length} bytes, so none of it was read"
        else:
            how = "more than that arrived, so reading stopped there and the connection was closed"
        summary = (
            f"Truto's answer (HTTP {status}) is larger than the {format_bytes(cap)} this server accepts: "
            f"{how}. Ask for less: a smaller `limit`, `fields` to keep only the fields you need, narrower "
            "filters or fewer `expand` entries. The server's operator can raise TRUTO_MCP_MAX_RESPONSE_BYTES."
        )
        return cls(
            summary,
            status=status,
            max_response_bytes=cap,
            content_length=content_length,
            content_type=content_type or None,
        )


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

_TRUTO_HINTS = {
    401: "Truto rejected the API token: check TRUTO_API_KEY.",
    403: "The API token is not allowed to use this integrated account.",
    503: (
        "Truto reports this integrated account as blocked (it may need re-authentication in Truto). "
        "The call was not retried: retrying will not help until the account is unblocked."
    ),
}
"""Hints for errors Truto itself produced (no ``truto_is_remote_error``)."""

_HINTS = {
    404: "Check the id: no such object (or no such integrated account).",
    405: "This integrated account refuses writes (Truto sandbox accounts are read-only).",
}

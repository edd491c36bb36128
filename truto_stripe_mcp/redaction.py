"""Keeping the Truto API key (and the HTTP bearer token) out of everything the server writes.

The key is sent only in the ``Authorization`` header, so no code here ever formats it on
purpose; the risk is text the server repeats: an upstream error body that echoes the
request, an exception from the HTTP client, a base URL with credentials in it, a traceback
in the log. Rather than trusting each of those paths, the boundaries where text leaves the
process (log records, tool results, protocol errors, the CLI's output, the stdio wire) pass
it through :func:`redact`, which knows every secret this process was configured with.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"
_MIN_LENGTH = 4  # shorter "secrets" would mask ordinary words
_forms: list[str] = []  # every secret, in each form it could appear in text, longest first


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so :func:`redact` masks it from now on (the raw value, its JSON
    escaping and its URL encoding, the forms a response or a URL would carry)."""
    if not secret or len(secret.strip()) < _MIN_LENGTH:
        return
    secret = secret.strip()
    for form in (secret, json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe="")):
        if form not in _forms:
            _forms.append(form)
    _forms.sort(key=len, reverse=True)


def forget_secrets() -> None:
    """For tests that configure several servers in one process."""
    _forms.clear()


def contains_secret(text: str) -> bool:
    return any(form in text for form in _forms)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (unchanged, and fast, when none is in it)."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string redacted (keys too); containers are copied only if needed."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_url(url: str) -> str:
    """``url`` without a password in its userinfo (``https://user:***@host``), then :func:`redact`."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{parts.username or ''}:{MASK}@{host}{port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    return redact(url)


class RedactingFormatter(logging.Formatter):
    """Formats a record (message, arguments, exception and stack text alike), then redacts the result.

    A filter that rewrote ``record.msg`` would miss tracebacks, which the formatter adds later.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def url_without_userinfo(url: str) -> str:
    """The URL as it names a place: a ``user:password@`` part names who connects, not where,
    and must never be written to disk or shown (a Truto base URL, a Redis URL)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))

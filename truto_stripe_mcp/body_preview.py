"""How an upstream body is shown in an error message: its JSON kind, its size, its first
characters with secrets masked. A pure leaf (the errors and the shaping of lists use it)."""

from __future__ import annotations

from typing import Any

from .redaction import redact

PREVIEW_CHARS = 100


def body_preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The first ``limit`` characters of an upstream body for an error message: whitespace runs
    collapsed (HTML is mostly indentation) and every configured secret masked, since an upstream
    page may echo the request's credentials."""
    head = " ".join(text[: limit * 40].split())
    masked = redact(head)
    return masked if len(masked) <= limit else masked[:limit] + "…"


def json_kind(value: Any) -> str:
    """JSON's name for a parsed value's type: ``string``, ``number``, ``array`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def format_bytes(count: int) -> str:
    """``33554432`` -> ``32 MiB (33554432 bytes)``; small counts stay in bytes."""
    if count < 1 << 20:
        return f"{count} bytes"
    mib = f"{count / (1 << 20):.1f}".removesuffix(".0")
    return f"{mib} MiB ({count} bytes)"

"""The last good tool catalog of one account, saved on disk.

Truto's reference marks the tools endpoint "(Deprecated)", and clients such as Claude
Desktop restart their servers often. A copy of the last catalog the endpoint returned lets
the server answer the first ``tools/list`` at once, and keep serving tools when the
endpoint fails (404, 410, 5xx, unreachable).

One file per (base URL, integrated account id, upstream filter query), named by a hash of
the three: the name says nothing about the configuration, and the API key is part of
neither the name nor the content. The file holds the raw tool entries exactly as the
endpoint returned them, so a newer server version re-parses them with its own catalog code
instead of trusting an older version's interpretation. Writes are atomic (a temporary file
in the same directory, then ``os.replace``), so a reader sees the old copy or the new one,
never half of one; a file that cannot be read or understood is ignored with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..redaction import contains_secret, url_without_userinfo
from ..version import __version__

logger = logging.getLogger(__name__)

APP_NAME = "truto-stripe-mcp"
FILE_FORMAT = 1


def default_cache_dir() -> Path:
    """The platform's user cache directory for this app (``~/.cache/truto-stripe-mcp`` on Linux,
    ``~/Library/Caches/truto-stripe-mcp`` on macOS, ``%LOCALAPPDATA%\\truto-stripe-mcp\\Cache`` on
    Windows). Imported here, not at start-up, because ``TRUTO_MCP_CACHE_DIR`` usually wins."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def describe_age(seconds: float) -> str:
    """An age in the words a person would use: "just now", "5 minutes ago", "3 hours ago"."""
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now" if seconds < 10 else f"{int(seconds)} seconds ago"


class CatalogDocument(BaseModel):
    """What one catalog file holds (the boundary: a file anyone could have edited)."""

    model_config = ConfigDict(extra="ignore")

    format: Literal[1]
    base_url: str
    integrated_account_id: str
    query: dict[str, str]
    fetched_at: float
    """Unix time the endpoint returned these tools."""
    server_version: str = ""
    tools: list[dict[str, Any]]


@dataclass(frozen=True)
class SavedCatalog:
    """A catalog read back from disk: the endpoint's raw entries and when they were fetched."""

    entries: tuple[Mapping[str, Any], ...]
    fetched_at: float
    path: Path

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.fetched_at


class CatalogFileError(Exception):
    """The catalog could not be saved (the reason is in the message; never the key)."""


@dataclass(frozen=True)
class CatalogFile:
    """Where the catalog of one (base URL, account, filter query) is saved, and how."""

    path: Path
    base_url: str
    integrated_account_id: str
    query: tuple[tuple[str, str], ...]

    @classmethod
    def for_account(
        cls, directory: Path, base_url: str, integrated_account_id: str, query: Mapping[str, str]
    ) -> CatalogFile:
        base_url = url_without_userinfo(base_url.rstrip("/"))
        pairs = tuple(sorted((str(key), str(value)) for key, value in query.items()))
        identity = json.dumps([base_url, integrated_account_id, pairs], separators=(",", ":"))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return cls(directory / f"catalog-{digest}.json", base_url, integrated_account_id, pairs)

    def read(self) -> SavedCatalog | None:
        """The saved copy, or ``None`` when there is none or it cannot be used (warned, never raised)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cannot read the saved tool catalog %s (%s); ignoring it", self.path, exc)
            return None
        try:
            document = CatalogDocument.model_validate_json(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem.get("loc", ())) or "the file"
            logger.warning(
                "ignoring the saved tool catalog %s: not a catalog this version can read (%s: %s); "
                "it is replaced at the next good load",
                self.path,
                where,
                problem.get("msg", "invalid"),
            )
            return None
        mine = (self.base_url, self.integrated_account_id, dict(self.query))
        if (document.base_url, document.integrated_account_id, document.query) != mine:
            logger.warning("ignoring the saved tool catalog %s: it belongs to another account", self.path)
            return None
        return SavedCatalog(tuple(document.tools), document.fetched_at, self.path)

    def write(self, entries: Sequence[Mapping[str, Any]], fetched_at: float) -> SavedCatalog:
        """Replace the saved copy atomically; :class:`CatalogFileError` says why it could not."""
        document = CatalogDocument(
            format=FILE_FORMAT,
            base_url=self.base_url,
            integrated_account_id=self.integrated_account_id,
            query=dict(self.query),
            fetched_at=fetched_at,
            server_version=__version__,
            tools=[dict(entry) for entry in entries],
        )
        text = document.model_dump_json()
        if contains_secret(text):  # only if Truto echoed the key into a tool description
            raise CatalogFileError("the catalog contains the API key, so it is not saved")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".catalog-", suffix=".tmp", dir=self.path.parent)
        except OSError as exc:
            raise CatalogFileError(f"cannot write in {self.path.parent}: {exc}") from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise CatalogFileError(f"cannot write {self.path}: {exc}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return SavedCatalog(tuple(document.tools), fetched_at, self.path)

"""Where the tool catalog comes from: Truto's tools endpoint, memory, or the copy on disk.

The tools endpoint is the one upstream call every tools/list depends on, and Truto has
marked it deprecated. :class:`CatalogCache` keeps it from being a single point of failure:

* in memory for ``ttl`` seconds, one load at a time (concurrent requests share a fetch);
* after every good load, the raw entries are saved on disk (:mod:`.catalog_file`);
* when the endpoint fails (404, 410, 5xx, unreachable, not a tool list), the catalog in
  memory, or else the saved copy, is served, with one warning per outage rather than one
  per call; without either, the error names the endpoint and what it answered;
* a 401 or 403 is a credential problem: no stale catalog is served, because every call
  made with its tools would be refused the same way;
* serving (with a task group for background work), the first request is answered from the
  saved copy at once and the catalog is refreshed from Truto in the background; listeners
  hear about every change of tool names, so the server can send ``list_changed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ..errors import CatalogFormatError, StripeCredentialsError, ToolError, TransportError, UpstreamError
from .file import CatalogFile, CatalogFileError, SavedCatalog, describe_age
from .spec import Catalog

logger = logging.getLogger(__name__)

Source = Literal["truto", "disk"]
FailureKind = Literal["status", "no_answer", "not_a_tool_list", "error"]
CREDENTIAL_STATUSES = frozenset({401, 403})
_MESSAGE_LIMIT = 200
"""Characters of Truto's own message quoted in a warning (an HTML error page can be long)."""


@dataclass(frozen=True)
class EndpointFailure:
    """What the tools endpoint did instead of returning a tool list, in words."""

    answer: str
    """Completes "GET /integrated-account/<id>/tools ...": "answered 410 Gone: ...", "got no answer (...)"."""
    kind: FailureKind = "error"
    status: int | None = None
    cause: ToolError | None = field(default=None, compare=False)
    """The error itself, where one explains more than the status (Stripe refusing the account)."""

    @property
    def credentials_refused(self) -> bool:
        return self.status in CREDENTIAL_STATUSES

    @classmethod
    def from_exception(cls, exc: BaseException) -> EndpointFailure:
        if isinstance(exc, UpstreamError):
            try:
                reason = HTTPStatus(exc.status).phrase
            except ValueError:
                reason = ""
            answer = f"answered {exc.status} {reason}".rstrip()
            message = " ".join(exc.message.split())[:_MESSAGE_LIMIT]
            if message and message.lower() != reason.lower():
                answer += f": {message}"
            return cls(answer, "status", exc.status, cause=exc)
        if isinstance(exc, TransportError):
            return cls(f"got no answer ({exc.agent_message().rstrip('.')})", "no_answer")
        if isinstance(exc, CatalogFormatError):
            return cls(f"answered with something that is not a tool list ({exc})", "not_a_tool_list")
        if isinstance(exc, ToolError):
            return cls(f"failed: {exc.agent_message().rstrip('.')}", cause=exc)
        return cls(f"failed: {type(exc).__name__}: {exc}")


class CatalogUnavailableError(ToolError):
    """No catalog can be served: the endpoint failed and nothing may stand in for it."""

    def __init__(self, endpoint: str, failure: EndpointFailure, saved: SavedCatalog | None) -> None:
        self.endpoint = endpoint
        self.failure = failure
        self.saved = saved
        super().__init__(f"{endpoint} {failure.answer}")

    @property
    def status(self) -> int | None:
        return self.failure.status

    def agent_message(self) -> str:
        text = f"{self.endpoint} {self.failure.answer.rstrip('.')}."
        if isinstance(self.failure.cause, StripeCredentialsError):
            text = self.failure.cause.agent_message()
        elif self.failure.status == 401:
            text += " Truto rejected the API key: check TRUTO_API_KEY."
        elif self.failure.status == 403:
            text += " The API key may not use this integrated account."
        if self.failure.credentials_refused and self.saved is not None:
            text += (
                f" The copy of the catalog saved {describe_age(self.saved.age())} is not used: "
                "every call would be refused the same way."
            )
        elif not self.failure.credentials_refused:
            text += " No saved copy of the catalog exists yet (one is kept after the first good load)."
        return text


@dataclass(frozen=True)
class CatalogStatus:
    """Where the catalog stands, for ``doctor``: the endpoint, what is served, the disk copy."""

    endpoint: str
    failure: EndpointFailure | None
    """The endpoint's failure while it keeps failing; ``None`` once it answers with tools."""
    source: Source | None
    fetched_at: float | None
    saved: SavedCatalog | None
    saved_file: Path | None
    """``None`` when no copy is kept at all (the in-process sandbox)."""


ChangeListener = Callable[[], Awaitable[None]]
Fetch = Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]


class CatalogCache:
    """The catalog of one account: from Truto, held for ``ttl`` seconds, backed by a disk copy.

    ``fetch`` returns the endpoint's raw entries (the disk copy stores them as they came).
    ``saved_file`` is where the copy lives (``None``: keep none). ``background`` is the task
    group of a serving process: with it, the first request is answered from the disk copy
    while Truto is asked in the background, and saving never delays an answer; without it
    (the ``tools``/``call``/``doctor`` commands, which exit at once) Truto is asked first.
    """

    def __init__(
        self,
        fetch: Fetch,
        ttl: float,
        *,
        endpoint: str = "the tools endpoint",
        saved_file: CatalogFile | None = None,
        background: TaskGroup | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self.endpoint = endpoint
        self._file = saved_file
        self._background = background
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = anyio.Lock()
        self._catalog: Catalog | None = None
        self._checked_at = -math.inf
        self._fetched_at: float | None = None
        self._listed_names: list[str] | None = None
        self._saved: SavedCatalog | None = None
        self._saved_read = False
        self._save_failed = False
        self._listeners: list[ChangeListener] = []
        self.source: Source | None = None
        self.failure: EndpointFailure | None = None
        self.generation = 0
        """Bumped when the served tool names change (for list_changed)."""

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every change of the served tool names, wherever it happened."""
        self._listeners.append(listener)

    def _fresh(self, limit: float) -> bool:
        return self._catalog is not None and self._clock() - self._checked_at < limit

    async def get(self, *, refresh: bool = False, max_age: float | None = None) -> Catalog:
        """The catalog to serve; :class:`CatalogUnavailableError` when there is none."""
        limit = self._ttl if max_age is None else max_age
        if not refresh and self._fresh(limit):
            assert self._catalog is not None
            return self._catalog
        before = self.generation
        try:
            async with self._lock:
                if not refresh and self._fresh(limit):
                    assert self._catalog is not None
                    return self._catalog
                first = self._catalog is None and not self._saved_read
                if first and not refresh and self._background is not None:
                    saved = await self._start_from_saved_copy()
                    if saved is not None:
                        return saved
                return await self._load()
        finally:
            if self.generation != before:
                await self._announce()

    async def status(self) -> CatalogStatus:
        await self._read_saved()
        return CatalogStatus(
            self.endpoint,
            self.failure,
            self.source,
            self._fetched_at,
            self._saved,
            self._file.path if self._file else None,
        )

    # -- loading (the lock is held) ------------------------------------------------------

    async def _load(self) -> Catalog:
        started = self._clock()
        try:
            entries = await self._fetch()
            catalog = Catalog.from_entries(entries)
        except Exception as exc:  # whatever the endpoint did, the answer is the same: fall back or say so
            return await self._fall_back(EndpointFailure.from_exception(exc), started)
        if self.failure is not None:
            logger.warning(
                "the tools endpoint answers again (%d tools); the catalog is current", len(catalog.specs)
            )
            self.failure = None
        fetched_at = self._wall_clock()
        self._accept(catalog, "truto", fetched_at, started)
        logger.info("loaded tool catalog: %d tools", len(catalog.specs))
        if self._file is not None:
            if self._background is not None:
                self._background.start_soon(self._save, entries, fetched_at)
            else:
                await self._save(entries, fetched_at)
        return catalog

    def _accept(self, catalog: Catalog, source: Source, fetched_at: float, checked_at: float) -> None:
        names = catalog.names()
        if self._listed_names is not None and names != self._listed_names:
            self.generation += 1
            logger.info("the tool catalog changed: %d tools now", len(names))
        self._catalog, self.source, self._fetched_at = catalog, source, fetched_at
        self._checked_at, self._listed_names = checked_at, names

    async def _fall_back(self, failure: EndpointFailure, started: float) -> Catalog:
        """Serve what stands in for the endpoint, or raise; one warning per outage (a new kind of
        answer, e.g. 503 turning into 401, is a new outage), not one per call."""
        previous, self.failure = self.failure, failure
        catalog: Catalog | None = None
        saved = await self._read_saved()
        if failure.credentials_refused:
            if self._catalog is not None:  # withdrawn: every call of its tools would be refused the same way
                self._catalog, self.source, self._listed_names = None, None, []
                self.generation += 1
            outcome = "no catalog is served while the credentials are refused"
        else:
            catalog = self._catalog
            if catalog is None:
                catalog = self._parse(saved)
                if catalog is not None and self._saved is not None:
                    self._accept(catalog, "disk", self._saved.fetched_at, started)
            outcome = f"serving {self._describe_served()}" if catalog else "no saved copy of the catalog yet"
        if previous is None or (previous.kind, previous.status) != (failure.kind, failure.status):
            logger.warning("the tools endpoint failed: %s %s; %s", self.endpoint, failure.answer, outcome)
        else:
            logger.info("the tools endpoint still fails (%s); %s", failure.answer, outcome)
        if catalog is None:
            raise CatalogUnavailableError(self.endpoint, failure, self._saved)
        self._checked_at = started  # ask Truto again after the TTL, not at every call
        return catalog

    def _describe_served(self) -> str:
        now = self._wall_clock()
        age = describe_age(now - (self._fetched_at if self._fetched_at is not None else now))
        if self.source == "disk" and self._saved is not None:
            return f"the copy saved {age} ({self._saved.path})"
        return f"the catalog loaded {age}"

    async def _start_from_saved_copy(self) -> Catalog | None:
        catalog = self._parse(await self._read_saved())
        if catalog is None or self._background is None or self._saved is None:
            return None
        self._accept(catalog, "disk", self._saved.fetched_at, self._clock())
        logger.info(
            "answering from the tool catalog saved %s; refreshing it from Truto in the background",
            describe_age(self._saved.age(self._wall_clock())),
        )
        self._background.start_soon(self._refresh_in_background)
        return catalog

    async def _refresh_in_background(self) -> None:
        """Replace the disk copy being served with Truto's catalog; never raises (it would end the server)."""
        before = self.generation
        try:
            async with self._lock:
                if self.source == "disk":  # else a request has already loaded it
                    await self._load()
        except CatalogUnavailableError:
            pass  # _fall_back has said what happened
        except Exception:
            logger.exception("refreshing the tool catalog in the background failed")
        finally:
            if self.generation != before:
                await self._announce()

    # -- the disk copy -------------------------------------------------------------------

    async def _read_saved(self) -> SavedCatalog | None:
        """The disk copy, read once per process (afterwards this process's own saves update it)."""
        if not self._saved_read and self._file is not None:
            self._saved_read = True
            self._saved = await anyio.to_thread.run_sync(self._file.read)
        return self._saved

    def _parse(self, saved: SavedCatalog | None) -> Catalog | None:
        if saved is None:
            return None
        try:
            return Catalog.from_entries(saved.entries)
        except CatalogFormatError as exc:
            logger.warning("ignoring the saved tool catalog %s: %s", saved.path, exc)
            self._saved = None
            return None

    async def _save(self, entries: Sequence[Mapping[str, Any]], fetched_at: float) -> None:
        """Write the disk copy; shielded, so a server stopping right after a load still keeps it."""
        assert self._file is not None
        with anyio.CancelScope(shield=True):
            if self._saved is not None and self._saved.fetched_at > fetched_at:
                return  # a newer load has been saved already
            try:
                self._saved = await anyio.to_thread.run_sync(self._file.write, entries, fetched_at)
                self._saved_read = True
            except (CatalogFileError, ValueError) as exc:
                log = logger.info if self._save_failed else logger.warning
                self._save_failed = True  # said once: a read-only directory stays read-only
                log("could not save a copy of the tool catalog: %s", exc)

    async def _announce(self) -> None:
        for listener in list(self._listeners):
            try:
                await listener()
            except Exception:  # telling clients must never cost a caller its catalog
                logger.warning("a catalog change listener failed", exc_info=True)

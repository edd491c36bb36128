"""Telling clients that the tool list changed (``notifications/tools/list_changed``).

A handshake-era client (protocol 2025-*) learns that its tool list is stale only from
this notification. The list can change during a request (a refresh after the catalog's
TTL) or with no request in flight at all: a server that answered the first tools/list from
the catalog's disk copy refreshes it in the background. So :class:`ListChangedNotifier`
remembers each client's latest session and the catalog generation it was last served or
told about, and tells every client whose generation is behind, whenever either happens.

Clients are told apart by their streamable HTTP session id; stdio has a single client,
and stateless HTTP requests (which have no channel for a notification outside a request)
share one entry, as before. 2026-era clients would subscribe with ``subscriptions/listen``,
which this server does not serve, so they are not sent the handshake-era notification.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..catalog.store import CatalogCache

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
MAX_CLIENTS = 256
"""Sessions remembered at once (the least recently active is forgotten): the SDK never says
when an HTTP session ends, and a forgotten client only misses a notification."""


@dataclass
class _Client:
    session: Any
    """The SDK's ``ServerSession`` of the client's latest request; its connection outlives it."""
    told: int
    """The catalog generation the client was last served or told about."""
    reachable: bool
    """Whether a notification can reach it outside its own requests (stdio, an HTTP session);
    a stateless HTTP request has no such channel."""


def client_key(ctx: Any) -> tuple[str, bool]:
    """Who sent a request: "stdio", its streamable HTTP session id, or "" (stateless HTTP), and
    whether it can be sent a notification outside its own requests."""
    headers = getattr(getattr(ctx, "request", None), "headers", None)
    if headers is None:
        return "stdio", True  # one client on one pipe
    session = str(headers.get(SESSION_HEADER, ""))
    return session, bool(session)


class ListChangedNotifier:
    """Sends ``list_changed`` to each handshake-era client once per change of the catalog."""

    def __init__(self, cache: CatalogCache, max_clients: int = MAX_CLIENTS) -> None:
        self._cache = cache
        self._max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        cache.on_change(self.tell_everyone)

    async def seen(self, ctx: Any, generation: int) -> None:
        """A request from a client that was served the catalog of ``generation`` (read before the
        request used the catalog): remember the client, and tell it now if the catalog moved on."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        key, reachable = client_key(ctx)
        client = self._clients.pop(key, None)
        if client is None:
            client = _Client(ctx.session, generation, reachable)
        else:
            client.session, client.reachable = ctx.session, reachable
        self._clients[key] = client
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)
        await self._tell(key, client)

    async def tell_everyone(self) -> None:
        """After a change outside any request of theirs (a background refresh, another client's call)."""
        for key, client in list(self._clients.items()):
            if client.reachable:
                await self._tell(key, client)

    async def _tell(self, key: str, client: _Client) -> None:
        generation = self._cache.generation
        if client.told == generation:
            return
        client.told = generation
        try:
            await client.session.send_tool_list_changed()
        except Exception:  # a notification must never cost the caller its result
            logger.warning("could not send notifications/tools/list_changed", exc_info=True)
            self._clients.pop(key, None)

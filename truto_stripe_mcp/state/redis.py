"""State in Redis: for replicas on several machines (``--state redis://HOST:PORT/DB``).

Every change is one Lua script (:mod:`.redis_scripts`), so it is atomic without locks;
every key lives under ``truto-stripe-mcp:{<account namespace>}:`` and expires (the
dedupe window, the token's lifetime, an idle window after an hour, an unused secret after
30 days), so nothing grows without bound. The ``redis`` package is imported only when
this backend is chosen.

Times are each caller's own clock (epoch seconds): keep the machines NTP-synced, as any
fleet is; a skew of some milliseconds only blurs a rate-limit window's edge.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StateUnavailableError
from ..redaction import url_without_userinfo
from ..upstream.rate_limit_headers import DEFAULT_MAX_BLOCK
from . import redis_scripts
from .store import SECRET_TTL, WINDOW_TTL, KeyClaim, KeyRecord, KeyStatus

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ..upstream.rate_limit_headers import RateLimitInfo

T = TypeVar("T")

CONNECT_TIMEOUT = 2.0
"""Seconds to reach Redis before the state counts as unusable (a write is then refused)."""
_PREFIX = "truto-stripe-mcp"


class RedisState:
    """:class:`~.store.StateStore` in Redis, shared by every machine that reaches it."""

    kind = "redis"

    def __init__(self, url: str, namespace: str, *, clock: Callable[[], float] = time.time) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError:
            raise StateUnavailableError(
                url_without_userinfo(url),
                "the redis package is not installed: pip install 'truto-stripe-mcp[redis]'",
            ) from None
        self.where = url_without_userinfo(url)
        self.namespace = namespace
        self._clock = clock
        self._prefix = f"{_PREFIX}:{{{namespace}}}"
        self._redis: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT,
        )
        self._claim = self._redis.register_script(redis_scripts.CLAIM)
        self._settle = self._redis.register_script(redis_scripts.SETTLE)
        self._renew = self._redis.register_script(redis_scripts.RENEW)
        self._secret = self._redis.register_script(redis_scripts.SECRET)
        self._window = self._redis.register_script(redis_scripts.WINDOW)

    def _name(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    async def _run(self, step: Awaitable[T]) -> T:
        """One Redis step; any failure to use it becomes :class:`StateUnavailableError`."""
        from redis.exceptions import RedisError

        try:
            return await step
        except (RedisError, OSError) as exc:
            raise StateUnavailableError(self.where, str(exc) or type(exc).__name__) from exc

    async def check(self) -> None:
        await self._run(self._redis.ping())

    async def signing_secret(self) -> bytes:
        candidate = secrets.token_hex(32)
        ttl = int(SECRET_TTL * 1000)
        secret = await self._run(self._secret(keys=[self._name("secret")], args=[candidate, ttl]))
        return bytes.fromhex(secret)

    async def use_token(self, token: str, now: float, expires_at: float) -> bool:
        lifetime_ms = max(1, math.ceil((expires_at - now) * 1000))  # relative: the caller's clock decides
        first = await self._run(self._redis.set(self._name("token", token), "1", nx=True, px=lifetime_ms))
        return bool(first)

    async def put_approval(self, key: str, record: str, now: float, expires_at: float) -> None:
        lifetime_ms = max(1, math.ceil((expires_at - now) * 1000))
        await self._run(self._redis.set(self._name("approval", key), record, px=lifetime_ms))

    async def read_approval(self, key: str, now: float) -> str | None:
        return await self._run(self._redis.get(self._name("approval", key)))

    async def claim_key(self, fingerprint: str, candidate: KeyRecord, now: float) -> KeyClaim:
        reply = await self._run(
            self._claim(
                keys=[self._name("key", fingerprint)],
                args=[
                    _number(now),
                    candidate.key,
                    _number(candidate.first_used_at),
                    _number(candidate.expires_at),
                    _number(candidate.lease_until),
                ],
            )
        )
        owner, taken_over, key, first_used_at, expires_at, status, lease_until, error = reply
        record = KeyRecord(key, float(first_used_at), float(expires_at), status, float(lease_until), error)
        return KeyClaim(record, owner=bool(owner), taken_over=bool(taken_over))

    async def read_key(self, fingerprint: str) -> KeyRecord | None:
        raw = await self._run(self._redis.hgetall(self._name("key", fingerprint)))
        if not raw or "key" not in raw:
            return None
        return KeyRecord(
            raw["key"],
            float(raw["first_used_at"]),
            float(raw["expires_at"]),
            raw["status"],  # type: ignore[arg-type]
            float(raw["lease_until"]),
            raw.get("error"),
        )

    async def settle_key(self, fingerprint: str, key: str, status: KeyStatus, error: str | None) -> None:
        await self._run(self._settle(keys=[self._name("key", fingerprint)], args=[key, status, error or ""]))

    async def renew_lease(self, fingerprint: str, key: str, lease_until: float) -> None:
        await self._run(self._renew(keys=[self._name("key", fingerprint)], args=[key, _number(lease_until)]))

    async def reserve_slot(self, now: float, max_block: float = DEFAULT_MAX_BLOCK) -> tuple[float, int]:
        args = ["reserve", _number(now), int(WINDOW_TTL * 1000), _number(max_block)]
        reply = await self._run(self._window(keys=[self._name("window")], args=args))
        return float(reply[0]), int(reply[1])

    async def observe_window(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None,
        max_block: float = DEFAULT_MAX_BLOCK,
    ) -> None:
        args: list[str | int] = ["observe", _number(now), int(WINDOW_TTL * 1000), status]
        args.extend(
            _optional(value)
            for value in (
                generation,
                info.limit,
                info.window,
                info.remaining,
                info.reset_after,
                info.retry_after,
                info.reset_resolution,
            )
        )
        args.append(_number(max_block))
        await self._run(self._window(keys=[self._name("window")], args=args))

    async def window_fields(self) -> dict[str, str]:
        """The window as stored (for tests comparing it with the Python reference)."""
        return await self._run(self._redis.hgetall(self._name("window")))

    async def clear(self) -> int:
        names = await self._run(self._names(self._name("*")))
        if not names:
            return 0
        return int(await self._run(self._redis.unlink(*names)))

    async def summary(self) -> dict[str, Any]:
        keys = await self._run(self._names(self._name("key", "*")))
        tokens = await self._run(self._names(self._name("token", "*")))
        return {"idempotency_keys": len(keys), "used_tokens": len(tokens)}

    async def _names(self, pattern: str) -> list[str]:
        return [name async for name in self._redis.scan_iter(match=pattern, count=500)]

    async def aclose(self) -> None:
        await self._redis.aclose()


def _number(value: float) -> str:
    return repr(float(value))


def _optional(value: float | None) -> str:
    return "" if value is None else repr(float(value))

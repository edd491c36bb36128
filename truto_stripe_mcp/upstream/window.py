"""The shared rate-limit window estimate: one per upstream account, pure (no I/O, no clock).

Concurrent tool calls reserve a slot here before sending and report every response back, so
a burst converges on the allowed rate instead of each call discovering the limit with a 429.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields

from .rate_limit_headers import DEFAULT_MAX_BLOCK, RateLimitInfo

# Shared window state (one per upstream account), so concurrent callers converge on the allowed rate.

_LATENCY_SLACK = 0.25
"""Seconds of response latency two reset estimates of one window may also differ by."""


@dataclass
class RateLimitState:
    """Local estimate of one account's rate-limit window, shared by all concurrent callers.

    Not locked: the async governor must call ``reserve``/``observe`` without awaiting in between
    (true of a single event loop). Unknown state lets requests through; the server's headers and 429s
    then teach us the limit.

    Windows are numbered (``generation``). A caller notes the generation its slot came from and hands
    it back with the response, so a late answer from an earlier window cannot overwrite the current
    window's figures. Reset values are upper bounds (servers round them up, and a response is read
    after the server counted it), so the earliest reset any response of a window reports is the
    tightest safe estimate. Taking a later one would push the reset out by up to the header's
    resolution every window: with whole-second headers and a one-second window, that halves the rate.

    No estimate holds callers back more than ``max_block`` seconds from now (:meth:`_hold_at_most`):
    a bogus header (``Retry-After: 1000000000``, a ``ratelimit-reset`` read as 31 years, a window of
    ``w=1000000000``) costs that long, then the server is asked again.
    """

    limit: int | None = None
    window: float | None = None
    remaining: int | None = None  # estimate: server's figure minus local reservations since
    reset_at: float | None = None  # epoch
    blocked_until: float = 0.0  # epoch; set by a 429
    default_block: float = 1.0  # block length after a 429 without any usable header
    generation: int = 0  # bumped each time the state moves on to a new window
    reset_guessed: bool = False  # reset_at was extrapolated by a roll: the window's first figure replaces it
    unmetered: int = 0  # slots handed out while ``remaining`` was unknown, not yet answered

    def _tolerance(self, info: RateLimitInfo) -> float:
        """How far two reset estimates may differ and still mean the same window.

        The header's resolution plus some latency, and at least half a window when the window is
        known (a later window ends at least one window later).
        """
        slack = (info.reset_resolution or 1.0) + _LATENCY_SLACK
        return max(slack, self.window / 2) if self.window else slack

    def _roll(self, now: float) -> None:
        """Once the known reset passes, refill to ``limit`` and advance to the next window if known.

        The next window's end is only a guess (a window may open on the first request after the
        last one ended, not on the clock), so it is marked as one until a response says.
        """
        if self.reset_at is None or now < self.reset_at:
            return
        if self.window:
            self.reset_at += self.window * (math.floor((now - self.reset_at) / self.window) + 1)
            self.reset_guessed = True
        else:
            self.reset_at = None
        self.remaining = self.limit
        self.generation += 1

    def _hold_at_most(self, now: float, max_block: float) -> None:
        """Nobody waits more than ``max_block`` from now: not for a block, not for a window's end
        (one a state stored under a longer cap, or a long window rolled forward, put further)."""
        horizon = now + max_block
        if self.blocked_until > horizon:
            self.blocked_until = horizon
        if self.reset_at is not None and self.reset_at > horizon:
            self.reset_at = horizon

    def reserve(self, now: float, max_block: float = DEFAULT_MAX_BLOCK) -> float:
        """Take a slot (return 0.0) or return seconds to sleep before calling ``reserve`` again.

        A wait does not hold a slot: after sleeping, callers compete again, so a caller that gives up
        wastes nothing. Waiters that sleep the same span wake in order, which is fair enough. The
        slot belongs to window ``generation`` as it is right after this call.
        """
        self._hold_at_most(now, max_block)
        if now < self.blocked_until:
            return self.blocked_until - now
        self._roll(now)
        self._hold_at_most(now, max_block)
        if self.remaining is None:
            self.unmetered += 1
            return 0.0
        if self.remaining > 0:
            self.remaining -= 1
            return 0.0
        if self.reset_at is None:  # exhausted but no idea when it refills: let the server decide
            return 0.0
        return self.reset_at - now

    def observe(
        self,
        info: RateLimitInfo,
        status: int,
        now: float,
        generation: int | None = None,
        max_block: float = DEFAULT_MAX_BLOCK,
    ) -> None:
        """Fold one response's headers in; stale, out-of-order responses must not undo reservations.

        ``generation`` is the window the request's slot came from (None: unknown, judge by time).
        A 429 blocks everyone whatever window it came from (the server has the last word), for at
        most ``max_block``, as does any reset the headers announce.
        """
        self._roll(now)
        was_unknown = self.remaining is None
        self.unmetered = max(0, self.unmetered - 1)  # this request is answered
        if info.limit is not None:
            self.limit = info.limit
        if info.window is not None:
            self.window = info.window
        figure = info.remaining
        if figure is not None and was_unknown:
            # The first figure we learn does not count requests still in flight: they will use slots too.
            figure = max(0, figure - self.unmetered)
        new_reset = None if info.reset_after is None else now + min(info.reset_after, max_block)
        current = generation is not None and generation == self.generation
        stale = generation is not None and generation < self.generation
        tol = self._tolerance(info)
        if stale:
            pass  # sent in an earlier window: its figures describe that window
        elif new_reset is not None and (self.reset_at is None or new_reset > self.reset_at + tol):
            self.reset_at, self.reset_guessed = new_reset, False  # a later window than we knew
            self.remaining = figure if figure is not None else self.limit
        elif new_reset is not None and current and self.reset_guessed:
            self.reset_at, self.reset_guessed = new_reset, False  # the server's figure beats our guess
            self._lower(figure)
        elif new_reset is not None and not current and new_reset < self.reset_at - tol:
            pass  # a response from an older window: its remaining is stale
        elif new_reset is not None:
            if not self.reset_guessed:
                self.reset_at = min(self.reset_at, new_reset)
            self._lower(figure)
        elif figure is not None and self.reset_at is None:
            # No window known: windows cannot be told apart, so the latest figure wins.
            self.remaining = figure
            if self.window:
                self.reset_at = now + self.window  # the window can end no later than this
        else:
            self._lower(figure)
        if status == 429:
            wait = info.wait_seconds if info.wait_seconds is not None else self.default_block
            self.blocked_until = max(self.blocked_until, now + min(wait, max_block))
            self.remaining = 0
            # Retry-After wins over ratelimit-reset (RFC 9110): the window reopens when it says,
            # even if an earlier figure (or this response's own reset header) said later.
            overrides = info.retry_after is not None and not stale
            if overrides or self.reset_at is None or self.reset_at < self.blocked_until:
                self.reset_at, self.reset_guessed = self.blocked_until, False
        if self.remaining is not None:
            self.unmetered = 0
        self._hold_at_most(now, max_block)

    def _lower(self, figure: int | None) -> None:
        """Same window: the lower count already includes reservations made since."""
        if figure is not None:
            self.remaining = figure if self.remaining is None else min(self.remaining, figure)

    def is_blocked(self, now: float) -> bool:
        """True while a 429's wait is still running."""
        return now < self.blocked_until

    def to_json(self) -> str:
        """The whole state, for a store shared by several processes (read and written around
        every request: the fields are plain values, so no ``asdict`` deep copy)."""
        return json.dumps({name: getattr(self, name) for name in _FIELDS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RateLimitState:
        """The state :meth:`to_json` wrote (fields a newer version added are ignored)."""
        data = json.loads(text)
        return cls(**{name: value for name, value in data.items() if name in _FIELDS})

    def snapshot(self) -> dict[str, float | int | None]:
        """Plain values for logs and diagnostics."""
        return {k: getattr(self, k) for k in ("limit", "window", "remaining", "reset_at", "blocked_until")}


_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(RateLimitState))

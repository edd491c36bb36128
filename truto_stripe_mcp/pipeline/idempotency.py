"""Stage: idempotency keys, so that nothing here may ever charge or refund twice.

Every mutation carries an ``Idempotency-Key`` that Truto forwards to Stripe, which
replays its first answer for the same key. The key is made once per tool call and
reused on every retry of it. An agent that repeats an identical mutation within the
window (it timed out, it lost track, it was asked twice) gets the same key again, and so
Stripe's original answer rather than a second refund.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UnusableResponseError
from .call import CallOutcome, Next, ToolCall

logger = logging.getLogger(__name__)

KEY_PREFIX = "truto-mcp-"
MAX_KEY_LENGTH = 255  # Stripe's limit
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class KeyChoice:
    """The key for one call, and whether it repeats an earlier identical call's key."""

    key: str
    reused: bool
    first_used_at: float
    explicit: bool = False


def canonical_arguments(tool: str, arguments: Mapping[str, Any]) -> str:
    """A stable fingerprint: same tool and same arguments in any key order -> same text."""
    text = json.dumps(
        [tool, arguments], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


class IdempotencyKeys:
    """Hands out keys; remembers them for ``window`` seconds per canonical mutation.

    ``window=0`` turns the dedupe off (every call gets a fresh key; retries inside one
    call still share theirs). Memory is bounded: the oldest entries go first.
    """

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def choose(self, tool: str, arguments: Mapping[str, Any], explicit: str | None = None) -> KeyChoice:
        now = self._clock()
        if explicit:
            return KeyChoice(key=explicit, reused=False, first_used_at=now, explicit=True)
        fingerprint = canonical_arguments(tool, arguments)
        if self.window > 0:
            self._expire(now)
            remembered = self._seen.get(fingerprint)
            if remembered is not None:
                return KeyChoice(key=remembered[0], reused=True, first_used_at=remembered[1])
        key = f"{KEY_PREFIX}{uuid.uuid4().hex}"
        if self.window > 0:
            self._seen[fingerprint] = (key, now)
            while len(self._seen) > _MAX_REMEMBERED:
                self._seen.popitem(last=False)
        return KeyChoice(key=key, reused=False, first_used_at=now)

    def repeat_advice(self, tool: str, choice: KeyChoice) -> str:
        """For a write whose answer was unusable: it may have happened, and how to repeat it
        without doing it twice (the same Idempotency-Key makes Stripe return its first result)."""
        head = f"The {tool} request may have been carried out."
        tail = "so Stripe returns the first result instead of doing it twice."
        if choice.explicit:
            return f"{head} Repeating the identical call, with the same `idempotency_key`, is safe: {tail}"
        left = self.window - (self._clock() - choice.first_used_at)
        if left >= 1:
            return (
                f"{head} Repeating the identical call within {int(left)} s is safe: it reuses the same "
                f"Idempotency-Key, {tail}"
            )
        return f'{head} Repeating it with `idempotency_key` set to "{choice.key}" is safe: {tail}'

    def _expire(self, now: float) -> None:
        while self._seen:
            fingerprint, (_, first) = next(iter(self._seen.items()))
            if now - first < self.window:
                break
            del self._seen[fingerprint]


@dataclass(frozen=True)
class AssignIdempotencyKey:
    """Stage: every write gets its key here (the agent's, or the dedupe window's), and the
    agent learns when an answer is a replay of an earlier call."""

    keys: IdempotencyKeys

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        if call.spec.is_read:
            return await call_next(call)
        tool = call.spec.name
        choice = self.keys.choose(tool, call.arguments, call.idempotency_key)
        try:
            outcome = await call_next(replace(call, idempotency_key=choice.key))
        except UnusableResponseError as exc:
            exc.after_write(self.keys.repeat_advice(tool, choice))
            raise
        if choice.reused or outcome.replayed:
            logger.info("%s: idempotent replay (key reused: %s)", tool, choice.reused)
            outcome = replace(outcome, notes=(*outcome.notes, replay_note(tool, choice, outcome.replayed)))
        return outcome


def replay_note(tool: str, choice: KeyChoice, stripe_said_replayed: bool) -> str:
    """Say exactly what is known: our key reuse, and whether Stripe marked the answer a replay."""
    if choice.reused:
        ago = max(0, round(time.monotonic() - choice.first_used_at))
        first = f"An identical {tool} call was made {ago} s ago, so this call reused its Idempotency-Key"
        if stripe_said_replayed:
            outcome = "Stripe returned the original result instead of doing it again (nothing new happened)"
        else:
            outcome = (
                "Stripe did not mark this answer as a replay, so the earlier call probably never reached "
                "Stripe and this call did the work now; either way Stripe never acts twice on one key"
            )
        return f"Replay: {first}. {outcome}. To really repeat it, call again with a new `idempotency_key`."
    return (
        "Replay: Stripe returned a stored result for this Idempotency-Key: an earlier attempt (a lost "
        "response, or your reused `idempotency_key`) already did this, and it was not done again."
    )

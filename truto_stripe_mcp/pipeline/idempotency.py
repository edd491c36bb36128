"""Stage: idempotency keys, so that nothing here may ever charge or refund twice.

Every mutation carries an ``Idempotency-Key`` that Truto forwards to Stripe, which
replays its first answer for the same key. The key is made once per tool call and
reused on every retry of it. An agent that repeats an identical mutation within the
window (it timed out, it lost track, it was asked twice, its server restarted, it reached
another replica) gets the same key again, and so Stripe's original answer rather than a
second refund. The window lives in the shared state (:mod:`truto_stripe_mcp.state`), so
this holds across processes and restarts:

* a repeat of a call that may have acted (it succeeded, or its answer was lost) reuses
  the key; a repeat of one Stripe definitely refused (a decline, a 400) gets a fresh key,
  so the agent can retry once it fixed the cause;
* two identical calls in flight at once, in one process or two, make one mutation: the
  second waits for the first, then sends with its key and gets Stripe's replay;
* a write whose outcome is unknown (its answer lost, the deadline come first, Stripe still
  processing its key) says so, and how to repeat it without doing it twice;
* an answer Stripe replayed, or one to a reused key, says it is a replay, success or error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio

from ..errors import OutcomeUnknownError, ToolError, UpstreamError
from ..state.memory import MemoryState
from ..state.store import KeyRecord, KeyStatus, StateStore
from .call import CallOutcome, Next, ToolCall

logger = logging.getLogger(__name__)

KEY_PREFIX = "truto-mcp-"
MAX_KEY_LENGTH = 255  # Stripe's limit
DEFAULT_LEASE = 15.0
"""Seconds a pending call is presumed alive unless it says otherwise: its caller renews the
lease every third of it while the request is in flight, so a server killed mid-call (no
chance to record anything) holds an identical repeat back for at most this long. The
repeat then takes over with the same key, so Stripe still acts at most once."""
_POLL_FIRST, _POLL_MAX = 0.05, 0.5


class IdenticalCallPending(ToolError):
    """An identical mutation is still in flight elsewhere, past this call's deadline."""


class IdenticalCallFailed(ToolError):
    """The identical mutation this call waited for was refused by Stripe."""


@dataclass(frozen=True)
class KeyChoice:
    """The key for one call, and what is known of earlier identical calls."""

    key: str
    reused: bool
    first_used_at: float
    explicit: bool = False
    fingerprint: str | None = None
    """Set when the dedupe window holds this call (so its outcome is recorded there)."""
    owner: bool = False
    """This call holds the record (it settles it); False when it reuses a settled key."""
    waited: bool = False
    """An identical call was in flight; this one waited for it."""


def canonical_arguments(tool: str, arguments: Mapping[str, Any]) -> str:
    """A stable fingerprint: same tool and same arguments in any key order -> same text."""
    text = json.dumps(
        [tool, arguments], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


class IdempotencyKeys:
    """Hands out keys; the shared state remembers them for ``window`` seconds per mutation.

    ``window=0`` turns the dedupe off (every call gets a fresh key; retries inside one
    call still share theirs).
    """

    def __init__(
        self,
        window: float,
        store: StateStore | None = None,
        *,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.window = window
        self.store: StateStore = store if store is not None else MemoryState()
        self.lease = lease
        self._clock = clock
        self._sleep = sleep

    async def choose(
        self, tool: str, arguments: Mapping[str, Any], explicit: str | None = None, *, wait_for: float = 45.0
    ) -> KeyChoice:
        """The key this call sends with; waits up to ``wait_for`` s for an identical call in flight."""
        now = self._clock()
        if explicit:
            return KeyChoice(key=explicit, reused=False, first_used_at=now, explicit=True)
        if self.window <= 0:
            return KeyChoice(key=_new_key(), reused=False, first_used_at=now)
        fingerprint = canonical_arguments(tool, arguments)
        deadline = now + wait_for
        waited = False
        while True:
            now = self._clock()
            candidate = KeyRecord(
                key=_new_key(), first_used_at=now, expires_at=now + self.window, lease_until=now + self.lease
            )
            claim = await self.store.claim_key(fingerprint, candidate, now)
            record = claim.record
            if claim.owner:
                return KeyChoice(
                    record.key, claim.taken_over, record.first_used_at, fingerprint=fingerprint, owner=True
                )
            if record.status != "pending":
                return KeyChoice(
                    record.key, True, record.first_used_at, fingerprint=fingerprint, waited=waited
                )
            waited = True
            await self._wait_for(tool, fingerprint, record, deadline)

    async def _wait_for(self, tool: str, fingerprint: str, pending: KeyRecord, deadline: float) -> None:
        """Until the identical call holding ``pending`` ends (or its lease runs out)."""
        pause = _POLL_FIRST
        while True:
            now = self._clock()
            if now >= deadline:
                raise IdenticalCallPending(
                    f"An identical {tool} call (same arguments) has been in progress for "
                    f"{now - pending.first_used_at:.0f} s, on this or another server; this one was not "
                    "sent, so it cannot happen twice. Call again in a few seconds to get its result."
                )
            await self._sleep(min(pause, deadline - now))
            pause = min(pause * 1.5, _POLL_MAX)
            record = await self.store.read_key(fingerprint)
            if record is None or record.key != pending.key:
                return  # gone (expired, cleared): claim again
            if record.status == "failed":
                raise IdenticalCallFailed(
                    f"An identical {tool} call made at the same time failed, so this one was not sent: "
                    f"{record.error or 'Stripe refused it.'}"
                )
            if record.status == "settled" or record.lease_until <= self._clock():
                return  # claim again: reuse the settled key, or take over from a caller gone

    async def settle(self, choice: KeyChoice, status: KeyStatus, error: str | None = None) -> None:
        """Record how the call ended; a state that cannot be reached leaves the lease to expire.

        A call that reused a settled key records only a definite failure (Stripe replayed a
        stored decline, say), so the next identical call is free to try again.
        """
        if choice.fingerprint is None or not (choice.owner or status == "failed"):
            return
        try:
            await self.store.settle_key(choice.fingerprint, choice.key, status, error)
        except ToolError as exc:
            logger.warning("could not record how a write ended (%s); its key stays held for its lease", exc)

    async def keep_lease(self, choice: KeyChoice) -> None:
        """Renew the lease of ``choice`` every third of it, until cancelled (never raises)."""
        assert choice.fingerprint is not None
        while True:
            await self._sleep(self.lease / 3)
            try:
                await self.store.renew_lease(choice.fingerprint, choice.key, self._clock() + self.lease)
            except Exception as exc:  # a lease not renewed only lets a repeat take over sooner
                logger.warning("could not renew the lease of a write in flight (%s)", exc)

    def now(self) -> float:
        """This window's clock (epoch seconds)."""
        return self._clock()

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


def _new_key() -> str:
    return f"{KEY_PREFIX}{uuid.uuid4().hex}"


def outcome_status(error: BaseException | None) -> tuple[KeyStatus, str | None]:
    """How a call ended, for the dedupe window: did Stripe definitely not act?

    A 4xx answer from Stripe is definite (a decline, a missing parameter): the next identical
    call should be free to try again, with a fresh key. A 409 is another request holding the
    key. Everything else (success, 5xx, a lost answer, cancellation) may have acted: the key
    stays, so a repeat replays instead of acting twice.
    """
    if isinstance(error, UpstreamError) and 400 <= error.status < 500 and error.status != 409:
        return "failed", error.agent_message()
    return "settled", None


@dataclass(frozen=True)
class AssignIdempotencyKey:
    """Stage: every write gets its key here (the agent's, or the dedupe window's), and the
    agent learns when an answer is a replay of an earlier call."""

    keys: IdempotencyKeys
    wait_for: float = 45.0
    """Longest wait for an identical call in flight (the call's own deadline)."""

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        if call.spec.is_read:
            return await call_next(call)
        tool = call.spec.name
        # One deadline for the wait for an identical call and the send.
        deadline_at = self.keys.now() + self.wait_for
        choice = await self.keys.choose(tool, call.arguments, call.idempotency_key, wait_for=self.wait_for)
        error: BaseException | None = None
        try:
            outcome = await self._holding_lease(
                choice, call_next(replace(call, idempotency_key=choice.key, deadline_at=deadline_at))
            )
        except OutcomeUnknownError as exc:
            error = exc
            if exc.sent:
                exc.after_write(self.keys.repeat_advice(tool, choice))
            raise
        except UpstreamError as exc:
            error = exc
            if exc.replayed or choice.reused:
                exc.note = " ".join(
                    part for part in (exc.note, replayed_error_note(tool, choice, exc)) if part
                )
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self.keys.settle(choice, *outcome_status(error))
        if choice.reused or outcome.replayed:
            logger.info("%s: idempotent replay (key reused: %s)", tool, choice.reused)
            outcome = replace(outcome, notes=(*outcome.notes, replay_note(tool, choice, outcome.replayed)))
        return outcome

    async def _holding_lease(self, choice: KeyChoice, sending: Awaitable[CallOutcome]) -> CallOutcome:
        """Await ``sending`` while the lease of its key is renewed, so identical calls elsewhere
        keep waiting for it rather than take it over; a caller that reuses a settled key holds
        no lease."""
        if not (choice.owner and choice.fingerprint):
            return await sending
        outcome: CallOutcome | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self.keys.keep_lease, choice)
                try:
                    outcome = await sending
                finally:
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as group_error:  # the only task that can fail is ``sending``
            raise group_error.exceptions[0] from None
        assert outcome is not None
        return outcome


def replayed_error_note(tool: str, choice: KeyChoice, error: UpstreamError) -> str:
    """For an error that answers a reused key: whether Stripe replayed a stored answer (the request
    was not tried again), and how to really try again once the cause is fixed."""
    if choice.reused:
        ago = max(0, round(time.time() - choice.first_used_at))
        first = f"This call reused the Idempotency-Key of an identical {tool} call made {ago} s ago"
    elif choice.explicit:
        first = (
            "Your `idempotency_key` had been used before (by an earlier call, or by an attempt of this one)"
        )
    else:
        first = "An earlier attempt of this call (its answer was lost) used the same Idempotency-Key"
    if error.replayed:
        said = "Stripe answered with its stored answer to that request: this is a replay, nothing was tried again"
    else:
        said = "Stripe did not mark this answer as a replay"
    if choice.explicit:
        again = "To try again after fixing the cause, call with a new `idempotency_key`."
    elif 400 <= error.status < 500 and error.status != 409:
        again = "Stripe refused it, so the next identical call is sent afresh with a new Idempotency-Key."
    else:
        again = "An identical call within the dedupe window reuses the key again."
    return f"Replay: {first}. {said}. {again}"


def replay_note(tool: str, choice: KeyChoice, stripe_said_replayed: bool) -> str:
    """Say exactly what is known: our key reuse, and whether Stripe marked the answer a replay."""
    if choice.reused:
        ago = max(0, round(time.time() - choice.first_used_at))
        if choice.waited:
            first = (
                f"An identical {tool} call was in progress, so this call waited for it and reused its "
                "Idempotency-Key"
            )
        else:
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

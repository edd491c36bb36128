"""The state contract, held by every backend alike: memory, a real SQLite file, a real Redis."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest

from truto_stripe_mcp.config import StateLocation
from truto_stripe_mcp.errors import StateUnavailableError
from truto_stripe_mcp.state.open import open_state
from truto_stripe_mcp.state.store import KeyRecord, StateStore
from truto_stripe_mcp.upstream.rate_limit_headers import RateLimitInfo
from truto_stripe_mcp.upstream.window import RateLimitState

pytestmark = pytest.mark.anyio

NOW = 1_764_000_000.0


def pending(key: str, now: float = NOW, *, window: float = 600.0, lease: float = 90.0) -> KeyRecord:
    return KeyRecord(key=key, first_used_at=now, expires_at=now + window, lease_until=now + lease)


async def test_the_first_claim_owns_the_key_and_an_identical_one_finds_it_pending(store: StateStore) -> None:
    first = await store.claim_key("fp", pending("k1"), NOW)
    assert first.owner and first.record.key == "k1" and first.record.status == "pending"
    second = await store.claim_key("fp", pending("k2", NOW + 1), NOW + 1)
    assert not second.owner and second.record.key == "k1" and second.record.status == "pending"
    assert (await store.read_key("fp")) == first.record
    assert (await store.read_key("other")) is None


async def test_a_settled_key_is_reused_and_a_failed_one_gives_way(store: StateStore) -> None:
    await store.claim_key("fp", pending("k1"), NOW)
    await store.settle_key("fp", "k1", "settled", None)
    again = await store.claim_key("fp", pending("k2", NOW + 5), NOW + 5)
    assert not again.owner and again.record.key == "k1" and again.record.status == "settled"

    await store.settle_key("fp", "k1", "failed", "Your card was declined.")
    seen = await store.read_key("fp")
    assert seen is not None and seen.status == "failed" and seen.error == "Your card was declined."
    fresh = await store.claim_key("fp", pending("k3", NOW + 6), NOW + 6)
    assert fresh.owner and fresh.record.key == "k3"


async def test_settling_an_old_key_leaves_the_new_record_alone(store: StateStore) -> None:
    await store.claim_key("fp", pending("k1"), NOW)
    await store.settle_key("fp", "k1", "failed", "declined")
    await store.claim_key("fp", pending("k2", NOW + 1), NOW + 1)
    await store.settle_key("fp", "k1", "settled", None)
    record = await store.read_key("fp")
    assert record is not None and record.key == "k2" and record.status == "pending"


async def test_a_pending_key_whose_lease_ran_out_is_taken_over_with_the_same_key(store: StateStore) -> None:
    await store.claim_key("fp", pending("k1", lease=30), NOW)
    before = await store.claim_key("fp", pending("k2", NOW + 29), NOW + 29)
    assert not before.owner
    after = await store.claim_key("fp", pending("k3", NOW + 31), NOW + 31)
    assert after.owner and after.taken_over and after.record.key == "k1"
    assert after.record.lease_until == NOW + 31 + 90, "the new caller's lease"
    assert after.record.first_used_at == NOW


async def test_a_renewed_lease_keeps_a_live_caller_from_being_taken_over(store: StateStore) -> None:
    await store.claim_key("fp", pending("k1", lease=30), NOW)
    await store.renew_lease("fp", "k1", NOW + 60)
    renewed = await store.claim_key("fp", pending("k2", NOW + 45), NOW + 45)
    assert not renewed.owner and renewed.record.key == "k1" and renewed.record.lease_until == NOW + 60
    await store.renew_lease("fp", "k2", NOW + 500)  # not its key: left alone
    await store.settle_key("fp", "k1", "settled", None)
    await store.renew_lease("fp", "k1", NOW + 500)  # settled: nothing to renew
    record = await store.read_key("fp")
    assert record is not None and record.status == "settled" and record.lease_until == 0


async def test_a_record_ends_with_its_window(store: StateStore) -> None:
    await store.claim_key("fp", pending("k1", window=60), NOW)
    await store.settle_key("fp", "k1", "settled", None)
    later = await store.claim_key("fp", pending("k2", NOW + 61), NOW + 61)
    assert later.owner and later.record.key == "k2"


async def test_a_token_is_used_once(store: StateStore) -> None:
    now = time.time()
    assert await store.use_token("ct_1", now, now + 300)
    assert not await store.use_token("ct_1", now + 1, now + 300)
    assert await store.use_token("ct_2", now + 1, now + 300)


async def test_an_approval_record_is_kept_until_it_expires_and_replaced_by_the_next(
    store: StateStore,
) -> None:
    assert await store.read_approval("call-a", NOW) is None
    await store.put_approval("call-a", '{"answer":"pending"}', NOW, NOW + 300)
    assert await store.read_approval("call-a", NOW + 1) == '{"answer":"pending"}'
    await store.put_approval("call-a", '{"answer":"approved"}', NOW + 2, NOW + 300)
    assert await store.read_approval("call-a", NOW + 3) == '{"answer":"approved"}'
    assert await store.read_approval("call-b", NOW + 3) is None
    if store.kind != "redis":  # Redis expires by its own clock: the lifetime is relative
        assert await store.read_approval("call-a", NOW + 301) is None


async def test_an_approval_given_through_one_store_is_read_through_another(
    shared_location: StateLocation,
) -> None:
    one, two, other = [await open_state(shared_location, ns) for ns in ("acct", "acct", "other")]
    try:
        now = time.time()
        await one.put_approval("call", '{"answer":"approved"}', now, now + 60)
        assert await two.read_approval("call", now) == '{"answer":"approved"}'
        assert await other.read_approval("call", now) is None, "accounts never share an approval"
        assert await two.clear() >= 1 and await one.read_approval("call", now) is None
    finally:
        for opened in (one, two, other):
            await opened.aclose()


async def test_the_secret_is_made_once_and_shared_by_every_store_of_the_account(
    shared_location: StateLocation,
) -> None:
    one, two, other = [await open_state(shared_location, ns) for ns in ("acct", "acct", "other")]
    try:
        secret = await one.signing_secret()
        assert len(secret) == 32
        assert await two.signing_secret() == secret, "a token signed anywhere checks out everywhere"
        assert await other.signing_secret() != secret, "accounts never share a secret"
        assert await two.use_token("ct_x", time.time(), time.time() + 60)
        assert not await one.use_token("ct_x", time.time(), time.time() + 60), "used once, anywhere"
        assert await other.use_token("ct_x", time.time(), time.time() + 60), "another account's token"
    finally:
        for opened in (one, two, other):
            await opened.aclose()


async def test_the_window_follows_the_reference_estimate(store: StateStore) -> None:
    reference = RateLimitState()
    now = time.time()
    info = RateLimitInfo(limit=3, window=1.0, remaining=2, reset_after=0.8, observed_at=now)
    steps: list[tuple[float, int]] = []
    for step in range(5):
        at = now + step * 0.01
        wait, generation = await store.reserve_slot(at)
        steps.append((wait, generation))
        assert wait == reference.reserve(at) and generation == reference.generation
        if step == 0:
            await store.observe_window(info, 200, at, generation)
            reference.observe(info, 200, at, generation)
    assert steps[3][0] > 0.5, "the fourth request waits for the reset instead of meeting a 429"


async def test_clear_forgets_one_account_only(shared_location: StateLocation) -> None:
    mine, theirs = await open_state(shared_location, "mine"), await open_state(shared_location, "theirs")
    try:
        for opened in (mine, theirs):
            now = time.time()
            await opened.claim_key("fp", pending("k", now), now)
            await opened.use_token("ct", time.time(), time.time() + 60)
            await opened.reserve_slot(time.time())
        assert await mine.clear() >= 3
        assert await mine.read_key("fp") is None
        assert (await mine.summary()) == {"idempotency_keys": 0, "used_tokens": 0}
        assert (await theirs.read_key("fp")) is not None
    finally:
        await mine.aclose()
        await theirs.aclose()


async def test_an_unusable_sqlite_file_is_a_clear_error_at_open(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_text("")
    with pytest.raises(StateUnavailableError) as raised:
        await open_state(StateLocation("sqlite", str(blocked / "state.sqlite3")), "acct")
    assert str(blocked) in str(raised.value)


async def test_unreachable_redis_is_a_clear_error_at_open() -> None:
    with pytest.raises(StateUnavailableError, match=re.escape("redis://127.0.0.1:1/0")):
        await open_state(StateLocation("redis", "redis://127.0.0.1:1/0"), "acct")


async def test_a_busy_sqlite_file_waits_in_a_thread_and_the_loop_runs_on(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = await open_state(StateLocation("sqlite", str(path)), "acct")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's transaction holds the write lock
    threading.Timer(0.4, lambda: other.execute("COMMIT")).start()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            started = time.monotonic()
            claim = await store.claim_key("fp", pending("k1"), NOW)
            waited = time.monotonic() - started
            group.cancel_scope.cancel()
        assert claim.owner
        assert waited >= 0.3, "it waited for the lock"
        assert ticks >= 10, "the event loop kept running while it waited"
    finally:
        await store.aclose()
        other.close()

"""The Redis window script is the Python window estimate, line for line.

:class:`~truto_stripe_mcp.upstream.window.RateLimitState` is the reference (its own tests
pin its behaviour); the Lua port in :mod:`truto_stripe_mcp.state.redis_scripts` runs on a
real ``redis-server``. Random sequences of reserves and responses (429s, stale windows,
missing headers, guessed resets) go through both; every answer and every field of the
state must agree after every step.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truto_stripe_mcp.state import redis_scripts
from truto_stripe_mcp.upstream.rate_limit_headers import RateLimitInfo
from truto_stripe_mcp.upstream.window import RateLimitState

START = 1_764_000_000.0
KEY = "window-under-test"

# Resets near each other (within a window's tolerance of an earlier one) are where the branches differ.
# Absurd waits (Retry-After 10**9, a reset read as 31 years, a window of an hour or of decades)
# meet the block cap, which each call passes in (``max_block``).
ABSURD = [3_600.0, 999_999_999.0, 1e9]
optional_seconds = st.one_of(
    st.none(),
    st.floats(0, 20, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.3, 1.4, 2.0, *ABSURD]),
)
elapsed = st.one_of(st.floats(0, 3, allow_nan=False), st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.5, 61.0]))
max_blocks = st.sampled_from([60.0, 60.0, 1.0, 5.0])
infos = st.builds(
    RateLimitInfo,
    limit=st.one_of(st.none(), st.integers(1, 100)),
    window=st.sampled_from([None, 0.5, 1.0, 10.0, 60.0, 3_600.0, 1e9]),
    remaining=st.one_of(st.none(), st.integers(0, 100)),
    reset_after=optional_seconds,
    retry_after=st.one_of(st.none(), st.floats(0, 10, allow_nan=False), st.sampled_from(ABSURD)),
    reset_resolution=st.sampled_from([None, 0.001, 1.0]),
)
reserve = st.tuples(st.just("reserve"), elapsed, max_blocks)
observe = st.tuples(
    st.just("observe"),
    elapsed,
    max_blocks,
    st.sampled_from([200, 200, 429]),
    st.sampled_from(["none", "current", "stale"]),
    infos,
)
steps = st.lists(st.one_of(reserve, reserve, observe), min_size=1, max_size=40)


def _stored(client: redis.Redis) -> dict[str, Any]:
    raw = client.hgetall(KEY)
    number = {name: float(raw[name]) for name in ("limit", "window", "remaining", "reset_at") if name in raw}
    return {
        "limit": number.get("limit"),
        "window": number.get("window"),
        "remaining": number.get("remaining"),
        "reset_at": number.get("reset_at"),
        "blocked_until": float(raw["blocked_until"]),
        "default_block": float(raw["default_block"]),
        "generation": int(float(raw["generation"])),
        "reset_guessed": raw["reset_guessed"] == "1",
        "unmetered": int(float(raw["unmetered"])),
    }


def _reference(state: RateLimitState) -> dict[str, Any]:
    return {
        name: getattr(state, name)
        for name in (
            "limit",
            "window",
            "remaining",
            "reset_at",
            "blocked_until",
            "default_block",
            "generation",
            "reset_guessed",
            "unmetered",
        )
    }


def _same(lua: dict[str, Any], python: dict[str, Any]) -> bool:
    for name, value in python.items():
        other = lua[name]
        if value is None or other is None:
            if value is not other:
                return False
        elif not math.isclose(float(other), float(value), rel_tol=0, abs_tol=1e-9):
            return False
    return True


def _arg(value: float | None) -> str:
    return "" if value is None else repr(float(value))


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_the_lua_window_agrees_with_the_python_one(
    client: redis.Redis, sequence: list[tuple[Any, ...]]
) -> None:
    client.delete(KEY)
    script = client.register_script(redis_scripts.WINDOW)
    reference = RateLimitState()
    now = START
    for step in sequence:
        now += step[1]
        max_block = step[2]
        if step[0] == "reserve":
            wait, generation = script(keys=[KEY], args=["reserve", repr(now), 60_000, repr(max_block)])
            expected = reference.reserve(now, max_block)
            assert math.isclose(float(wait), expected, abs_tol=1e-9), (step, wait, expected)
            assert int(generation) == reference.generation
            assert expected <= max_block, "no wait past the cap"
        else:
            _, _, _, status, which, info = step
            generation = {
                "none": None,
                "current": reference.generation,
                "stale": reference.generation - 1,
            }[which]
            info = RateLimitInfo(
                limit=info.limit,
                window=info.window,
                remaining=info.remaining,
                reset_after=info.reset_after,
                retry_after=info.retry_after,
                observed_at=now,
                reset_resolution=info.reset_resolution,
            )
            script(
                keys=[KEY],
                args=[
                    "observe",
                    repr(now),
                    60_000,
                    status,
                    _arg(generation),
                    _arg(info.limit),
                    _arg(info.window),
                    _arg(info.remaining),
                    _arg(info.reset_after),
                    _arg(info.retry_after),
                    _arg(info.reset_resolution),
                    repr(max_block),
                ],
            )
            reference.observe(info, status, now, generation, max_block)
        lua, python = _stored(client), _reference(reference)
        assert _same(lua, python), (step, lua, python)

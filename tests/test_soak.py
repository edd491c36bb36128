"""The fault soak, short: 150 mixed calls with 20 in flight against a sandbox injecting every
kind of fault (see ``bench/soak.py``, which this runs; the long run is ``python -m bench.soak``)."""

from __future__ import annotations

import pytest

from bench.soak import soak, soak_env
from tests.conftest import sandbox_config
from truto_stripe_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio


async def test_short_soak_loses_nothing_and_never_duplicates_a_write() -> None:
    config = sandbox_config(api_key="sandbox-api-key", account_id="sandbox-stripe", rate_limit=None)
    with SandboxServer(config) as sandbox:
        result = await soak(sandbox, calls=150, fault_rate=0.3, seed=3, env=soak_env(sandbox.url))
    assert result["problems"] == []
    outcomes = result["outcomes"]
    for kind in ("read", "create", "refund", "cancel"):
        assert outcomes.get(f"{kind} ok", 0) > 0, f"the mix must include successful {kind}s: {outcomes}"
    assert "lost" not in " ".join(outcomes)
    assert result["sandbox"]["faults_applied"] >= 15, "the soak must actually have been faulty"
    memory = result["memory_mib"]
    assert memory["end"] - memory["after_warmup"] < 25, f"server memory grew: {memory}"

"""The soak's seeded scenario: which faults the sandbox applies, and which calls are made.

Kept apart from :mod:`bench.soak` (which runs them and checks the store afterwards) so the
scenario reads on its own: the shares of each fault, and the mix of reads and writes, each
write marked with its call number so its effects can be counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from truto_stripe_mcp.sandbox import Fault, SandboxServer

CONCURRENCY = 20
TIMEOUT_S = 1.5  # the server's upstream timeout: the slow fault outlasts it
DEADLINE_S = 20.0  # the server's per-call deadline (backoff included)
LOST_AFTER_S = DEADLINE_S + 15.0  # a call not finished by then is lost


def faults(rate: float) -> list[Fault]:
    """The misbehaviours, each on about its share of ``rate`` of the requests it matches."""
    share = {
        "429 seconds": 0.12,
        "429 http-date": 0.08,
        "429 ratelimit-reset": 0.08,
        "429 bare": 0.04,
        "502": 0.12,
        "504": 0.08,
        "drop after commit": 0.2,
        "reset before commit": 0.08,
        "slow after commit": 0.08,
    }
    p = {name: min(1.0, rate * value) for name, value in share.items()}
    proxy = "/proxy/"
    return [
        Fault(path=proxy, status=429, headers={"Retry-After": "1"}, probability=p["429 seconds"], times=None),
        Fault(path=proxy, status=429, retry_after_in=1, probability=p["429 http-date"], times=None),
        Fault(
            path=proxy,
            status=429,
            headers={"ratelimit-limit": "100;w=1", "ratelimit-remaining": "0", "ratelimit-reset": "1"},
            probability=p["429 ratelimit-reset"],
            times=None,
        ),
        Fault(path=proxy, status=429, probability=p["429 bare"], times=None),
        Fault(path=proxy, status=502, remote=True, probability=p["502"], times=None),
        Fault(path=proxy, status=504, probability=p["504"], times=None),
        *(
            Fault(
                method=verb,
                path=proxy,
                drop_after_commit=True,
                probability=p["drop after commit"],
                times=None,
            )
            for verb in ("POST", "DELETE")
        ),
        Fault(path=proxy, drop_before_commit=True, probability=p["reset before commit"], times=None),
        *(
            Fault(
                method=verb,
                path=proxy,
                delay=TIMEOUT_S + 0.5,
                commit_before_delay=True,
                probability=p["slow after commit"],
                times=None,
            )
            for verb in ("POST", "DELETE")
        ),
    ]


# -- the calls -----------------------------------------------------------------------------


@dataclass
class Call:
    number: int
    kind: str  # read, create, refund, cancel
    tool: str
    arguments: dict[str, Any]
    target: str | None = None  # the charge refunded or the subscription cancelled
    outcome: str = "pending"  # ok, error or lost
    message: str = ""
    returned_id: str | None = None
    seconds: float = 0.0
    repeats: int = 0  # times the caller had to ask again (its server was killed under it)


def plan(sandbox: SandboxServer, calls: int, seed: int) -> list[Call]:
    """The seeded mix: 45% reads, 25% creates, 15% refunds, 15% cancels (while any are left)."""
    rng = random.Random(seed)
    store = sandbox.sandbox.store
    customers = [c["id"] for c in store.list("customers")]
    charges = [c["id"] for c in store.list("charges")]
    refundable = [
        c["id"]
        for c in store.list("charges")
        if c["status"] == "succeeded"
        and not c["disputed"]
        and c["amount_captured"] - c["amount_refunded"] >= 100
    ]
    active = [
        s["id"] for s in store.list("subscriptions") if s["status"] in {"active", "trialing", "past_due"}
    ]
    rng.shuffle(active)
    out: list[Call] = []
    for number in range(calls):
        roll = rng.random()
        marker = {"soak_call": str(number)}
        if roll < 0.25:
            email = f"soak-{number}@example.com"
            out.append(
                Call(number, "create", "create_a_stripe_customer", {"email": email, "metadata": marker})
            )
        elif roll < 0.40 and refundable:
            charge = refundable[number % len(refundable)]
            arguments = {"charge": charge, "amount": 1, "metadata": marker}
            out.append(Call(number, "refund", "create_a_stripe_refund", arguments, target=charge))
        elif roll < 0.55 and active:
            subscription = active.pop()
            out.append(
                Call(
                    number,
                    "cancel",
                    "delete_a_stripe_subscription_by_id",
                    {"id": subscription},
                    target=subscription,
                )
            )
        else:
            read = rng.choice(
                [
                    ("list_all_stripe_customers", {"limit": 5}),
                    ("get_single_stripe_charge_by_id", {"id": rng.choice(charges)}),
                    ("list_all_stripe_charges", {"limit": 3, "customer": rng.choice(customers)}),
                ]
            )
            out.append(Call(number, "read", read[0], dict(read[1])))
    return out

"""The tasks of the code-mode benchmark: each as the program an agent would send to ``run_code``,
and as the answer computed from the sandbox's own pages (the check both variants must pass)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

OPEN_DISPUTES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")

REFUNDS_BY_REASON = """
import tools
refunds = await tools.paginate('list_all_stripe_refunds', created={{'gte': {since}}}, fields='amount,reason', max_items=10000)
totals = {{}}
for refund in refunds:
    reason = refund['reason'] or 'none'
    totals[reason] = totals.get(reason, 0) + refund['amount']
totals
"""

TOP_CUSTOMERS = """
import tools
charges = await tools.paginate('list_all_stripe_charges', created={{'gte': {since}}}, fields='amount,customer,status', max_items=10000)
volume = {{}}
for charge in charges:
    if charge['status'] == 'succeeded':
        volume[charge['customer']] = volume.get(charge['customer'], 0) + charge['amount']
top = sorted(volume.items(), key=lambda pair: (-pair[1], pair[0]))[:5]
[[customer, amount] for customer, amount in top]
"""

COUNT_AND_SUM = """
import tools
charges = await tools.paginate('list_all_stripe_charges', max_items=10000{fields})
[len(charges), sum(charge['amount'] for charge in charges)]
"""

CHURN = """
import tools
customer = '{customer}'
open_statuses = {open_statuses}
charges = await tools.paginate('list_all_stripe_charges', customer=customer,
    fields='id,amount_captured,amount_refunded,refunded,status,disputed,created')
disputes = []
for charge in charges:
    if charge['disputed']:
        for dispute in await tools.paginate('list_all_stripe_disputes', charge=charge['id']):
            if dispute['status'] in open_statuses:
                disputes.append(dispute['id'])
if not disputes:
    raise RuntimeError(customer + ' has no open dispute: nothing changed')
canceled = []
for subscription in await tools.paginate('list_all_stripe_subscriptions', customer=customer, status='active'):
    done = await tools.delete_a_stripe_subscription_by_id(id=subscription['id'])
    canceled.append([done['id'], done['status']])
paid = [c for c in charges if c['status'] == 'succeeded' and not c['disputed']]
refund = None
if paid:
    latest = max(paid, key=lambda c: c['created'])
    remaining = latest['amount_captured'] - latest['amount_refunded']
    if remaining > 0:
        made = await tools.create_a_stripe_refund(charge=latest['id'], amount=remaining,
            reason='requested_by_customer', metadata={{'workflow': 'churn', 'dispute': disputes[0]}},
            idempotency_key='churn-refund-' + latest['id'] + '-' + str(remaining))
        refund = [made['id'], made['charge'], made['amount'], made['status']]
{{'disputes': disputes, 'canceled': canceled, 'refund': refund}}
"""


def refunds_by_reason(refunds: list[dict[str, Any]], since: int | None = None) -> dict[str, int]:
    """``since``: filter here (the sandbox's whole list); ``None``: the list was filtered upstream."""
    totals: dict[str, int] = defaultdict(int)
    for refund in refunds:
        if since is None or refund["created"] >= since:
            totals[refund["reason"] or "none"] += refund["amount"]
    return dict(totals)


def top_customers(charges: list[dict[str, Any]], since: int | None = None) -> list[list[Any]]:
    volume: dict[str, int] = defaultdict(int)
    for charge in charges:
        if (since is None or charge["created"] >= since) and charge["status"] == "succeeded":
            volume[charge["customer"]] += charge["amount"]
    return [[c, a] for c, a in sorted(volume.items(), key=lambda pair: (-pair[1], pair[0]))[:5]]


def count_and_sum(charges: list[dict[str, Any]]) -> list[int]:
    return [len(charges), sum(charge["amount"] for charge in charges)]


def churn_candidates(
    charges: list[dict[str, Any]], disputes: list[dict[str, Any]], subscriptions: list[dict[str, Any]]
) -> list[str]:
    """Customers the churn workflow acts on: an open dispute, an active subscription and an
    undisputed, unrefunded successful charge (the one to refund)."""
    by_id = {charge["id"]: charge for charge in charges}
    active = {sub["customer"] for sub in subscriptions if sub["status"] == "active"}
    found = []
    for dispute in disputes:
        customer = by_id.get(dispute["charge"], {}).get("customer")
        if dispute["status"] not in OPEN_DISPUTES or customer not in active or customer in found:
            continue
        paid = [c for c in charges if c["customer"] == customer and c["status"] == "succeeded"]
        latest = max((c for c in paid if not c["disputed"]), key=lambda c: c["created"], default=None)
        if latest is not None and latest["amount_refunded"] == 0:
            found.append(customer)
    return found

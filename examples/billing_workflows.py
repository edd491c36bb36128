"""Two billing workflows, scripted the way an agent runs them: one MCP tool call at a time.

Each step calls a tool of truto-stripe-mcp through the official ``mcp`` client, reads the
JSON the tool returned (its text content, exactly what a model reads) and decides the
next call from it.

- ``churn``: a customer with an open dispute is leaving. Find the dispute, cancel the
  active subscription, then refund the most recent successful charge in full. It reads
  the account's state before every write, so running it again changes nothing.
- ``checkout``: a new corporate customer. Create the customer, attach its tax id, and
  create a payment link for a one-time fee ($12,000 by default); print the link's URL.
- ``demo``: both against the embedded sandbox, churn twice to show that the second run
  does nothing.

Run it from a checkout of the repository (or with truto-stripe-mcp installed)::

    python examples/billing_workflows.py demo --yes
    python examples/billing_workflows.py churn                 # a disputed sandbox customer
    python examples/billing_workflows.py churn --customer cus_123 --runs 2
    python examples/billing_workflows.py checkout --email ap@acme.example --name "Acme GmbH"

The sandbox is the default (no account needed; its data lives as long as the server
process, so one run of this script). ``--real`` uses the Stripe account connected to
Truto instead (TRUTO_API_KEY and TRUTO_INTEGRATED_ACCOUNT_ID in the environment): then
every refund and cancellation is real. The server asks before each of those; this script
asks you on the terminal, or approves them all with ``--yes``.

Use the functions from your own code with any connected ``mcp.Client``::

    async with Client(server_parameters(sandbox=True)) as client:
        outcome = await churn(client, "cus_123")
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters, types

Say = Callable[[str], None]

OPEN_DISPUTE_STATUSES = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
)
"""Stripe's dispute statuses that still await an outcome (the rest: won, lost, warning_closed)."""

CHARGE_FIELDS = "id,amount,amount_captured,amount_refunded,refunded,status,disputed,currency,customer,created"
"""What the churn workflow reads of a charge (``fields`` keeps tool results small)."""

WORKFLOW_TOOLS = (
    "list_all_stripe_charges",
    "list_all_stripe_disputes",
    "list_all_stripe_subscriptions",
    "delete_a_stripe_subscription_by_id",
    "create_a_stripe_refund",
    "get_single_stripe_charge_by_id",
    "create_a_stripe_customer",
    "create_a_stripe_customer_tax_id",
    "create_a_stripe_product",
    "create_a_stripe_price",
    "create_a_stripe_payment_link",
)
"""The server is started with exactly these tools (an allow list): nothing else is callable."""

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


class WorkflowError(Exception):
    """The workflow stopped: a tool failed, or the account is not in a state it can handle."""


def money(amount: int, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency.lower(), "")
    text = f"{amount / 100:,.2f}"
    return f"{symbol}{text} {currency.upper()}"


class Tools:
    """Calls tools like an agent does: the JSON text of each result is all it goes on."""

    def __init__(self, client: Client, say: Say) -> None:
        self.client = client
        self.say = say
        self.step = 0

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        self.step += 1
        self.say(f"  {self.step}. {tool} {json.dumps(arguments, separators=(',', ':'))}")
        result = await self.client.call_tool(tool, dict(arguments))
        texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        if result.is_error or not texts:
            raise WorkflowError(f"{tool} failed: {' '.join(texts) or 'no text in the result'}")
        # The first block is the JSON result; any further ones are the server's notes to the
        # agent (a replayed write), worth reading too.
        for note in texts[1:]:
            self.say(f"     note: {note}")
        try:
            return json.loads(texts[0])
        except json.JSONDecodeError as exc:
            raise WorkflowError(f"{tool} returned text that is not JSON: {texts[0][:200]!r}") from exc

    async def list_all(self, tool: str, arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a list tool, following ``next_cursor`` (pages of 100)."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.call(
                tool, {**arguments, "limit": 100, **({"next_cursor": cursor} if cursor else {})}
            )
            items.extend(page["result"])
            # A page cut to fit the result budget says so (`truncated`) and its cursor resumes
            # at the first item it did not show, so following it misses nothing.
            cursor = page.get("next_cursor")
            if not cursor:
                return items


# -- churn -------------------------------------------------------------------------------
@dataclass
class ChurnOutcome:
    customer: str
    open_disputes: list[str] = field(default_factory=list)
    canceled_subscriptions: list[str] = field(default_factory=list)
    refunded_charge: str | None = None
    refund: str | None = None
    refund_amount: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.canceled_subscriptions or self.refund)


async def churn(client: Client, customer: str, *, say: Say = print) -> ChurnOutcome:
    """Cancel a disputing customer's active subscriptions and refund their latest payment.

    Idempotent by reading state: a canceled subscription no longer lists as active, and a
    fully refunded charge says ``refunded: true``, so a second run finds nothing to do.
    """
    tools = Tools(client, say)
    outcome = ChurnOutcome(customer)
    say(f"churn {customer}")

    # The dispute: a dispute names its charge, and the charge names the customer.
    charges = await tools.list_all("list_all_stripe_charges", {"customer": customer, "fields": CHARGE_FIELDS})
    say(f"     {len(charges)} charge(s); disputed: {[c['id'] for c in charges if c['disputed']] or 'none'}")
    for charge in (c for c in charges if c["disputed"]):
        for dispute in await tools.list_all("list_all_stripe_disputes", {"charge": charge["id"]}):
            if dispute["status"] in OPEN_DISPUTE_STATUSES:
                outcome.open_disputes.append(dispute["id"])
                say(
                    f"     open dispute {dispute['id']} on {charge['id']}: {dispute['status']}, "
                    f"{money(dispute['amount'], dispute['currency'])}, reason {dispute['reason']}"
                )
    if not outcome.open_disputes:
        raise WorkflowError(
            f"{customer} has no open dispute; churn is for customers who have one. Nothing changed."
        )

    # The active subscription(s): cancel now (Stripe's DELETE cancels immediately).
    subscriptions = await tools.list_all(
        "list_all_stripe_subscriptions",
        {"customer": customer, "status": "active", "fields": "id,status,customer,cancel_at_period_end"},
    )
    if not subscriptions:
        outcome.notes.append("no active subscription: nothing to cancel")
        say("     no active subscription: nothing to cancel")
    for subscription in subscriptions:
        if subscription["customer"] != customer:
            raise WorkflowError(f"{subscription['id']} belongs to {subscription['customer']}, not {customer}")
        canceled = await tools.call("delete_a_stripe_subscription_by_id", {"id": subscription["id"]})
        if canceled.get("status") != "canceled":
            raise WorkflowError(f"{subscription['id']} is {canceled.get('status')!r} after canceling it")
        outcome.canceled_subscriptions.append(subscription["id"])
        when = canceled.get("canceled_at_iso", canceled.get("canceled_at"))
        say(f"     canceled {subscription['id']} (status {canceled['status']}, canceled_at {when})")

    # The most recent successful charge, refunded in full. A disputed charge is left to its
    # dispute: its money is already with the card network and Stripe refuses the refund.
    refundable = [c for c in charges if c["status"] == "succeeded" and not c["disputed"]]
    latest = max(refundable, key=lambda c: c["created"], default=None)
    if latest is None:
        outcome.notes.append("no successful undisputed charge: nothing to refund")
        say("     no successful undisputed charge: nothing to refund")
        return _summary(outcome, say)
    remaining = latest["amount_captured"] - latest["amount_refunded"]
    if latest["refunded"] or remaining <= 0:
        outcome.notes.append(f"{latest['id']} is already fully refunded: nothing to refund")
        say(f"     most recent successful charge {latest['id']} is already fully refunded: nothing to refund")
        return _summary(outcome, say)
    say(f"     most recent successful charge {latest['id']}: {money(remaining, latest['currency'])} left")
    refund = await tools.call(
        "create_a_stripe_refund",
        {
            "charge": latest["id"],
            "amount": remaining,
            "reason": "requested_by_customer",
            "metadata": {"workflow": "churn", "dispute": outcome.open_disputes[0]},
            # Two runs racing each other would both see the charge unrefunded: with the same
            # key Stripe makes the second one a replay of the first (for 24 hours).
            "idempotency_key": f"churn-refund-{latest['id']}-{remaining}",
        },
    )
    if refund.get("charge") != latest["id"] or refund.get("amount") != remaining:
        raise WorkflowError(f"unexpected refund: {refund}")
    if refund.get("status") not in ("succeeded", "pending"):
        raise WorkflowError(f"refund {refund.get('id')} is {refund.get('status')!r}")
    outcome.refunded_charge, outcome.refund, outcome.refund_amount = latest["id"], refund["id"], remaining
    after = await tools.call(
        "get_single_stripe_charge_by_id", {"id": latest["id"], "fields": "amount,amount_refunded,refunded"}
    )
    if not after.get("refunded"):
        raise WorkflowError(f"{latest['id']} is not fully refunded after {refund['id']}: {after}")
    say(f"     refunded {money(remaining, latest['currency'])}: {refund['id']} is {refund['status']}")
    return _summary(outcome, say)


def _summary(outcome: ChurnOutcome, say: Say) -> ChurnOutcome:
    if outcome.changed:
        done = [f"canceled {sub}" for sub in outcome.canceled_subscriptions]
        if outcome.refund:
            done.append(f"refunded {outcome.refunded_charge} ({outcome.refund})")
        say(f"  done: {'; '.join(done)}")
    else:
        say("  done: nothing to do, the customer is already churned")
    return outcome


# -- checkout ----------------------------------------------------------------------------
@dataclass
class CheckoutOutcome:
    customer: str
    tax_id: str
    product: str
    price: str
    payment_link: str
    url: str


async def checkout(
    client: Client,
    *,
    email: str,
    name: str,
    tax_id_type: str = "eu_vat",
    tax_id_value: str = "DE123456789",
    fee_name: str = "Implementation fee",
    amount: int = 1_200_000,
    currency: str = "usd",
    say: Say = print,
) -> CheckoutOutcome:
    """A new company customer with its tax id, and a payment link for a one-time fee."""
    tools = Tools(client, say)
    say(f"checkout {name} <{email}>: {fee_name}, {money(amount, currency)} once")
    customer = await tools.call(
        "create_a_stripe_customer", {"email": email, "name": name, "metadata": {"workflow": "checkout"}}
    )
    say(f"     customer {customer['id']}")
    tax_id = await tools.call(
        "create_a_stripe_customer_tax_id",
        {"customer": customer["id"], "type": tax_id_type, "value": tax_id_value},
    )
    if tax_id.get("customer") != customer["id"] or tax_id.get("value") != tax_id_value:
        raise WorkflowError(f"unexpected tax id: {tax_id}")
    verification = tax_id.get("verification", {}).get("status")
    say(f"     tax id {tax_id['id']}: {tax_id['type']} {tax_id['value']} (verification {verification})")
    product = await tools.call(
        "create_a_stripe_product", {"name": fee_name, "metadata": {"customer": customer["id"]}}
    )
    say(f"     product {product['id']}")
    # No `recurring`: a one-time price.
    price = await tools.call(
        "create_a_stripe_price", {"product": product["id"], "unit_amount": amount, "currency": currency}
    )
    if price.get("recurring") is not None or price.get("unit_amount") != amount:
        raise WorkflowError(f"expected a one-time price of {amount}: {price}")
    say(f"     price {price['id']}: {money(price['unit_amount'], price['currency'])}, {price.get('type')}")
    link = await tools.call(
        "create_a_stripe_payment_link",
        {"line_items": [{"price": price["id"], "quantity": 1}], "metadata": {"customer": customer["id"]}},
    )
    url = link.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise WorkflowError(f"the payment link has no URL: {link}")
    say(f"     payment link {link['id']}")
    say(f"  done: {url}")
    return CheckoutOutcome(customer["id"], tax_id["id"], product["id"], price["id"], link["id"], url)


# -- finding a customer to churn in the sandbox ------------------------------------------
async def find_churn_customer(client: Client, *, say: Say = print) -> str:
    """A customer with an open dispute and an active subscription (newest dispute first)."""
    tools = Tools(client, say)
    say("looking for a customer with an open dispute and an active subscription")
    disputes = await tools.list_all("list_all_stripe_disputes", {"fields": "id,status,charge"})
    for dispute in disputes:
        if dispute["status"] not in OPEN_DISPUTE_STATUSES:
            continue
        charge = await tools.call(
            "get_single_stripe_charge_by_id", {"id": dispute["charge"], "fields": "customer"}
        )
        if not charge.get("customer"):
            continue
        active = await tools.call(
            "list_all_stripe_subscriptions",
            {"customer": charge["customer"], "status": "active", "limit": 1, "fields": "id"},
        )
        if active["result"]:
            say(f"  found {charge['customer']} (dispute {dispute['id']}, {dispute['status']})")
            return str(charge["customer"])
    raise WorkflowError("no customer has both an open dispute and an active subscription")


# -- the script --------------------------------------------------------------------------
def server_parameters(*, sandbox: bool) -> StdioServerParameters:
    """``python -m truto_stripe_mcp`` over stdio, limited to the tools these workflows use.

    From a checkout the server runs from the repository root, so it needs no install. The
    server keeps its default approvals: refunds and cancellations are asked about first.
    """
    root = Path(__file__).resolve().parent.parent
    args = ["-m", "truto_stripe_mcp", "--tools", ",".join(WORKFLOW_TOOLS), "--log-level", "WARNING"]
    if sandbox:
        args.append("--sandbox")
    # The SDK passes only a few safe variables on; the server needs the TRUTO_ ones.
    env = {key: value for key, value in os.environ.items() if key.startswith("TRUTO_")}
    if sandbox:  # the sandbox needs no account: keep a real key out of its process
        for key in ("TRUTO_API_KEY", "TRUTO_BASE_URL", "TRUTO_INTEGRATED_ACCOUNT_ID"):
            env.pop(key, None)
    cwd = root if (root / "truto_stripe_mcp" / "__init__.py").is_file() else None
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=cwd)


def approver(assume_yes: bool) -> Callable[..., Any]:
    """Answers the server's approval questions ("Refund $19.00 USD of charge ch_... ?")."""

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        question = getattr(params, "message", "")
        if assume_yes:
            print(f"     approve? {question} -> yes (--yes)")
            return types.ElicitResult(action="accept", content={"confirm": True})
        if not sys.stdin.isatty():
            print(f"     approve? {question} -> declined (no terminal; pass --yes to approve)")
            return types.ElicitResult(action="decline")
        reply = await anyio.to_thread.run_sync(input, f"     approve? {question} [y/N] ")
        if reply.strip().lower() in ("y", "yes"):
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    return answer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--sandbox", dest="sandbox", action="store_true", default=True, help="the sandbox (default)"
    )
    where.add_argument(
        "--real", dest="sandbox", action="store_false", help="the Stripe account connected to Truto"
    )
    common.add_argument("--yes", action="store_true", help="approve every refund and cancellation")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    churn_cmd = commands.add_parser("churn", parents=[common], help="cancel and refund a disputing customer")
    churn_cmd.add_argument("--customer", help="cus_... (the sandbox picks a disputed customer if omitted)")
    churn_cmd.add_argument("--runs", type=int, default=1, help="run it this many times in one session")
    offer = argparse.ArgumentParser(add_help=False)
    offer.add_argument("--email", default="billing@northwind.example")
    offer.add_argument("--name", default="Northwind Traders GmbH")
    offer.add_argument("--tax-id-type", default="eu_vat", help="a Stripe tax id type (default eu_vat)")
    offer.add_argument("--tax-id", default="DE123456789")
    offer.add_argument("--fee-name", default="Implementation fee")
    offer.add_argument("--amount", type=int, default=1_200_000, help="in cents (default $12,000)")
    offer.add_argument("--currency", default="usd")
    commands.add_parser("checkout", parents=[common, offer], help="new customer, tax id, payment link")
    commands.add_parser("demo", parents=[common, offer], help="both workflows on the sandbox, churn twice")
    args = parser.parse_args(argv)
    if args.command == "churn" and not args.sandbox and not args.customer:
        parser.error("churn --real needs --customer")
    if args.command == "demo" and not args.sandbox:
        parser.error("demo runs on the sandbox only")
    return args


async def run(args: argparse.Namespace) -> str | None:
    """Both workflows in one server session; the reason it stopped, if it did."""
    params = server_parameters(sandbox=args.sandbox)
    where = "the sandbox" if args.sandbox else "the Stripe account connected to Truto"
    print(f"server: {params.command} {' '.join(params.args[:2])}, on {where}")
    async with Client(params, elicitation_callback=approver(args.yes)) as client:
        try:
            if args.command in ("churn", "demo"):
                customer = (args.command == "churn" and args.customer) or await find_churn_customer(client)
                for n in range(2 if args.command == "demo" else args.runs):
                    print(f"\n[run {n + 1}] ", end="")
                    await churn(client, customer)
            if args.command in ("checkout", "demo"):
                print()
                await checkout(
                    client,
                    email=args.email,
                    name=args.name,
                    tax_id_type=args.tax_id_type,
                    tax_id_value=args.tax_id,
                    fee_name=args.fee_name,
                    amount=args.amount,
                    currency=args.currency,
                )
        except WorkflowError as exc:
            return str(exc)  # raised out of the session it would arrive wrapped in an ExceptionGroup
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        failure = anyio.run(run, args)
    except* MCPError as group:  # the server did not start or went away
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        failure = f"lost the MCP server ({leaf}); its own message, if any, is above"
    if failure:
        print(f"\nfailed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

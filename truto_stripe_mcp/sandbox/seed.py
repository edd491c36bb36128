"""Deterministic seed data: a year of a small SaaS business's Stripe account.

Everything comes from one `random.Random(seed)` and the `now` anchor, so two sandboxes
with the same seed and anchor are identical, and docs can rely on one fixed customer
(Jane Doe, jane@example.com) with one fixed $1,500.00 charge.
"""

from __future__ import annotations

import random
from typing import Any

from . import builders as b
from . import builders_billing as bb
from .config import SandboxConfig
from .ops_billing import bill_subscription, invoice_number
from .store import Store, StripeObject

JANE_CUSTOMER_ID = "cus_sandbox_jane"
JANE_CHARGE_ID = "ch_sandbox_jane_1"
JANE_PAYMENT_INTENT_ID = "pi_sandbox_jane_1"
JANE_CHARGE_AMOUNT = 150_000

DAY = 86_400
YEAR = 365 * DAY

# fmt: off
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria",
    "Wei", "Mei", "Arjun", "Priya", "Kenji", "Yuki", "Lars", "Ingrid", "Omar", "Fatima", "Noah", "Emma",
    "Liam", "Olivia", "Lucas", "Sofia", "Mateo", "Chloe", "Ethan", "Amara",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Chen", "Wang", "Patel", "Kim", "Nguyen", "Tanaka", "Muller", "Rossi", "Silva", "Okafor", "Haddad",
    "Larsen", "Novak",
)
DISPUTE_REASONS = (
    "fraudulent", "product_not_received", "duplicate", "subscription_canceled", "unrecognized", "general",
)
DISPUTE_STATUSES = (
    "needs_response", "under_review", "won", "lost", "warning_needs_response", "needs_response",
)
# fmt: on
DOMAINS = ("example.com", "example.com", "example.org", "example.net")
CARDS = (("visa", "4242"), ("mastercard", "4444"), ("amex", "8431"), ("visa", "1881"), ("discover", "1117"))
PLANS = (  # product name, monthly cents, yearly cents, currency
    ("Starter plan", 1_900, 19_000, "usd"),
    ("Team plan", 4_900, 49_000, "usd"),
    ("Business plan", 14_900, 149_000, "usd"),
    ("Enterprise plan", 49_900, 499_000, "usd"),
    ("Analytics add-on", 2_900, 29_000, "eur"),
    ("Priority support", 9_900, 99_000, "gbp"),
)
ONE_TIME = (
    ("Onboarding workshop", 75_000, 150_000),
    ("Data migration", 250_000, 500_000),
    ("Custom integration", 400_000, 900_000),
    ("Training seat", 12_000, 45_000),
)
REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent", None)
TAX_IDS = (("eu_vat", "DE123456789", "DE"), ("gb_vat", "GB123456789", "GB"), ("us_ein", "12-3456789", "US"))


class Seeder:
    """Builds the data in dependency order: catalog, customers, payments, billing."""

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self.store = store
        self.rng = random.Random(config.seed)
        self.now = int(config.now)
        self.config = config
        self.customers: list[StripeObject] = []
        self.recurring: list[StripeObject] = []
        self.names: dict[str, str] = {}

    def tok(self, prefix: str) -> str:
        return self.store.token(prefix, self.rng)

    def new_id(self, collection: str) -> str:
        return self.store.new_id(collection, self.rng)

    def past(self, max_age: int = YEAR, min_age: int = 60) -> int:
        """A timestamp within the last `max_age` seconds (never in the future)."""
        return self.now - self.rng.randint(min_age, max_age)

    def run(self) -> None:
        self.seed_catalog()
        self.seed_customers()
        self.seed_charges()
        self.seed_subscriptions()
        self.seed_links_and_tax_ids()

    def seed_catalog(self) -> None:
        for name, monthly, yearly, currency in PLANS:
            created = self.past(YEAR, YEAR - 20 * DAY)
            prod = self.store.add("products", bb.product(self.new_id("products"), created, name=name))
            self.names[prod["id"]] = name
            for interval, amount in (("month", monthly), ("year", yearly)):
                price = bb.price(
                    self.new_id("prices"),
                    created + 60,
                    product_id=prod["id"],
                    unit_amount=amount,
                    currency=currency,
                    recurring={"interval": interval, "interval_count": 1},
                    nickname=f"{name} ({interval}ly)",
                    lookup_key=f"{name.split()[0].lower()}_{interval}ly",
                )
                self.recurring.append(self.store.add("prices", price))
            prod["default_price"] = self.recurring[-2]["id"]
        for name, low, high in ONE_TIME:
            created = self.past(YEAR, YEAR - 20 * DAY)
            prod = self.store.add("products", bb.product(self.new_id("products"), created, name=name))
            self.names[prod["id"]] = name
            for amount, currency in ((low, "usd"), (high, self.rng.choice(("usd", "eur")))):
                price = bb.price(
                    self.new_id("prices"),
                    created + 60,
                    product_id=prod["id"],
                    unit_amount=amount,
                    currency=currency,
                    recurring=None,
                )
                self.store.add("prices", price)
            prod["default_price"] = self.store.list("prices", product=prod["id"])[-1]["id"]
        prod["active"] = False  # one retired product

    def seed_customers(self) -> None:
        jane = b.customer(
            JANE_CUSTOMER_ID,
            self.now - 200 * DAY,
            email="jane@example.com",
            name="Jane Doe",
            description="Design lead at Doe & Co.",
            phone="+14155550100",
            metadata={"plan": "business"},
            currency="usd",
        )
        self.customers.append(self.store.add("customers", jane))
        seen = {"jane@example.com"}
        for i in range(self.config.num_customers - 1):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            email = f"{first}.{last}@{self.rng.choice(DOMAINS)}".lower()
            if email in seen:
                email = email.replace("@", f"{i}@")
            seen.add(email)
            obj = b.customer(
                self.new_id("customers"),
                self.past(),
                email=email,
                name=f"{first} {last}",
                phone=f"+1415555{self.rng.randint(0, 9999):04d}" if self.rng.random() < 0.4 else None,
                metadata={"crm_id": f"crm_{self.rng.randint(10_000, 99_999)}"}
                if self.rng.random() < 0.3
                else {},
                currency=self.rng.choice(("usd", "usd", "usd", "eur", None)),
            )
            self.customers.append(self.store.add("customers", obj))

    def _charge(
        self, created: int, customer: StripeObject, amount: int, currency: str, status: str, ids: Any = None
    ) -> StripeObject:
        pi_id, ch_id = ids or (self.new_id("payment_intents"), self.new_id("charges"))
        brand, last4 = self.rng.choice(CARDS)
        card = b.card_details(brand, last4, self.rng.randint(1, 12), self.rng.randint(2026, 2031))
        ok = status == "succeeded"
        intent = b.payment_intent(
            pi_id,
            created,
            self.tok,
            amount=amount,
            currency=currency,
            customer_id=customer["id"],
            status="succeeded" if ok else "requires_payment_method",
            payment_method=self.tok("pm"),
            receipt_email=customer["email"],
        )
        charge = b.charge(
            ch_id,
            created,
            self.tok,
            amount=amount,
            currency=currency,
            customer_obj=customer,
            payment_intent=pi_id,
            status=status,
            receipt_email=customer["email"],
            card=card,
            description=self.rng.choice((None, "Order payment", "Invoice payment", "Services rendered")),
        )
        intent["latest_charge"] = ch_id
        if not ok:
            intent["last_payment_error"] = {
                "code": "card_declined",
                "message": "Your card was declined.",
                "type": "card_error",
            }
        self.store.add("payment_intents", intent)
        return self.store.add("charges", charge)

    def _refund(self, charge: StripeObject, amount: int) -> None:
        created = min(self.now - 30, charge["created"] + self.rng.randint(DAY, 20 * DAY))
        refund = b.refund(
            self.new_id("refunds"),
            created,
            self.tok,
            charge_obj=charge,
            amount=amount,
            reason=self.rng.choice(REFUND_REASONS),
        )
        b.apply_refund(charge, refund)
        self.store.add("refunds", refund)

    def seed_charges(self) -> None:
        jane = self.customers[0]
        self._charge(
            self.now - 3 * DAY,
            jane,
            JANE_CHARGE_AMOUNT,
            "usd",
            "succeeded",
            (JANE_PAYMENT_INTENT_ID, JANE_CHARGE_ID),
        )
        disputes = 0
        for _ in range(self.config.num_charges - 1):
            customer = self.rng.choice(self.customers)
            amount = (
                self.rng.choice((900, 1_900, 4_900, 9_900, 14_900))
                if self.rng.random() < 0.5
                else self.rng.randint(5, 2_500) * 100
            )
            currency = self.rng.choices(("usd", "eur", "gbp"), weights=(85, 10, 5))[0]
            status = "failed" if self.rng.random() < 0.08 else "succeeded"
            charge = self._charge(self.past(), customer, amount, currency, status)
            if status != "succeeded":
                continue
            roll = self.rng.random()
            if roll < 0.08:
                self._refund(charge, amount)
            elif roll < 0.13:
                self._refund(charge, amount // self.rng.choice((2, 3, 4)))
                if self.rng.random() < 0.3:
                    self._refund(charge, amount // 10)
            elif roll < 0.18 and disputes < 15 and charge["created"] < self.now - 2 * DAY:
                disputes += 1
                charge["disputed"] = True
                dispute = b.dispute(
                    self.new_id("disputes"),
                    charge["created"] + self.rng.randint(DAY, 10 * DAY)
                    if charge["created"] < self.now - 11 * DAY
                    else self.now - DAY,
                    charge_obj=charge,
                    reason=self.rng.choice(DISPUTE_REASONS),
                    status=DISPUTE_STATUSES[disputes % len(DISPUTE_STATUSES)],
                )
                self.store.add("disputes", dispute)

    def seed_subscriptions(self) -> None:
        statuses = (
            ["active"] * 70 + ["trialing"] * 12 + ["past_due"] * 12 + ["canceled"] * 22 + ["paused"] * 4
        )
        for status in statuses:
            customer = self.rng.choice(self.customers)
            price = self.rng.choice(self.recurring)
            length = bb.period_seconds(price)
            created = (
                self.past(14 * DAY, DAY) if status == "trialing" else self.past(YEAR - 20 * DAY, 2 * DAY)
            )
            # A canceled subscription stops billing when it is canceled; others bill until now.
            horizon = self.rng.randint(created + DAY, self.now - 60) if status == "canceled" else self.now
            elapsed = (horizon - created) // length
            start = created + elapsed * length
            sub = bb.subscription(
                self.new_id("subscriptions"),
                created,
                self.tok,
                customer_id=customer["id"],
                items=[(price, self.rng.choice((1, 1, 1, 2, 5)))],
                status=status,
                period_start=created if status == "trialing" else start,
                trial_end=created + 14 * DAY if status == "trialing" else None,
                metadata={"source": self.rng.choice(("web", "sales", "partner"))},
            )
            self.store.add("subscriptions", sub)
            self._invoices(sub, customer, created, length, status, horizon)

    def _invoices(
        self, sub: StripeObject, customer: StripeObject, created: int, length: int, status: str, horizon: int
    ) -> None:
        starts = list(range(created, sub["current_period_start"] + 1, length))[-3:]
        for n, start in enumerate(starts):
            last = n == len(starts) - 1
            sub["current_period_start"], sub["current_period_end"] = start, start + length
            reason = "subscription_create" if start == created else "subscription_cycle"
            inv = bill_subscription(self.store, sub, start, reason, self.new_id("invoices"))
            bb.finalize_invoice(inv, start + 3600, invoice_number(self.store, customer))
            if last and status == "past_due":
                inv["due_date"] = start + 3 * DAY
                inv["attempted"], inv["attempt_count"] = True, 3
            elif last and status == "canceled" and self.rng.random() < 0.5:
                bb.void_invoice(inv, start + 2 * DAY)
            else:
                bb.pay_invoice(inv, start + 3600 + self.rng.randint(60, 600))
        if status == "trialing":
            sub["current_period_end"] = sub["trial_end"]
        if status == "canceled":
            sub.update(canceled_at=horizon, ended_at=horizon)
            sub["cancellation_details"]["reason"] = self.rng.choice(
                ("cancellation_requested", "payment_failed")
            )
        if status == "active" and self.rng.random() < 0.15:
            draft_at = self.now - self.rng.randint(600, 3600)
            bill_subscription(self.store, sub, draft_at, "subscription_cycle", self.new_id("invoices"))
        if status == "active" and self.rng.random() < 0.1:
            sub.update(cancel_at_period_end=True, cancel_at=sub["current_period_end"])

    def seed_links_and_tax_ids(self) -> None:
        for i in range(5):
            price = self.rng.choice(self.store.list("prices"))
            link = bb.payment_link(
                self.new_id("payment_links"),
                self.tok,
                line_items=[(price, 1, self.names[price["product"]])],
                active=i != 4,
                metadata={"campaign": f"launch-{i + 1}"},
            )
            self.store.add("payment_links", link, created=self.past())
        for _ in range(8):
            customer = self.rng.choice(self.customers)
            kind, value, country = self.rng.choice(TAX_IDS)
            obj = b.tax_id(
                self.new_id("tax_ids"),
                self.past(),
                customer_id=customer["id"],
                kind=kind,
                value=value,
                country=country,
            )
            obj["verification"]["status"] = self.rng.choice(
                ("verified", "verified", "pending", "unavailable")
            )
            self.store.add("tax_ids", obj)


def seed_store(config: SandboxConfig) -> Store:
    """A fresh store filled with the deterministic data for `config.seed` and `config.now`."""
    store = Store(config.seed, config.now)
    with store.lock:
        Seeder(store, config).run()
    return store

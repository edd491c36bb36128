"""Which Stripe writes move money: the rule table, as data.

A write is *money-moving* when it moves funds (now, or by letting Stripe collect later
without another call), commits a customer to pay or changes how much they pay, or sends
money somewhere else (another account, another bank account, a card that can spend the
balance). Each rule names a resource, its methods and, where only some arguments make the
call money-moving (a payment intent created with ``confirm: true``, a subscription update
that changes its items), those arguments. Every other write of the catalog is named in
:data:`NOT_MONEY` with the reason it moves no money, so that a new tool in the catalog is a
deliberate decision (``tests/test_money_moving.py`` compares the classification of the whole
catalog with a committed list). :mod:`.money_moving` evaluates the table.

Cancelling or voiding what has not moved yet (a payment intent, a payout, an invoice) is not
money-moving in this sense: it stops money. Those calls are destructive and asked anyway
under ``--confirm destructive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BOOKKEEPING = frozenset({"id", "expand", "idempotency_key", "confirmation_token", "fields"})
"""Arguments that never change what a call does to money (the object addressed, the answer's shape)."""

_FALSE = (None, False, 0, "", "false", "False", "0")


def value_at(arguments: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(given, value)`` of a dotted path (``payment_intent_data.transfer_data``)."""
    current: Any = arguments
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return current is not None, current


def _quoted(names: tuple[str, ...], joiner: str) -> str:
    words = [f"`{name}`" for name in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {joiner} " + words[-1]


@dataclass(frozen=True)
class Given:
    """Money-moving when any of these arguments is given (dotted paths reach nested fields)."""

    paths: tuple[str, ...]

    def names(self, arguments: Mapping[str, Any]) -> set[str]:
        """The top-level arguments that make it hold."""
        return {path.split(".")[0] for path in self.paths if value_at(arguments, path)[0]}

    def words(self) -> str:
        return _quoted(self.paths, "or") + " given"


@dataclass(frozen=True)
class IsTrue:
    """Money-moving when any of these arguments is true (or anything that is not plainly false)."""

    paths: tuple[str, ...]

    def names(self, arguments: Mapping[str, Any]) -> set[str]:
        found = set()
        for path in self.paths:
            given, value = value_at(arguments, path)
            if given and value not in _FALSE:
                found.add(path.split(".")[0])
        return found

    def words(self) -> str:
        return _quoted(self.paths, "or") + " true"


@dataclass(frozen=True)
class AnyBut:
    """Money-moving when any argument other than these harmless ones is given.

    For updates whose many fields mostly change money (a subscription's items, trial,
    discounts, billing anchor ...): a field Stripe adds later counts as money-moving until
    it is named harmless here, never the other way round.
    """

    harmless: tuple[str, ...]

    def names(self, arguments: Mapping[str, Any]) -> set[str]:
        return {
            name
            for name, value in arguments.items()
            if value is not None and name not in BOOKKEEPING and name not in self.harmless
        }

    def words(self) -> str:
        return "any argument but " + _quoted(self.harmless, "and")


Condition = Given | IsTrue | AnyBut


@dataclass(frozen=True)
class MoneyRule:
    """These methods of these resources move money: always, or when any condition holds."""

    resources: tuple[str, ...]
    methods: tuple[str, ...]
    effect: str
    """What the call does to money, in a few words (for the documentation and the preview)."""
    when: tuple[Condition, ...] = ()

    def words(self) -> str:
        return "always" if not self.when else "; or ".join(condition.words() for condition in self.when)


@dataclass(frozen=True)
class NotMoney:
    """Writes that move no money. ``methods`` empty: every write of the resources that no
    :class:`MoneyRule` names. Resources may be ``fnmatch`` patterns (``test_helpers_*``); the first entry that matches gives the reason."""

    resources: tuple[str, ...]
    reason: str
    methods: tuple[str, ...] = ()
    shown_as: str = ""
    """How the documentation's table names the resources, when not by listing them."""


def _rule(resources: str, methods: str, effect: str, *when: Condition) -> MoneyRule:
    return MoneyRule(tuple(resources.split()), tuple(methods.split()), effect, when)


_ROUTED = ("transfer_data", "on_behalf_of", "application_fee_amount", "application_fee_percent")
"""Arguments that send part of a payment to another (connected) account."""
_SUBSCRIPTION_HARMLESS = (
    "metadata",
    "description",
    "cancellation_details",
    "default_payment_method",
    "default_source",
    "payment_settings",
    "payment_behavior",
    "off_session",
    "proration_behavior",
    "proration_date",
    "days_until_due",
    "trial_settings",
    "customer",
)
"""Subscription update fields that change neither the price, the quantity, the discount,
the dates of billing nor who is paid (``customer`` only addresses a customer's subscription)."""

MONEY_RULES: tuple[MoneyRule, ...] = (
    # -- money moves now ------------------------------------------------------------------
    _rule("charges", "create capture", "charges a payment method"),
    _rule("charges", "refund", "refunds a charge"),
    _rule("refunds charge_refunds", "create", "refunds a charge"),
    _rule("application_fee_refunds", "create", "refunds an application fee"),
    _rule("application_fees", "refund", "refunds an application fee"),
    _rule(
        "payment_intents",
        "create",
        "charges at once when confirmed; sends funds to another account",
        IsTrue(("confirm",)),
        Given(_ROUTED),
    ),
    _rule(
        "payment_intents",
        "confirm capture increment_authorization apply_customer_balance verify_microdeposits",
        "charges, authorizes or captures a payment",
    ),
    _rule(
        "payment_intents",
        "update",
        "changes how much is charged or who receives it",
        Given(("amount", "currency", *_ROUTED)),
    ),
    _rule("payouts", "create reverse", "pays out to, or pulls back from, a bank account"),
    _rule("transfers", "create", "sends money to a connected account"),
    _rule("transfer_reversals", "create", "takes money back from a connected account"),
    _rule("topups", "create", "pulls money from a bank account into the balance"),
    _rule("credit_notes", "create", "refunds or credits part of an invoice"),
    _rule("customer_balance_transactions", "create", "credits or debits a customer's balance"),
    _rule("invoices", "pay", "charges an invoice now"),
    _rule("invoices", "finalize send", "makes an invoice due and collectable"),
    _rule(
        "invoices",
        "create update",
        "lets Stripe finalize and collect it on its own; sends funds to another account",
        IsTrue(("auto_advance",)),
        Given(_ROUTED),
    ),
    _rule("disputes charge_dispute", "close", "accepts the loss of the disputed amount"),
    _rule("issuing_authorizations", "approve", "approves spending from the balance"),
    _rule(
        "terminal_readers", "process_payment_intent refund_payment", "takes or refunds an in-person payment"
    ),
    _rule(
        "treasury_outbound_payments treasury_outbound_transfers treasury_inbound_transfers "
        "treasury_credit_reversals treasury_debit_reversals",
        "create",
        "moves money in or out of a financial account",
    ),
    # -- commits a customer to pay, or changes how much ------------------------------------
    _rule("subscriptions customer_subscriptions", "create", "starts billing a customer"),
    _rule("subscriptions", "resume", "bills a paused subscription again"),
    _rule(
        "subscriptions customer_subscriptions",
        "update",
        "changes what a customer pays or when",
        AnyBut(_SUBSCRIPTION_HARMLESS),
    ),
    _rule(
        "subscriptions customer_subscriptions",
        "delete",
        "bills or credits the customer at once",
        IsTrue(("invoice_now", "prorate")),
    ),
    _rule("subscription_items", "create delete", "changes what a customer pays"),
    _rule(
        "subscription_items",
        "update",
        "changes what a customer pays",
        AnyBut(("metadata", "off_session", "payment_behavior", "proration_behavior", "proration_date")),
    ),
    _rule("subscription_item_usage_records", "create", "reports metered usage that is billed"),
    _rule("subscription_schedules", "create", "schedules billing a customer"),
    _rule(
        "subscription_schedules",
        "update",
        "changes what a customer pays or when",
        AnyBut(("metadata", "proration_behavior")),
    ),
    _rule(
        "subscription_schedules",
        "cancel",
        "bills or credits the customer at once",
        IsTrue(("invoice_now", "prorate")),
    ),
    _rule("invoiceitems", "create delete", "adds to or takes from a customer's next invoice"),
    _rule("invoiceitems", "update", "changes a customer's next invoice", AnyBut(("metadata", "description"))),
    _rule("quotes", "accept finalize", "fixes a price and commits the customer to it"),
    _rule(
        "customer_discount customer_subscription_discount subscription_discount",
        "delete",
        "removes a discount: the customer pays more",
    ),
    _rule(
        "customers",
        "create update",
        "changes what a customer owes",
        Given(("balance", "coupon", "promotion_code")),
    ),
    # -- sends money somewhere else --------------------------------------------------------
    _rule(
        "account_external_accounts account_bank_accounts", "create", "adds a bank account payouts can go to"
    ),
    _rule(
        "account_external_accounts account_bank_accounts",
        "update",
        "makes it where payouts go",
        IsTrue(("default_for_currency",)),
    ),
    _rule(
        "accounts",
        "create update",
        "sets where a connected account's payouts go",
        Given(("external_account", "bank_account", "settings.payouts")),
    ),
    _rule("payment_links", "create", "sends part of what is paid to another account", Given(_ROUTED)),
    _rule(
        "checkout_sessions",
        "create",
        "sends part of what is paid to another account",
        Given(
            tuple(f"payment_intent_data.{name}" for name in _ROUTED)
            + tuple(f"subscription_data.{name}" for name in _ROUTED)
        ),
    ),
    _rule("issuing_cards", "create", "creates a card that can spend the balance"),
    _rule(
        "issuing_cards",
        "update",
        "activates a card or changes what it may spend",
        Given(("status", "spending_controls")),
    ),
    _rule(
        "issuing_cardholders",
        "create update",
        "changes what a cardholder may spend",
        Given(("spending_controls",)),
    ),
)

_MONEY_RESOURCES = tuple(dict.fromkeys(resource for rule in MONEY_RULES for resource in rule.resources))

NOT_MONEY: tuple[NotMoney, ...] = (
    NotMoney(
        ("products", "prices", "plans", "coupons", "promotion_codes", "shipping_rates", "tax_rates"),
        "they define what could be charged; nobody pays until a subscription, invoice or payment uses "
        "them, and that call is asked",
    ),
    NotMoney(
        (
            "payment_methods",
            "customer_sources",
            "customer_cards",
            "customer_bank_accounts",
            "sources",
            "tokens",
            "setup_intents",
            "customer_funding_instructions",
            "customer_cash_balance",
            "customer_tax_ids",
            "payment_method_domains",
            "apple_pay_domains",
        ),
        "they save or verify a way to pay (a confirmed setup intent included); each charge made with it "
        "is asked for itself",
    ),
    NotMoney(
        ("checkout_sessions", "payment_links", "billing_portal_sessions", "billing_portal_configurations"),
        "the payer sees the amount on Stripe's page and decides; no money moves until they pay",
    ),
    NotMoney(
        (
            "account_capabilities",
            "account_links",
            "account_login_links",
            "account_people",
            "account_persons",
            "account_sessions",
        ),
        "Connect onboarding and account settings",
    ),
    NotMoney(
        ("disputes", "charge_dispute", "issuing_disputes"),
        "evidence and dispute records: the card network decides where the money goes",
    ),
    NotMoney(
        (
            "apps_secrets",
            "ephemeral_keys",
            "files",
            "file_links",
            "financial_connections_*",
            "identity_*",
            "link_account_sessions",
            "linked_accounts",
            "radar_*",
            "reporting_*",
            "reviews",
            "tax_calculations",
            "tax_settings",
            "tax_transactions",
            "terminal_*",
            "treasury_financial_account*",
            "issuing_settlements",
            "issuing_transactions",
            "webhook_endpoints",
        ),
        "configuration, reports and records that do not move money",
    ),
    NotMoney(("test_helpers_*",), "test mode only: Stripe refuses them with live keys"),
    NotMoney(
        _MONEY_RESOURCES,
        "their other writes (or the same ones without the arguments above) edit records (metadata, "
        "descriptions) or cancel what has not moved yet; destructive ones are asked anyway",
        shown_as="every other write of the resources in the first table",
    ),
)

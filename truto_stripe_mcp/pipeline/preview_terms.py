"""The arguments of a call, as a person approving it reads them: money first, whole.

A preview once cut every argument at 200 characters, so a long metadata note could hide a
change to 50 seats. Here every money-relevant argument (amounts, currency, quantities,
prices, items, who pays and who is paid, the flags that charge at once ...) comes first, in
plain words (``amount: $49,999.00 USD``, ``items: (price price_1, quantity 50)``), and is
never shortened; the other arguments follow, shortened together with a marker that says
how much was left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OTHER_ARGUMENTS_BUDGET = 200
"""Characters shown of the arguments that are not money-relevant (metadata, descriptions ...)."""

_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}

_RANKED: tuple[frozenset[str], ...] = (
    frozenset({"currency"}),
    frozenset(
        {
            "quantity",
            "price",
            "price_data",
            "plan",
            "items",
            "line_items",
            "add_invoice_items",
            "phases",
            "lines",
            "usage",
            "action",
            "coupon",
            "discounts",
            "promotion_code",
            "balance",
            "default_tax_rates",
            "tax_rates",
        }
    ),
    frozenset(
        {
            "customer",
            "charge",
            "payment_intent",
            "invoice",
            "subscription",
            "destination",
            "transfer_data",
            "on_behalf_of",
            "payment_method",
            "source",
            "external_account",
            "bank_account",
            "cardholder",
        }
    ),
    frozenset(
        {
            "confirm",
            "capture",
            "capture_method",
            "off_session",
            "auto_advance",
            "collection_method",
            "invoice_now",
            "prorate",
            "proration_behavior",
            "billing_cycle_anchor",
            "trial_end",
            "trial_period_days",
            "cancel_at",
            "cancel_at_period_end",
            "pause_collection",
            "refund_application_fee",
            "reverse_transfer",
            "paid_out_of_band",
            "forgive",
            "default_for_currency",
            "spending_controls",
            "status",
            "reason",
        }
    ),
)
"""Money-relevant argument names, in the order a preview shows them (amounts come before all)."""


def format_money(amount: Any, currency: Any) -> str:
    """``150000, "usd"`` -> ``$1,500.00 USD`` (minor units, zero-decimal currencies honoured)."""
    if not isinstance(amount, int) or not isinstance(currency, str):
        return f"{amount} {currency or ''}".strip()
    code = currency.lower()
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    return f"{_SYMBOLS.get(code, '')}{value} {code.upper()}"


def is_amount(name: str) -> bool:
    """``amount``, ``unit_amount``, ``amount_to_capture``, ``application_fee_amount`` ..."""
    return "amount" in name and "decimal" not in name and name != "amounts"


def _rank(name: str) -> int | None:
    if is_amount(name) or name.endswith("_off"):
        return 0
    return next((index + 1 for index, names in enumerate(_RANKED) if name in names), None)


def _words(name: str) -> str:
    return name.replace("_", " ")


def plain(name: str, value: Any, currency: str | None) -> str:
    """One value in plain words; an amount in its currency when it is known."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and is_amount(name):
        return format_money(value, currency) if currency else f"{value:,} (smallest currency unit)"
    if isinstance(value, Mapping):
        own = value.get("currency") if isinstance(value.get("currency"), str) else currency
        inner = ", ".join(f"{_words(k)} {plain(k, v, own)}" for k, v in value.items() if k != "currency")
        if own and own != currency and "currency" in value:
            inner = f"currency {own.upper()}" + (f", {inner}" if inner else "")
        return f"({inner})"
    if isinstance(value, list):
        return ", ".join(plain(name, item, currency) for item in value) or "none"
    return str(value)


@dataclass(frozen=True)
class PreviewTerms:
    """A call's arguments split for a preview: money-relevant ones in plain words, then the rest."""

    money: tuple[str, ...]
    other: str
    """The other arguments as ``name=value``, shortened with a marker when over the budget."""

    def sentence(self, *, after_money: bool = False) -> str:
        """``amount: $5.00 USD; quantity: 2; other arguments: note=...`` (empty when there are none).

        ``after_money``: the sentence follows money already said (a refund's amount), so the
        other arguments are named as such even when no money term is left here.
        """
        parts = list(self.money)
        if self.other:
            parts.append(f"other arguments: {self.other}" if parts or after_money else self.other)
        return "; ".join(parts)


def preview_terms(
    arguments: Mapping[str, Any],
    *,
    currency: str | None = None,
    money_names: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
    budget: int = OTHER_ARGUMENTS_BUDGET,
) -> PreviewTerms:
    """Split and word ``arguments``. ``money_names`` are money-relevant for this call too (the
    arguments its money rule named); ``labels`` add who an id is (``cus_1 (jane@example.com)``);
    ``currency`` is the one amounts are in when the arguments do not say (the charge's)."""
    extra = set(money_names)
    own = arguments.get("currency")
    currency = own if isinstance(own, str) else currency
    ranked: list[tuple[int, int, str]] = []
    others: dict[str, Any] = {}
    for position, (name, value) in enumerate(arguments.items()):
        rank = _rank(name)
        if rank is None and name in extra:
            rank = len(_RANKED) + 1
        if rank is None:
            others[name] = value
            continue
        if name == "currency" and any(is_amount(key) for key in arguments):
            continue  # said with each amount
        text = plain(name, value, currency)
        if labels and name in labels:
            text += f" ({labels[name]})"
        ranked.append((rank, position, f"{_words(name)}: {text}"))
    money = tuple(text for _, _, text in sorted(ranked))
    return PreviewTerms(money, _shortened(others, budget))


def _shortened(arguments: Mapping[str, Any], budget: int) -> str:
    text = ", ".join(
        f"{name}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for name, value in arguments.items()
    )
    if len(text) <= budget:
        return text
    return f"{text[:budget].rstrip()}… [{len(text) - budget:,} more characters not shown]"

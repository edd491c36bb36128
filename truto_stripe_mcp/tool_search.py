"""search_tools' ranking: tools ranked for a task in plain words ("refund a charge").

Moved out of ``toolsets`` unchanged; toolsets choose what is exposed, this ranks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .catalog import ToolSpec

_SUBSCRIPTIONS = ("subscriptions", "customer_subscriptions")
_STOP = frozenset(
    re.findall(r"\w+", "a an the to for of my all me please i we want need can could you how do does is are")
    + re.findall(r"\w+", "in on at with by from and or any some this that it its up our your")
)
# Verbs an agent uses -> the methods they mean ("cancel" is a delete, or a custom method so named).
_VERBS: dict[str, tuple[str, ...]] = {
    word: methods
    for methods, words in (
        (("list",), "find list show search all browse every"),
        (("get",), "get retrieve fetch lookup look detail view read info"),
        (("create",), "create new add make issue generate start"),
        (("update",), "update change edit modify set rename upgrade downgrade switch"),
        (("delete",), "delete remove archive erase destroy"),
        (("delete", "cancel"), "cancel terminate"),
    )
    for word in words.split()
}
# Words (and two-word phrases) -> the resources they name, and the method a bare noun implies.
_CONCEPTS: dict[str, tuple[tuple[str, ...], str | None]] = {
    word: (resources, method)
    for words, resources, method in (
        ("payment link,checkout link,pay link,link", ("payment_links",), None),
        ("chargeback,dispute", ("disputes",), None),
        ("customer,client,user,buyer", ("customers",), None),
        ("plan,subscription,sub,subscriber", _SUBSCRIPTIONS, None),
        ("bill,invoice", ("invoices",), None),
        ("invoice item,line item", ("invoice_items",), None),
        ("payment", ("payment_intents", "charges"), None),
        ("payment intent,intent", ("payment_intents",), None),
        ("payment method,card", ("payment_methods",), None),
        ("tax id,tax number,vat,gst,ein", ("customer_tax_ids",), None),
        ("tax rate", ("tax_rates",), None),
        ("price,pricing", ("prices",), None),
        ("product,item", ("products",), None),
        ("refund", ("refunds",), "create"),
        ("charge", ("charges",), None),
        ("coupon,discount", ("coupons",), None),
        ("promo code,promotion code", ("promotion_codes",), None),
        ("payout", ("payouts",), None),
        ("balance transaction,balance,fee", ("balance_transactions",), None),
        ("checkout session,checkout", ("checkout_sessions",), None),
        ("setup intent", ("setup_intents",), None),
        ("credit note", ("credit_notes",), None),
        ("quote", ("quotes",), None),
        ("event", ("events",), None),
        ("webhook", ("webhook_endpoints",), None),
    )
    for word in words.split(",")
}
# Tie-breaks for a query without a verb: discovery first, destruction last.
_PRIOR = {"list": 0.5, "create": 0.4, "get": 0.3, "update": 0.2, "custom": 0.1, "delete": 0.0}
_NAME_NOISE = frozenset({"a", "stripe", "single", "all", "by"})


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: enough for an agent to pick a tool without reading every schema."""

    name: str
    description: str
    method: str
    resource: str
    score: float


def _stem(word: str) -> str:
    """Naive singular ('refunds' -> 'refund', 'taxes' -> 'tax'): queries and names then meet."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=8192)
def _words(text: str) -> frozenset[str]:
    """Stemmed words of a tool name or resource; cached because every search meets the same names."""
    return frozenset(_stem(word) for word in text.split("_"))


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= 120 else sentence[:117].rstrip() + "..."


def search(specs: Iterable[ToolSpec], query: str, *, limit: int = 10) -> list[SearchHit]:
    """Tools ranked for ``query``: resource matches weigh most, then the method, then shared words."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    words = [_stem(word) for word in re.findall(r"[a-z0-9]+", query.lower())]
    content = frozenset(word for word in words if word not in _STOP)
    if not content:
        raise ValueError(
            "search needs a keyword naming a resource or an action, e.g. 'refund a charge', "
            "'find customer by email', 'void invoice' or 'payment link'."
        )
    verbs: set[str] = set()
    concepts: list[tuple[tuple[str, ...], str | None]] = []
    i = 0
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if i + 1 < len(words) and pair in _CONCEPTS:
            concepts.append(_CONCEPTS[pair])
            i += 2
            continue
        verbs.update(_VERBS.get(words[i], ()))
        if words[i] in _CONCEPTS:
            concepts.append(_CONCEPTS[words[i]])
        i += 1
    # Descriptions are matched by substring ('refund' finds 'refunds'; a short word must start a word):
    # no tokenizing, so a cold search over a large catalog stays fast.
    needles = [word if len(word) > 3 else " " + word for word in content]
    scored: list[tuple[float, str, ToolSpec]] = []
    for spec in specs:
        score = 0.0
        implied = False
        for position, (resources, method) in enumerate(concepts):
            if spec.resource in resources:
                score = max(score, 10.0 if position == 0 else 8.0)
                implied = implied or (method == spec.method and not verbs)
        if implied or spec.method in verbs or spec.method in content:
            score += 5.0
        score += 3.0 * len(content & _words(spec.resource))
        score += 2.0 * len(content & (_words(spec.name) - _NAME_NOISE))
        text = " " + spec.description.lower()
        score += 1.0 * sum(1 for needle in needles if needle in text)
        if score:
            scored.append((-(score + _PRIOR[spec.kind]), spec.name, spec))
    scored.sort(key=lambda item: item[:2])
    return [
        SearchHit(
            spec.name, _first_sentence(spec.description or spec.title), spec.method, spec.resource, -neg
        )
        for neg, _, spec in scored[:limit]
    ]

"""What an agent's plain words mean in Stripe's terms: the vocabulary of tool search.

These tables map words to *words* (a resource word such as "dispute", a method word such
as "void"), never to resource or tool names. ``tool_search`` matches those words against the
resources and methods of the catalog it searches, so an entry whose word that catalog does
not use matches nothing, and the tables hold for any Truto catalog, whatever it grows into.
A word is singular throughout (see :func:`stem`), as search compares them.
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    re.findall(r"\w+", "a an the to for of my all me please i we want need can could you how do does is are")
    + re.findall(r"\w+", "in on at with by from and or any some this that it its up our your")
    + re.findall(r"\w+", "stripe so be as into what which when where who there their his her them s")
)
STRIPE_ID = re.compile(r"\b[a-z]{2,10}_(?=[A-Za-z0-9]*[0-9A-Z])[A-Za-z0-9]{3,}\b")
"""An object id pasted into the query (``cus_123``, ``in_1Mtx...``): the agent wants that one object."""
DETERMINERS = frozenset(re.findall(r"\w+", "a an the my our this that these those his her their its all"))
"""A word that follows a query's first word shows that word is a verb: "refund *the* charge"."""

# Plain verbs (and phrasal verbs) -> the method words they mean. A method word is the first
# word of a method (``mark_uncollectible`` -> mark), matched against the catalog's methods.
_VERB_ROWS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("list", "search"), "find,search,lookup"),
    (("list",), "list,show,browse,every"),
    (("get", "retrieve"), "get,retrieve,fetch,look,look up,detail,view,read,info,see,check,download"),
    (
        ("create",),
        "create,new,add,make,issue,generate,start,register,give,set up,sign up,calculate,subscribe,report",
    ),
    (("create", "attach"), "attach,save"),
    (("update", "modify"), "update,change,edit,modify,set,rename,upgrade,downgrade,switch,adjust,submit"),
    (("update", "modify"), "deactivate,activate,enable,disable,pause,archive"),
    (("delete",), "delete,remove,erase,destroy,archive,disable"),
    (("delete", "cancel"), "cancel,terminate,stop,end"),
    (("close", "accept"), "accept,concede"),
    (("send",), "email,mail,resend"),
    (("pay",), "collect,charge"),
    (("resume",), "unpause,reactivate,restart"),
    (("detach",), "unlink"),
    (("mark",), "uncollectible"),
    (("preview", "upcoming"), "preview,upcoming"),
)
VERBS: dict[str, tuple[str, ...]] = {}
for _methods, _phrases in _VERB_ROWS:
    for _phrase in _phrases.split(","):
        VERBS[_phrase] = tuple(dict.fromkeys((*VERBS.get(_phrase, ()), *_methods)))
del _methods, _phrases, _phrase
# Plain nouns (and two-word phrases) -> the resource words they mean, and how sure that is.
# Stripe's id prefixes are here too: an agent pastes "cus_123" or "evt_123".
SYNONYMS: dict[str, tuple[str, float]] = {
    phrase: (words, weight)
    for words, weight, phrases in (
        ("dispute", 0.8, "chargeback"),
        ("tax id", 0.9, "vat,gst,ein,abn,tax number,vat number,vat id"),
        ("coupon", 0.6, "discount"),
        ("promotion code", 1.0, "promo,promo code,promocode,discount code"),
        ("subscription", 0.7, "plan,subscribe,subscriber,membership,renewal"),
        ("subscription item", 0.7, "seat,quantity"),
        ("usage record", 0.9, "usage,metered"),
        ("invoice", 0.7, "bill"),
        ("charge", 0.6, "payment,transaction"),
        ("payment method", 0.7, "card"),
        ("payment link", 1.0, "checkout link,pay link,payment page"),
        ("customer", 0.8, "client,buyer,shopper"),
        ("account", 0.6, "connected account"),
        ("calculation", 0.8, "calculate"),
        ("balance transaction", 0.6, "fee"),
        ("webhook endpoint", 0.8, "webhook url,notification url"),
        ("event", 0.6, "notification"),
        ("price", 0.6, "pricing,lookup key"),
        ("subscription", 0.8, "pause collection"),
        ("invoiceitem", 0.8, "one off,one time"),
        ("customer balance", 0.9, "account credit,credit balance,store credit"),
        # Stripe id prefixes.
        ("customer", 1.0, "cus"),
        ("charge", 1.0, "ch,py"),
        ("payment intent", 1.0, "pi"),
        ("refund", 1.0, "re"),
        ("dispute", 1.0, "dp,du"),
        ("invoiceitem", 1.0, "ii"),
        ("subscription", 1.0, "sub"),
        ("subscription item", 1.0, "si"),
        ("subscription schedule", 1.0, "sub sched"),
        ("product", 1.0, "prod"),
        ("tax rate", 1.0, "txr"),
        ("tax id", 1.0, "txi"),
        ("payment link", 1.0, "plink"),
        ("checkout session", 1.0, "cs"),
        ("payout", 1.0, "po"),
        ("event", 1.0, "evt"),
        ("credit note", 1.0, "cn"),
        ("quote", 1.0, "qt"),
        ("payment method", 1.0, "pm"),
        ("setup intent", 1.0, "seti"),
        ("transfer", 1.0, "tr"),
    )
    for phrase in phrases.split(",")
}
EVERYDAY_NOUNS = frozenset(
    re.findall(
        r"\w+",
        "account app code event file key location people person rate record report review run "
        "schedule secret session setting source test token",
    )
)
"""Resource words with an everyday sense outside Stripe: "schedule a meeting", "get my location",
"run the tests", "upload a file to google drive". A query whose only nouns are these finds a tool
only when it names that tool's resource in full ("list events", "terminal location") and uses no
word that Stripe's tools never mention ("calendar", "drive"): otherwise it answers nothing."""
PHRASES = frozenset(phrase for phrase in (*SYNONYMS, *VERBS) if " " in phrase)
LONGEST_PHRASE = max(len(phrase.split()) for phrase in PHRASES)


def stem(word: str) -> str:
    """Naive singular ('refunds' -> 'refund', 'taxes' -> 'tax'): queries and names then meet."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def text_words(text: str) -> list[str]:
    """Lower-case stemmed words of prose; ``PaymentIntent`` counts as "payment intent"."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [stem(word) for word in re.findall(r"[a-z0-9]+", spaced.lower())]

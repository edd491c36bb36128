"""search_tools' ranking: plain words -> the few tools (of hundreds) that do the job.

Truto's Stripe catalog is one tool per Stripe operation (468 of them), named from a
resource and a method (``create_a_stripe_customer_tax_id`` is ``customer_tax_ids`` +
``create``). An agent asks in its own words ("attach a VAT number to a customer"), so
search reads a query as nouns that name resources and verbs that name methods:

* **Resources.** The resource words come from the catalog being searched, at search time
  (``customer_tax_ids`` -> customer, tax, id), weighted by how rare each word is among
  the resources: "payout" says more than "account". A resource scores for the query words
  it covers and loses for the words it leaves over, so ``disputes`` beats
  ``issuing_disputes`` for "dispute" and ``customer_tax_ids`` beats ``customers`` for
  "tax ids of a customer". Two adjacent query words that make one resource word are
  joined ("invoice item" -> ``invoiceitems``, "pay out" -> ``payouts``).
* **Methods.** A method scores when the query asks for it, by its own name ("void",
  "finalize") or by a plain verb that means it ("remove" -> delete, "email" -> send).
* **Text.** BM25 over each tool's name and Stripe's description breaks the rest of the ties
  ("at period end" is in the description of the subscription cancel that honours it).

The tables of plain words (``search_words``) map them to *words*, never to resource or
tool names: a word reaches a tool only through the resources and methods the catalog really
has, so an entry whose word no resource uses matches nothing, and a tool Truto adds later
is found by its own words. A tool is only a result when a resource word of it matches (or, for a query of
nothing but a method such as "void", its method's own name does): "weather in Paris"
finds nothing, not the eight least unlikely tools. A few resource words have an everyday
sense (``EVERYDAY_NOUNS``: "schedule", "location", "file"): a query whose only nouns are
these finds a tool only when it names the tool's resource in full and no word that no tool
mentions, so "schedule a meeting with alice" finds nothing and :func:`no_match` says why.

Everything search needs about a catalog is computed once per catalog (see :func:`_index`),
so a search over ~470 tools scores a few dozen candidates, not every tool.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .search_words import (
    DETERMINERS,
    EVERYDAY_NOUNS,
    LONGEST_PHRASE,
    PHRASES,
    STOP_WORDS,
    STRIPE_ID,
    SYNONYMS,
    VERBS,
    stem,
    text_words,
)
from .spec import ToolSpec

# Weights, in score points. A matched resource word is worth its rarity (idf, ~2 to 5) times
# _RESOURCE; a word a resource leaves over costs _LEFTOVER times its rarity, so a resource
# that says more than the query asked ranks under one that says exactly that.
_RESOURCE = 2.0
_LEFTOVER = 0.6
_METHOD = 5.0  # the method the query asks for: as much as a fairly rare resource word
_METHOD_EXTRA = 2.0  # each further word of a custom method the query names ("uncollectible")
_FIRST_NOUN = 1.5  # the query's first noun names what it is about: "price" in "price for a product"
_IMPLIED = 3.0  # "refund the charge": a noun used as the verb means create it
_TEXT = 0.4  # BM25 over name and description: it weighs in, but never makes a tool a result
# Small, added to every score: they order what nothing else tells apart (siblings of one
# resource for a query without a verb): discovery first, destruction last.
_PRIOR = {"list": 1.0, "create": 0.4, "get": 0.3, "retrieve": 0.3, "update": 0.2, "delete": 0.0}
_CUSTOM_PRIOR = 0.1
_BM25_K1 = 1.2
_BM25_B = 0.75


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: enough for an agent to pick a tool without reading every schema."""

    name: str
    description: str
    method: str
    resource: str
    score: float


@lru_cache(maxsize=4096)
def _resource_words(resource: str) -> tuple[str, ...]:
    """``customer_tax_ids`` -> (customer, tax, id): each word singular, each once, in order."""
    return tuple(dict.fromkeys(stem(word) for word in resource.split("_") if word))


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= 120 else sentence[:117].rstrip() + "..."


def _idf(total: int, having: int) -> float:
    """BM25's idf: always positive, larger for rarer words."""
    return math.log(1 + (total - having + 0.5) / (having + 0.5))


@dataclass(frozen=True)
class _Tool:
    """One tool as search sees it, computed once per catalog."""

    spec: ToolSpec
    resource_words: tuple[tuple[str, float], ...]  # (word, idf among the resources)
    method_words: tuple[str, ...]
    prior: float
    text_length: int


class _Index:
    """Everything search needs about one catalog: vocabularies, rarities and a text index."""

    def __init__(self, specs: tuple[ToolSpec, ...]) -> None:
        self.specs = specs  # held so the ids in the cache key stay these objects' ids
        resources = {spec.resource for spec in specs}
        having: Counter[str] = Counter(word for resource in resources for word in _resource_words(resource))
        self.resource_vocabulary = frozenset(having)
        self.method_vocabulary = frozenset(spec.method.split("_")[0] for spec in specs)
        # "list" names radar_value_lists too, but a query's "list" is nearly always the verb:
        # a CRUD word never makes a tool a result on its own.
        self.crud_words = frozenset(spec.method for spec in specs if spec.kind != "custom")
        self.action_words = self.method_vocabulary - self.crud_words
        self.by_resource_word: dict[str, list[int]] = defaultdict(list)
        self.by_method_word: dict[str, list[int]] = defaultdict(list)
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.tools: list[_Tool] = []
        lengths = 0
        for position, spec in enumerate(specs):
            words = _resource_words(spec.resource)
            for word in words:
                self.by_resource_word[word].append(position)
            self.by_method_word[spec.method.split("_")[0]].append(position)
            terms = Counter(
                word
                for word in (*spec.name.split("_"), *text_words(spec.description))
                if word not in STOP_WORDS and not word.isdigit()
            )
            for term, count in terms.items():
                self.postings[term].append((position, count))
            length = sum(terms.values())
            lengths += length
            self.tools.append(
                _Tool(
                    spec=spec,
                    resource_words=tuple((word, _idf(len(resources), having[word])) for word in words),
                    method_words=tuple(spec.method.split("_")),
                    prior=_PRIOR.get(spec.method, _CUSTOM_PRIOR),
                    text_length=length,
                )
            )
        self.average_length = lengths / len(specs) if specs else 1.0
        self.text_idf = {term: _idf(len(specs), len(hits)) for term, hits in self.postings.items()}
        self.known = self.resource_vocabulary | self.method_vocabulary | set(VERBS) | set(SYNONYMS)


_INDEXES: OrderedDict[tuple[int, ...], _Index] = OrderedDict()
_INDEXES_KEPT = 8  # a server has one catalog at a time; tests and benchmarks a few
_INDEXES_LOCK = threading.Lock()


def _index(specs: tuple[ToolSpec, ...]) -> _Index:
    """The index of this catalog, built on first use: keyed by the specs' identities.

    The server hands search the same ToolSpec objects on every call until the catalog is
    fetched again (a new catalog is new objects, so a new key). The index holds the specs,
    so no id in a kept key can be reused by another object.
    """
    key = tuple(map(id, specs))
    with _INDEXES_LOCK:
        found = _INDEXES.get(key)
        if found is None:
            found = _INDEXES[key] = _Index(specs)
            while len(_INDEXES) > _INDEXES_KEPT:
                _INDEXES.popitem(last=False)
        else:
            _INDEXES.move_to_end(key)
        return found


@dataclass
class _Query:
    """A query read against one catalog: the resource words and methods it asks for."""

    nouns: dict[str, float]  # resource word -> how surely the query names it (1 = in so many words)
    first_noun: str | None
    verbs: dict[str, float]  # method word -> how surely the query asks for it
    implied: str | None  # a resource word used as the verb: "refund the charge" creates a refund
    text: dict[str, float]  # words for the text score, synonyms at their weight
    words: set[str]  # the query's own words (stemmed), phrases whole and word by word
    unexplained: int  # content words no vocabulary knows ("email", "boss")
    foreign: tuple[str, ...]  # content words no tool's name or description uses ("calendar", "drive")


def _read(raw: list[str], index: _Index, *, names_an_id: bool) -> _Query:
    """Walk the query's words, longest match first: a phrase, a joined pair, then a single word.

    Phrases are looked for before stop words are dropped: "set up" and "top up" need their "up".
    """
    nouns: dict[str, float] = {}
    verbs: dict[str, float] = {}
    words: set[str] = set()
    order: list[str] = []
    unexplained = 0
    foreign: list[str] = []

    def noun(word: str, weight: float) -> None:
        if word in index.resource_vocabulary and weight > nouns.get(word, 0.0):
            nouns[word] = weight
            order.append(word)

    def verb(word: str, weight: float) -> None:
        if word in index.method_vocabulary and weight > verbs.get(word, 0.0):
            verbs[word] = weight

    stems = [stem(word) for word in raw]
    implied = None
    i = 0
    while i < len(raw):
        size, phrase = 1, stems[i]
        for wider in range(min(LONGEST_PHRASE, len(raw) - i), 1, -1):
            if " ".join(stems[i : i + wider]) in PHRASES:
                size, phrase = wider, " ".join(stems[i : i + wider])
                break
            if wider == 2 and "".join(stems[i : i + 2]) in index.resource_vocabulary:
                size, phrase = wider, "".join(stems[i : i + 2])
                break
        if size == 1 and (raw[i] in STOP_WORDS or len(raw[i]) < 2):
            i += 1
            continue
        noun(phrase, 1.0)  # before its synonyms: the word as said comes first in the query's order
        verb(phrase, 1.0)
        targets, weight = SYNONYMS.get(phrase, ("", 0.0))
        for target in targets.split():
            noun(target, weight)
        parts = {phrase, *stems[i : i + size]}
        for method in (method for part in parts for method in VERBS.get(part, ())):
            verb(method, 0.9)
        words.update(parts)
        if phrase not in index.known and not phrase.isdigit():
            unexplained += 1
            if phrase not in index.postings:
                foreign.append(raw[i])
        if i == 0 and phrase in nouns.keys() - index.crud_words and raw[size : size + 1]:
            implied = phrase if raw[size] in DETERMINERS else None
        i += size
    if names_an_id and not verbs:
        verb("get", 0.9)
        verb("retrieve", 0.9)
    text = {word: 1.0 for word in words if not word.isdigit() and " " not in word}
    text.update({word: weight for word, weight in nouns.items() if word not in text})
    first_noun = order[0] if order else None
    return _Query(nouns, first_noun, verbs, implied, text, words, unexplained, tuple(dict.fromkeys(foreign)))


def _method_score(tool: _Tool, query: _Query) -> float:
    first, *rest = tool.method_words
    sure = query.verbs.get(first, 0.0)
    if not sure:
        return 0.0
    return _METHOD * sure + _METHOD_EXTRA * sum(1 for word in rest if word in query.words)


def _resource_score(tool: _Tool, query: _Query) -> float:
    score = 0.0
    for word, rarity in tool.resource_words:
        sure = query.nouns.get(word, 0.0)
        score += _RESOURCE * rarity * sure if sure else -_LEFTOVER * rarity
    return score


def _text_scores(index: _Index, query: _Query) -> dict[int, float]:
    """BM25 (k1=1.2, b=0.75) of each tool's name and description against the query's words."""
    scores: dict[int, float] = defaultdict(float)
    for term, weight in query.text.items():
        idf = index.text_idf.get(term)
        if idf is None:
            continue
        for position, count in index.postings[term]:
            norm = 1 - _BM25_B + _BM25_B * index.tools[position].text_length / index.average_length
            scores[position] += weight * idf * count * (_BM25_K1 + 1) / (count + _BM25_K1 * norm)
    return scores


def _named_in_full(tool: _Tool, query: _Query) -> bool:
    """The query names the tool's resource (all its words, or two: "report run"), or its custom
    method in so many words ("release a schedule")."""
    named = sum(word in query.nouns for word, _ in tool.resource_words)
    if named >= min(2, len(tool.resource_words)):
        return True
    return tool.spec.kind == "custom" and query.verbs.get(tool.method_words[0]) == 1.0


def _everyday(anchors: set[str], *, names_an_id: bool) -> bool:
    """Only everyday nouns ("schedule", "location") and no pasted id: Stripe's sense is not sure."""
    return bool(anchors) and anchors <= EVERYDAY_NOUNS and not names_an_id


def _parse(specs: Iterable[ToolSpec], query: str) -> tuple[_Index, _Query, set[str], bool]:
    """The catalog's index, the query read against it, its anchor nouns, and whether it names an id."""
    raw = re.findall(r"[a-z0-9]+", query.lower())
    if not any(word not in STOP_WORDS for word in raw):
        raise ValueError(
            "search needs a keyword naming a resource or an action, e.g. 'refund a charge', "
            "'find customer by email', 'void invoice' or 'payment link'."
        )
    index = _index(specs if isinstance(specs, tuple) else tuple(specs))
    names_an_id = bool(STRIPE_ID.search(query))
    read = _read(raw, index, names_an_id=names_an_id)
    return index, read, set(read.nouns.keys() - index.crud_words), names_an_id


def search(specs: Iterable[ToolSpec], query: str, *, limit: int = 10) -> list[SearchHit]:
    """Tools ranked for ``query``, best first; none when nothing in the catalog is about it."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    index, read, anchors, names_an_id = _parse(specs, query)
    candidates = {position for word in anchors for position in index.by_resource_word[word]}
    if _everyday(anchors, names_an_id=names_an_id):
        # "schedule a meeting with alice", "get my location": an everyday word is a Stripe
        # resource's only when the query says so, by naming that resource in full and no word
        # that no Stripe tool mentions.
        candidates = (
            set()
            if read.foreign
            else {position for position in candidates if _named_in_full(index.tools[position], read)}
        )
    if not candidates and not read.unexplained:
        # Nothing but an action ("void", "capture it"): a custom method named in so many words.
        named = {word for word, sure in read.verbs.items() if sure == 1.0} & index.action_words
        candidates = {position for word in named for position in index.by_method_word[word]}
    text = _text_scores(index, read)
    scored: list[tuple[float, str, ToolSpec]] = []
    for position in candidates:
        tool = index.tools[position]
        score = _resource_score(tool, read) + _method_score(tool, read) + _TEXT * text.get(position, 0.0)
        nouns = {word for word, _ in tool.resource_words}
        if read.first_noun in nouns:
            score += _FIRST_NOUN
        if read.implied in nouns and tool.spec.method == "create":
            score += _IMPLIED
        scored.append((-(score + tool.prior), tool.spec.name, tool.spec))
    scored.sort(key=lambda item: item[:2])
    return [
        SearchHit(
            spec.name, _first_sentence(spec.description or spec.title), spec.method, spec.resource, -neg
        )
        for neg, _, spec in scored[:limit]
    ]


@dataclass(frozen=True)
class NoMatch:
    """Why a query found nothing, in words an agent can act on."""

    foreign: tuple[str, ...]
    """The query's words that no tool's name or description uses ("meeting", "drive")."""
    everyday: tuple[str, ...]
    """The query's everyday nouns that search would not read in Stripe's sense ("location")."""
    stripe_names: tuple[str, ...]
    """Stripe's resources named with them, in words ("terminal locations"): what to search for."""


_NAMES_SHOWN = 4


def no_match(specs: Iterable[ToolSpec], query: str) -> NoMatch:
    """What to tell an agent whose ``query`` found nothing (``ValueError`` for an empty query)."""
    index, read, anchors, names_an_id = _parse(specs, query)
    if not _everyday(anchors, names_an_id=names_an_id):
        return NoMatch(read.foreign, (), ())
    resources = {index.tools[p].spec.resource for word in anchors for p in index.by_resource_word[word]}
    covered = {resource: len(anchors & set(_resource_words(resource))) for resource in resources}
    ranked = sorted(resources, key=lambda resource: (-covered[resource], len(resource), resource))
    everyday = tuple(word for word in read.nouns if word in anchors)
    return NoMatch(read.foreign, everyday, tuple(r.replace("_", " ") for r in ranked[:_NAMES_SHOWN]))

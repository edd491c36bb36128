"""Named toolsets and how they combine with the other tool filters (search is in ``tool_search``).

Agents pick better from twenty well-chosen tools than from three hundred, so the server exposes a
named toolset (``--toolsets`` / ``TRUTO_MCP_TOOLSETS``, comma separated, combinable, ``all``).
Toolsets are rules over a tool's resource and method, never tool names, so a tool Truto adds later
(``list_all_stripe_payment_links_v2``) joins the right toolsets without a release.

How the options combine (each step works on the result of the step before it):

| Step | Options                              | Result                                                  |
|------|--------------------------------------|---------------------------------------------------------|
| 1    | nothing                              | the ``core`` toolset                                    |
| 1    | ``--toolsets A,B``                   | the union of A and B                                    |
| 1    | ``--toolsets A --tools X``           | A plus the named tools X (the list adds)                |
| 1    | ``--tools X`` without ``--toolsets`` | exactly X (an allow list, as before toolsets existed)   |
| 1    | only ``--methods`` and/or ``--tags`` | the whole catalog (the user filters explicitly)         |
| 2    | ``--methods M``                      | keeps tools whose method matches M, named tools too     |
| 2    | ``--tags T``                         | keeps tools with any tag in T, named tools too          |
| 3    | ``--read-only``                      | keeps only list and get tools, whatever chose them      |
| 4    | ``--exclude-tools X``                | removes X: exclusion always wins                        |

The helper tools (search_tools, convert_timestamp, auto_paginate) are in every base except a bare
``--tools`` allow list, where they must be named; otherwise only ``--exclude-tools`` removes them.
Method words (rules and ``--methods``): list, get, create, update, delete, a custom method's own
name (``void``), ``read`` (list+get), ``write`` (create+update+delete), ``custom`` (any non-CRUD
method), ``*`` (any).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TypedDict, Unpack

from .spec import READ_METHODS, WRITE_METHODS, ToolSpec

TOOLSETS_ENV = "TRUTO_MCP_TOOLSETS"
DEFAULT_TOOLSET = "core"


def method_matches(word: str, spec: ToolSpec) -> bool:
    """One method word against a tool: the single vocabulary shared by rules and ``--methods``."""
    return (
        word in ("*", spec.method)
        or (word == "read" and spec.method in READ_METHODS)
        or (word == "write" and spec.method in WRITE_METHODS)
        or (word == "custom" and spec.kind == "custom")
        or (word == "reads" and spec.is_read)
    )


@dataclass(frozen=True)
class Rule:
    """Tools whose resource matches one of ``resources`` (fnmatch) and whose method one of ``methods``.

    Patterns instead of names keep a toolset right as Truto's catalog grows.
    """

    resources: tuple[str, ...]
    methods: tuple[str, ...] = ("*",)

    def matches(self, spec: ToolSpec) -> bool:
        return any(method_matches(word, spec) for word in self.methods) and any(
            fnmatchcase(spec.resource, pattern) for pattern in self.resources
        )


@dataclass(frozen=True)
class Toolset:
    """A named job an agent does; ``description`` is one line for ``--help`` and the README."""

    name: str
    description: str
    rules: tuple[Rule, ...]
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def contains(self, spec: ToolSpec) -> bool:
        # Memoized by (resource, method), all a rule looks at: selection runs on every tools/list.
        key = (spec.resource, spec.method)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = any(rule.matches(spec) for rule in self.rules)
        return found


_SUBSCRIPTIONS = ("subscriptions", "customer_subscriptions")
_READ = ("read",)

TOOLSETS: dict[str, Toolset] = {
    toolset.name: toolset
    for toolset in (
        Toolset(
            "core",
            "The default: customers, charges, refunds, subscriptions, disputes and payment links.",
            (
                # The calls support and billing agents make most; the rest is one toolset away.
                Rule(("customers",), ("read", "create")),
                Rule(("charges", "disputes"), _READ),
                Rule(("refunds",), ("list", "create")),
                Rule(("subscriptions",), ("read", "update", "delete", "cancel")),
                Rule(("payment_links",), ("list", "create")),
            ),
        ),
        Toolset(
            "support",
            "Support: find customers; read charges, disputes, subscriptions, invoices; issue refunds.",
            (
                Rule(
                    ("customers", "charges", "disputes", "payment_intents", "invoices", *_SUBSCRIPTIONS),
                    _READ,
                ),
                Rule(("refunds",), ("read", "create")),
            ),
        ),
        Toolset(
            "billing",
            "Billing: read and manage subscriptions, invoices, prices, products, coupons and quotes.",
            (
                Rule(("*subscriptions", "subscription_*", "invoice*", "prices", "products", "coupons")),
                Rule(("promotion_codes", "credit_notes", "quotes", "tax_rates")),
                Rule(("customers",), _READ),
            ),
        ),
        Toolset(
            "sales",
            "Sales: create customers, tax ids, products, prices and payment links to sell them.",
            (
                # With core (--toolsets core,sales) one server does the seed's workflows: find a
                # customer, refund, cancel, and a new customer with a tax id and a payment link
                # for a new fee (a link needs a price, a price a product).
                Rule(("customers", "payment_links"), ("read", "create", "update")),
                Rule(("customer_tax_ids", "products", "prices", "checkout_sessions"), ("read", "create")),
            ),
        ),
        Toolset(
            "readonly",
            "Every tool that only reads (list, get, search ...); nothing that changes data.",
            (Rule(("*",), ("reads",)),),
        ),
        Toolset("all", "Every tool in the catalog.", (Rule(("*",)),)),
    )
}
# The order in which a refusal suggests a toolset: the narrowest job first.
_SUGGESTION_ORDER = ("core", "support", "sales", "billing", "readonly", "all")


def parse_toolsets(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"support, sales"`` or ``["support,sales", "all"]`` -> validated names, deduplicated, in order."""
    parts = [value] if isinstance(value, str) else list(value)
    names: list[str] = []
    for part in parts:
        for raw in str(part).split(","):
            name = raw.strip().lower()
            if not name or name in names:
                continue
            if name not in TOOLSETS:
                raise ValueError(
                    f"unknown toolset {name!r}; valid toolsets: {', '.join(TOOLSETS)} "
                    "(comma separated, e.g. support,sales)"
                )
            names.append(name)
    return tuple(names)


class SelectionOptions(TypedDict, total=False):
    """The keyword options of :func:`select` and :func:`explain`: the CLI flags, as given."""

    toolsets: str | Sequence[str]
    tools: Sequence[str]
    exclude_tools: Sequence[str]
    methods: Sequence[str]
    tags: Sequence[str]
    read_only: bool


@dataclass(frozen=True)
class Selection:
    """The toolsets and filters a server runs with; see the module docstring for the precedence."""

    toolsets: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    read_only: bool = False

    def __post_init__(self) -> None:
        # Normalized here so every construction path validates: an unknown name lists the valid ones.
        object.__setattr__(self, "toolsets", parse_toolsets(self.toolsets))

    @classmethod
    def of(cls, **options: Unpack[SelectionOptions]) -> Selection:
        """From flag values as given: comma-separated toolsets, any sequences."""
        lists = {key: tuple(options.get(key, ())) for key in ("tools", "exclude_tools", "methods", "tags")}
        toolsets = parse_toolsets(options.get("toolsets", ()))
        return cls(toolsets=toolsets, read_only=options.get("read_only", False), **lists)

    @property
    def base_toolsets(self) -> tuple[str, ...]:
        """The toolsets the base is made of: the chosen ones, ``core`` when nothing else picks tools."""
        if self.toolsets:
            return self.toolsets
        return () if (self.tools or self.methods or self.tags) else (DEFAULT_TOOLSET,)

    def _in_base(self, spec: ToolSpec) -> bool:
        toolsets = self.base_toolsets
        if toolsets:
            return spec.name in self.tools or any(TOOLSETS[name].contains(spec) for name in toolsets)
        return spec.name in self.tools if self.tools else True

    def _not_in_base(self, spec: ToolSpec) -> str:
        fit = next(name for name in _SUGGESTION_ORDER if TOOLSETS[name].contains(spec))
        if self.toolsets:
            chosen = ", ".join(self.toolsets)
            return (
                f"{spec.name} is not in the selected toolsets ({chosen}); "
                f"add --toolsets {fit} or --tools {spec.name}."
            )
        if self.tools:
            return (
                f"{spec.name} is not in this server's allow list (--tools); "
                f"add it there or use --toolsets {fit}."
            )
        widen = "all" if fit == "all" else f"{DEFAULT_TOOLSET},{fit}"
        return (
            f"{spec.name} is not in the default {DEFAULT_TOOLSET} toolset; "
            f"start the server with --toolsets {widen} or --tools {spec.name}."
        )

    def refusal(self, spec: ToolSpec) -> str | None:
        """Why this tool is not selected (checked in the order that wins), or ``None`` when it is."""
        if spec.name in self.exclude_tools:
            return f"{spec.name} is excluded by this server's configuration (--exclude-tools)."
        if self.read_only and not spec.is_read:
            return (
                f"{spec.name} is a {spec.kind} tool and this server runs in read-only mode (--read-only): "
                "only list and get tools may be called."
            )
        if not self._in_base(spec):
            return self._not_in_base(spec)
        if self.methods and not any(method_matches(word, spec) for word in self.methods):
            return f"{spec.name} ({spec.method}) is filtered out by --methods {','.join(self.methods)}."
        if self.tags and not set(self.tags) & set(spec.tags):
            return f"{spec.name} is filtered out by --tags {','.join(self.tags)}."
        return None

    def local_refusal(self, name: str) -> str | None:
        """The helper tools have no resource or method: only the name lists can drop them."""
        if name in self.exclude_tools:
            return f"{name} is excluded by this server's configuration (--exclude-tools)."
        if self.tools and not self.toolsets and name not in self.tools:
            return f"{name} is not in this server's allow list (--tools)."
        return None

    def upstream_query(self) -> dict[str, str]:
        """The part Truto's tools endpoint can apply itself (it only ever narrows)."""
        query: dict[str, str] = {}
        if self.methods:
            query["methods"] = ",".join(self.methods)
        if self.tags:
            query["tags"] = ",".join(self.tags)
        return query

    def apply(self, specs: Iterable[ToolSpec]) -> list[ToolSpec]:
        return sorted((spec for spec in specs if self.refusal(spec) is None), key=lambda spec: spec.name)


def select(specs: Iterable[ToolSpec], **options: Unpack[SelectionOptions]) -> list[ToolSpec]:
    """The selected tools, sorted by name (``ValueError`` for an unknown toolset)."""
    return Selection.of(**options).apply(specs)


def explain(spec: ToolSpec, **options: Unpack[SelectionOptions]) -> str | None:
    """Why ``spec`` is not selected, worded so an agent (or its user) knows the flag that adds it."""
    return Selection.of(**options).refusal(spec)

"""Stripe's whole API as the sandbox serves it: the derived catalog, loaded once.

``data/stripe_catalog.json.gz`` is made by ``scripts/derive_stripe_catalog.py`` from
Stripe's OpenAPI description: one Truto tool record per Stripe operation (what the tools
endpoint serves and what the proxy validates calls against), the Stripe route behind each
tool, and the response object schemas the sandbox shapes its answers by.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

DATA_FILE = "stripe_catalog.json.gz"


@dataclass(frozen=True)
class StripeRoute:
    """The Stripe operation behind one tool."""

    http: str  # GET / POST / DELETE, as Stripe takes it
    path: str  # "/v1/customers/{customer}/tax_ids/{id}"
    id_param: str | None  # the path parameter the tool's `id` fills
    parents: dict[str, str]  # query property -> path parameter, for nested resources
    response: dict[str, Any]  # the 200 response schema (refs into `objects`)
    is_list: bool


@dataclass(frozen=True, eq=False)
class StripeSpec:
    """Everything derived from Stripe's description, indexed for the proxy."""

    tools: tuple[dict[str, Any], ...]
    routes: dict[str, StripeRoute]
    objects: dict[str, Any]
    id_prefixes: dict[str, str]
    api_version: str

    def tool(self, resource: str, method: str) -> dict[str, Any] | None:
        return _index(self).get((resource, method))

    def resources(self) -> frozenset[str]:
        return frozenset(tool["resource"] for tool in self.tools)


@cache
def _index(spec: StripeSpec) -> dict[tuple[str, str], dict[str, Any]]:
    return {(tool["resource"], tool["method"]): tool for tool in spec.tools}


@cache
def load_spec() -> StripeSpec:
    """The derived catalog, read from the package once per process (about 40 ms)."""
    raw = resources.files(__package__).joinpath("data", DATA_FILE).read_bytes()
    data = json.loads(gzip.decompress(raw))
    routes = {
        name: StripeRoute(
            http=route["http"],
            path=route["path"],
            id_param=route["id"],
            parents=dict(route["parents"]),
            response=route["response"],
            is_list=route["list"],
        )
        for name, route in data["routes"].items()
    }
    return StripeSpec(
        tools=tuple(data["tools"]),
        routes=routes,
        objects=data["objects"],
        id_prefixes=dict(data["id_prefixes"]),
        api_version=str(data["source"].get("api_version") or ""),
    )

"""Derive the sandbox's Truto-style Stripe catalog from Stripe's OpenAPI description.

Truto's Stripe integration is one tool per Stripe operation, with Stripe's own query and
body schemas. This script turns Stripe's published OpenAPI description into exactly that:
the records ``GET /integrated-account/{id}/tools`` serves (name, description, resource,
method, query_schema, body_schema, required, tags), plus what the sandbox needs to answer
each operation (the Stripe route, its path parameters, its response schema) and the
response object schemas themselves. The output is committed, gzipped, inside the sandbox
package; neither the server nor the tests ever read Stripe's description itself.

    python scripts/derive_stripe_catalog.py ../shared/stripe-openapi/spec3.json.gz

How an operation becomes a Truto tool (``/v1`` dropped, namespaces such as ``checkout/``
joined into the resource name with ``_``):

| Stripe path and verb | resource | method |
| --- | --- | --- |
| ``GET /customers`` | customers | list |
| ``POST /customers`` | customers | create |
| ``GET|POST|DELETE /customers/{customer}`` | customers | get, update, delete |
| ``GET /customers/{customer}/tax_ids`` | customer_tax_ids (``customer`` in the query) | list |
| ``GET /customers/{customer}/discount`` (one object) | customer_discount (id = the customer) | get |
| ``POST /invoices/{invoice}/pay`` | invoices (``id`` in the body) | pay |
| ``GET /charges/search`` | charges | search |
| ``GET /balance`` (no id, one object) | balance | retrieve |

Custom methods are what Stripe calls them; a method that would read as a CRUD word
(``/apps/secrets/delete``) is named ``<action>_<noun>`` instead, since Truto compares
method names case-insensitively and ``delete`` would route as a DELETE.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import sys
from pathlib import Path
from typing import Any

HTTP_VERBS = ("get", "post", "delete")
CRUD = frozenset({"list", "get", "create", "update", "delete"})
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "truto_stripe_mcp/sandbox/data/stripe_catalog.json.gz"
)

NEXT_CURSOR = {
    "type": "string",
    "description": "The cursor to fetch the next page of results. Pass the `next_cursor` value from the "
    "previous response.",
}
STRIPE_CURSORS = frozenset({"starting_after", "ending_before"})
"""Stripe's own list cursors: Truto hides them behind ``next_cursor`` (on list methods only;
a search's ``page`` is passed through with its verbatim ``next_page``)."""

POST_ONLY_COLLECTIONS = frozenset({"login_links", "funding_instructions", "usage_records"})
"""Sub-paths that only take a POST and create objects of their own (not actions)."""

TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (tag, resource name patterns as prefixes); a resource takes every tag whose prefix matches.
    ("payments", ("charges", "charge_", "payment_intents", "refunds", "disputes", "payment_methods",
                  "payment_method_domains", "setup_intents", "setup_attempts", "sources", "source_", "mandates",
                  "tokens", "balance", "balance_", "reviews", "radar_", "application_fee", "apple_pay")),
    ("customers", ("customers", "customer_", "test_helpers_customers")),
    ("billing", ("subscriptions", "subscription_", "customer_subscription", "invoices", "invoice_", "invoiceitems",
                 "prices", "products", "plans", "coupons", "promotion_codes", "credit_notes", "credit_note_",
                 "quotes", "quote_", "tax_rates", "tax_codes", "customer_discount", "customer_balance_",
                 "customer_tax_ids", "billing_portal_", "shipping_rates", "test_helpers_test_clocks")),
    ("checkout", ("checkout_", "payment_links", "payment_link_")),
    ("connect", ("accounts", "account", "account_", "application_fee", "transfers", "transfer_", "payouts",
                 "topups", "country_specs", "external_accounts", "ephemeral_keys")),
    ("issuing", ("issuing_", "test_helpers_issuing_")),
    ("terminal", ("terminal_", "test_helpers_terminal_")),
    ("treasury", ("treasury_", "test_helpers_treasury_")),
    ("tax", ("tax_calculations", "tax_calculation_", "tax_transactions", "tax_transaction_", "tax_settings")),
    ("identity", ("identity_",)),
    ("financial_connections", ("financial_connections_", "linked_accounts", "linked_account_",
                               "link_account_sessions")),
    ("reporting", ("reporting_", "sigma_", "files", "file_links", "events", "exchange_rates")),
    ("developers", ("webhook_endpoints", "events", "apps_")),
)  # fmt: skip

# Id prefixes of Stripe objects (the value of their `object` field), for the sandbox's answers.
ID_PREFIXES: dict[str, str] = {
    "account": "acct", "account_link": "", "account_session": "", "application_fee": "fee",
    "apple_pay_domain": "apwc", "apps.secret": "appsecret", "balance_transaction": "txn",
    "bank_account": "ba", "billing_portal.configuration": "bpc", "billing_portal.session": "bps",
    "capability": "card_payments", "card": "card", "cash_balance": "", "charge": "ch",
    "checkout.session": "cs_test", "country_spec": "US", "coupon": "co", "credit_note": "cn",
    "credit_note_line_item": "cnli", "customer": "cus", "customer_balance_transaction": "cbtxn",
    "customer_cash_balance_transaction": "ccsbtxn", "discount": "di", "dispute": "dp",
    "ephemeral_key": "ephkey", "event": "evt", "exchange_rate": "usd", "fee_refund": "fr",
    "file": "file", "file_link": "link", "financial_connections.account": "fca",
    "financial_connections.account_owner": "fcaowner", "financial_connections.session": "fcsess",
    "funding_instructions": "", "identity.verification_report": "vr",
    "identity.verification_session": "vs", "invoice": "in", "invoiceitem": "ii", "issuing.authorization": "iauth",
    "issuing.card": "ic", "issuing.cardholder": "ich", "issuing.dispute": "idp", "issuing.settlement": "ise",
    "issuing.transaction": "ipi", "item": "li", "line_item": "il", "login_link": "", "mandate": "mandate",
    "payment_intent": "pi", "payment_link": "plink", "payment_method": "pm",
    "payment_method_domain": "pmd", "payout": "po", "person": "person", "plan": "plan", "price": "price",
    "product": "prod", "promotion_code": "promo", "quote": "qt", "radar.early_fraud_warning": "issfr",
    "radar.value_list": "rsl", "radar.value_list_item": "rsli", "refund": "re", "reporting.report_run": "frr",
    "reporting.report_type": "balance.summary.1", "review": "prv", "scheduled_query_run": "sqr",
    "setup_attempt": "setatt", "setup_intent": "seti", "shipping_rate": "shr", "source": "src",
    "source_mandate_notification": "srcmn", "source_transaction": "srctxn", "subscription": "sub",
    "subscription_item": "si", "subscription_schedule": "sub_sched", "tax.calculation": "taxcalc",
    "tax.calculation_line_item": "tax_li", "tax.settings": "", "tax.transaction": "tax",
    "tax.transaction_line_item": "tax_li", "tax_code": "txcd", "tax_id": "txi", "tax_rate": "txr",
    "terminal.configuration": "tmc", "terminal.connection_token": "pst", "terminal.location": "tml",
    "terminal.reader": "tmr", "test_helpers.test_clock": "clock", "token": "tok", "topup": "tu",
    "transfer": "tr", "transfer_reversal": "trr", "treasury.credit_reversal": "credrev",
    "treasury.debit_reversal": "debrev", "treasury.financial_account": "fa",
    "treasury.financial_account_features": "", "treasury.inbound_transfer": "ibt",
    "treasury.outbound_payment": "obp", "treasury.outbound_transfer": "obt", "treasury.received_credit": "rc",
    "treasury.received_debit": "rd", "treasury.transaction": "trxn", "treasury.transaction_entry": "trxne",
    "usage_record": "mbur", "usage_record_summary": "sis", "webhook_endpoint": "we",
}  # fmt: skip

_DROPPED_SCHEMA_KEYS = frozenset(
    {"description", "title", "x-stripeMostCommon", "x-expandableFields", "maxLength"}
)


# -- text -----------------------------------------------------------------------------------


def plain_text(description: str) -> str:
    """Stripe's HTML operation description as the plain sentences Truto serves.

    Paragraphs become lines, tags go, entities are decoded; the words are untouched.
    """
    text = re.sub(r"</p>\s*<p>|<br\s*/?>|</li>\s*<li>", "\n", description)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def singular_name(resource: str) -> str:
    """``customer_tax_ids`` -> ``customer_tax_id``: only the last word is plural."""
    head, _, last = resource.rpartition("_")
    return f"{head}_{singular(last)}" if head else singular(last)


def tool_name(resource: str, method: str) -> str:
    """Truto's naming scheme (the contract); custom methods read ``<method>_a_stripe_<singular>``."""
    noun = singular_name(resource)
    return {
        "list": f"list_all_stripe_{resource}",
        "get": f"get_single_stripe_{noun}_by_id",
        "create": f"create_a_stripe_{noun}",
        "update": f"update_a_stripe_{noun}_by_id",
        "delete": f"delete_a_stripe_{noun}_by_id",
    }.get(method, f"{method}_a_stripe_{noun}")


# -- paths -> (resource, method) -----------------------------------------------------------


def _segments(path: str) -> list[str]:
    return path.removeprefix("/v1/").split("/")


def _is_param(segment: str) -> bool:
    return segment.startswith("{")


class Router:
    """Decides, for every Stripe operation, the Truto resource and method (see the module table)."""

    def __init__(self, paths: dict[str, Any], schemas: dict[str, Any]) -> None:
        self.paths = paths
        self.schemas = schemas

    def _has_param_child(self, prefix: str) -> bool:
        return any(p.startswith(prefix + "/{") for p in self.paths)

    def _returns_list(self, path: str) -> bool:
        op = self.paths.get(path, {}).get("get")
        return op is not None and _response_is_list(op)

    def _is_collection(self, prefix: str) -> bool:
        """A literal path that names a set of objects (it has ``/{id}`` children or lists).

        A POST-only path creates objects (account_links, tokens), unless it hangs off a
        collection: then it is an action on that collection (tax/transactions/create_from_calculation).
        """
        if self._has_param_child(prefix):
            return True
        ops = self.paths.get(prefix)
        if ops is None:
            return False
        if "get" in ops:
            return self._returns_list(prefix)
        parent = prefix.rsplit("/", 1)[0]
        return "post" in ops and (parent == "/v1" or not self._is_collection(parent))

    def route(self, path: str, verb: str) -> tuple[str, str, str | None, dict[str, str]]:
        """(resource, method, id path parameter or None, {query property: path parameter})."""
        segments = _segments(path)
        # Split the path into levels: a run of literal segments, then an optional parameter.
        levels: list[tuple[list[str], str | None]] = []
        run: list[str] = []
        for segment in segments:
            if _is_param(segment):
                levels.append((run, segment[1:-1]))
                run = []
            else:
                run.append(segment)
        if run:
            levels.append((run, None))
        parents: dict[str, str] = {}
        resource = ""
        base = "/v1"
        for index, (literals, param) in enumerate(levels):
            last_level = index == len(levels) - 1
            if index == 0:
                # Leading literals: the longest prefix that is a collection names the resource;
                # what follows it (charges/search, invoices/upcoming/lines) is an action.
                cut = len(literals)
                for end in range(len(literals), 0, -1):
                    if self._is_collection(base + "/" + "/".join(literals[:end])):
                        cut = end
                        break
                resource = "_".join(literals[:cut])
                base = base + "/" + "/".join(literals[:cut])
                action = "_".join(literals[cut:])
                if action:
                    return resource, self._custom(resource, action), None, parents
                if param is None:
                    if self._is_collection(base):
                        return resource, {"get": "list", "post": "create"}[verb], None, parents
                    # A singleton with no id (account, balance, tax/settings): Stripe SDKs' own verbs.
                    return resource, {"get": "retrieve", "post": "modify"}[verb], None, parents
                if last_level:
                    return (
                        resource,
                        {"get": "get", "post": "update", "delete": "delete"}[verb],
                        param,
                        parents,
                    )
                parents = {self._parent_name(base, param): param}
                base = base + "/{" + param + "}"
                continue
            sub = literals[0]
            sub_path = base + "/" + sub
            nested = f"{singular_name(resource)}_{sub}"
            tail = literals[1:]
            if self._is_sub_resource(sub_path, sub):
                if tail:  # charges/{charge}/dispute/close: an action on the sub-resource
                    id_param = next(iter(parents.values())) if param is None else param
                    return nested, self._custom(nested, "_".join(tail)), id_param, _drop(parents, id_param)
                if param is not None and last_level:
                    return nested, {"get": "get", "post": "update", "delete": "delete"}[verb], param, parents
                if param is None and last_level:
                    if self._is_singleton(sub_path):
                        # One object per parent: the parent's id is the path id.
                        id_param = list(parents.values())[-1]
                        method = {"get": "get", "post": "update", "delete": "delete"}[verb]
                        return nested, method, id_param, _drop(parents, id_param)
                    return nested, {"get": "list", "post": "create"}[verb], None, parents
                parents = {**parents, self._parent_name(sub_path, param or ""): param or ""}
                resource, base = nested, sub_path + "/{" + (param or "") + "}"
                continue
            # An action on the object the parent parameter names (invoices/{invoice}/pay).
            id_param = list(parents.values())[-1]
            action = "_".join(literals)
            return resource, self._custom(resource, action), id_param, _drop(parents, id_param)
        raise ValueError(f"unroutable path {path}")

    def _is_sub_resource(self, sub_path: str, sub: str) -> bool:
        """Whether ``parent/{id}/sub`` is objects of their own rather than an action on the parent."""
        ops = self.paths.get(sub_path, {})
        return (
            self._has_param_child(sub_path)
            or "get" in ops
            or "delete" in ops
            or sub in POST_ONLY_COLLECTIONS
            or any(p.startswith(sub_path + "/") and "get" in self.paths[p] for p in self.paths)
        )

    def _is_singleton(self, sub_path: str) -> bool:
        ops = self.paths.get(sub_path, {})
        if "get" in ops:
            return not _response_is_list(ops["get"])
        return "delete" in ops  # subscriptions/{id}/discount: DELETE only

    def _parent_name(self, prefix: str, param: str) -> str:
        """The query property that carries a parent id: the name Stripe gives that parent.

        Where one path calls it ``{id}`` and another ``{fee}`` (application_fees), the
        descriptive name wins, so a nested resource takes the same property on every tool.
        """
        names = sorted(
            {p[len(prefix) + 2 :].split("}", 1)[0] for p in self.paths if p.startswith(prefix + "/{")}
        )
        named = [name for name in names if name != "id"]
        if param != "id":
            return param
        return named[0] if named else singular_name(prefix.rsplit("/", 1)[-1])

    @staticmethod
    def _custom(resource: str, action: str) -> str:
        if action in CRUD:
            return f"{action}_{singular(resource.split('_')[-1])}"
        return action


def _drop(parents: dict[str, str], path_param: str) -> dict[str, str]:
    return {name: param for name, param in parents.items() if param != path_param}


def _response_schema(op: dict[str, Any]) -> dict[str, Any]:
    return (
        op.get("responses", {})
        .get("200", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )


def _response_is_list(op: dict[str, Any]) -> bool:
    schema = _response_schema(op)
    obj = schema.get("properties", {}).get("object", {})
    return obj.get("enum") == ["list"] and "data" in schema.get("properties", {})


# -- schemas --------------------------------------------------------------------------------


def _request_body(op: dict[str, Any]) -> dict[str, Any]:
    content = op.get("requestBody", {}).get("content", {})
    for kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if kind in content:
            return content[kind].get("schema", {}) or {}
    return {}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _strip(schema: Any) -> Any:
    """A response schema without prose: the sandbox needs shapes, not descriptions."""
    if isinstance(schema, dict):
        return {key: _strip(value) for key, value in schema.items() if key not in _DROPPED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [_strip(item) for item in schema]
    return schema


def _refs(schema: Any, found: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in schema.values():
            _refs(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _refs(item, found)


def _tags(resource: str) -> list[str]:
    tags = [tag for tag, prefixes in TAGS if any(resource == p or resource.startswith(p) for p in prefixes)]
    if resource.startswith("test_helpers_"):
        tags.append("test_helpers")
    return tags or ["other"]


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = spec["paths"]
    schemas: dict[str, Any] = spec["components"]["schemas"]
    router = Router(paths, schemas)
    tools: list[dict[str, Any]] = []
    routes: dict[str, dict[str, Any]] = {}
    for path in sorted(paths):
        for verb in HTTP_VERBS:
            op = paths[path].get(verb)
            if op is None:
                continue
            resource, method, id_param, parents = router.route(path, verb)
            name = tool_name(resource, method)
            if name in routes:
                raise ValueError(f"two operations named {name}: {routes[name]['path']} and {path}")
            query: dict[str, Any] = {}
            required: list[str] = []
            noun = singular_name(resource).replace("_", " ")
            if method in ("get", "update", "delete"):
                query["id"] = {
                    "type": "string",
                    "description": f"The identifier of the {noun} to {_verb(method)}.",
                }
                required.append("id")
            for prop in parents:
                parent_noun = prop.replace("_", " ")
                query[prop] = {
                    "type": "string",
                    "description": f"The identifier of the {parent_noun} the {noun} belongs to.",
                }
                required.append(prop)
            for param in op.get("parameters", []):
                if param["in"] != "query" or (method == "list" and param["name"] in STRIPE_CURSORS):
                    continue
                schema = dict(param.get("schema", {}))
                if param.get("description"):
                    schema = {"description": param["description"], **schema}
                query[param["name"]] = schema
                if param.get("required"):
                    required.append(param["name"])
            if method == "list":
                query.setdefault(
                    "limit",
                    {
                        "type": "integer",
                        "description": "A limit on the number of objects to be returned. Limit can range between 1 and 100, and the default is 10.",
                    },
                )
                query["next_cursor"] = NEXT_CURSOR
            body_schema = _request_body(op)
            body = dict(body_schema.get("properties", {}))
            required.extend(body_schema.get("required", []))
            custom_on_object = method not in CRUD and id_param is not None
            if custom_on_object:
                if "id" in body:
                    raise ValueError(f"{name}: a body `id` would collide with the object id")
                body = {
                    "id": {"type": "string", "description": f"The identifier of the {noun} to act on."},
                    **body,
                }
                required.insert(0, "id")
            tool: dict[str, Any] = {
                "name": name,
                "description": plain_text(op.get("description", "")),
                "resource": resource,
                "method": method,
                "query_schema": _object(query),
                "body_schema": _object(body),
                "required": list(dict.fromkeys(required)),
                "tags": _tags(resource),
            }
            tools.append(tool)
            routes[name] = {
                "http": verb.upper(),
                "path": path,
                "id": id_param,
                "parents": parents,
                "response": _strip(_response_schema(op)),
                "list": method == "list",
            }
    referenced: set[str] = set()
    _refs([route["response"] for route in routes.values()], referenced)
    objects: dict[str, Any] = {}
    pending = sorted(referenced)
    while pending:
        name = pending.pop()
        if name in objects or name not in schemas:
            continue
        objects[name] = _strip(schemas[name])
        more: set[str] = set()
        _refs(objects[name], more)
        pending.extend(sorted(more - objects.keys()))
    source = spec.get("x-harness-source", "")
    return {
        "source": {"description": source, "api_version": spec.get("info", {}).get("version")},
        "tools": tools,
        "routes": routes,
        "objects": objects,
        "id_prefixes": ID_PREFIXES,
    }


def _verb(method: str) -> str:
    return {"get": "retrieve", "update": "update", "delete": "delete"}[method]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="Stripe's OpenAPI description as JSON (gzipped or not)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--table", action="store_true", help="print the path -> tool table instead")
    args = parser.parse_args(argv)
    raw = args.spec.read_bytes()
    spec = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    derived = derive(spec)
    if args.table:
        for tool in derived["tools"]:
            route = derived["routes"][tool["name"]]
            print(
                f"{route['http']:6} {route['path']:70} {tool['resource']:45} {tool['method']:24} "
                f"id={route['id']} parents={route['parents']}"
            )
        return 0
    payload = json.dumps(derived, separators=(",", ":"), sort_keys=False, ensure_ascii=False).encode()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same description always gives byte-identical output (reviewable diffs).
    args.output.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(
        f"{len(derived['tools'])} tools, {len(derived['objects'])} object schemas -> {args.output} "
        f"({args.output.stat().st_size:,} bytes)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The pipeline's end: a tool call routed onto Truto's Proxy API and sent, with backoff.

The route is the contract's table (list -> ``GET /proxy/{resource}``, get/update/delete ->
``GET``/``PATCH``/``DELETE /proxy/{resource}/{id}``, create -> ``POST /proxy/{resource}``,
any custom method -> ``POST /proxy/{resource}/{method}``); the sender retries within its
policy and the account's rate-limit budget. What comes back must be the JSON object Stripe
answers with (and, for a list, Truto's envelope around a list): anything else is an error,
never a success.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..catalog.spec import ToolSpec
from ..errors import InvalidArgumentsError
from ..shaping import page_items_of
from ..upstream.client import ProxyRequest, encode_path_id, encode_query
from ..upstream.sender import RetryingSender
from .call import CallOutcome, ToolCall

logger = logging.getLogger(__name__)


def route(
    spec: ToolSpec,
    *,
    path_id: str | None,
    query: Mapping[str, Any],
    body: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> ProxyRequest:
    """Map a tool method onto its Proxy API route (the contract's table)."""
    resource = quote(spec.resource, safe="")
    method = spec.method
    if method == "list":
        http_method, path = "GET", f"/proxy/{resource}"
    elif method in {"get", "update", "delete"}:
        if path_id is None:
            raise InvalidArgumentsError(spec.name, ["missing required `id`"])
        http_method = {"get": "GET", "update": "PATCH", "delete": "DELETE"}[method]
        path = f"/proxy/{resource}/{encode_path_id(path_id, spec.name)}"
    elif method == "create":
        http_method, path = "POST", f"/proxy/{resource}"
    else:
        http_method, path = "POST", f"/proxy/{resource}/{quote(method, safe='')}"
    send_body = dict(body) if http_method in {"POST", "PATCH"} else None
    if http_method == "DELETE" and body:
        # DELETE has no body on Truto's route: its parameters travel in the query.
        query = {**query, **body}
    return ProxyRequest(
        tool=spec.name,
        http_method=http_method,
        path=path,
        query=tuple(encode_query(query)),
        body=send_body,
        idempotency_key=idempotency_key,
        mutation=not spec.is_read,
    )


@dataclass(frozen=True)
class Send:
    """The endpoint of the pipeline: one request, resent by the sender until it has an answer."""

    sender: RetryingSender

    async def __call__(self, call: ToolCall) -> CallOutcome:
        spec = call.spec
        path_id, query, body = spec.split_arguments(call.arguments)
        request = route(spec, path_id=path_id, query=query, body=body, idempotency_key=call.idempotency_key)
        logger.info("%s: %s %s", spec.name, request.http_method, request.path)
        response = await self.sender.send(request, on_wait=call.on_wait, deadline_at=call.deadline_at)
        data = response.json_object()
        if spec.method == "list":
            page_items_of(data)  # checked here, before `fields` shaping could drop a bad `result`
        return CallOutcome(data, replayed=response.replayed)

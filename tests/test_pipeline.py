"""The pipeline's stages, each alone with a fake next stage (as Starlette tests its middleware),
and their order, which is data and matters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from truto_stripe_mcp.catalog.spec import ToolSpec, parse_tool
from truto_stripe_mcp.errors import InvalidArgumentsError, UnexpectedBodyError
from truto_stripe_mcp.pipeline.approval_gate import ConfirmationRequired
from truto_stripe_mcp.pipeline.approval_tokens import ConfirmationTokens, InvalidConfirmation
from truto_stripe_mcp.pipeline.approve import Approve
from truto_stripe_mcp.pipeline.call import CallOutcome, ToolCall
from truto_stripe_mcp.pipeline.chain import PipelineSettings, build_pipeline, chain
from truto_stripe_mcp.pipeline.check_arguments import CheckArguments
from truto_stripe_mcp.pipeline.convert_times import ConvertTimes
from truto_stripe_mcp.pipeline.idempotency import AssignIdempotencyKey, IdempotencyKeys
from truto_stripe_mcp.pipeline.send import Send
from truto_stripe_mcp.pipeline.shape import ShapeResult
from truto_stripe_mcp.upstream.client import ProxyRequest, ProxyResponse

pytestmark = pytest.mark.anyio

RANGE = {
    "anyOf": [
        {"type": "object", "properties": {"gte": {"type": "integer"}, "lte": {"type": "integer"}}},
        {"type": "integer"},
    ]
}
LIST_CHARGES = parse_tool(
    {
        "name": "list_all_stripe_charges",
        "resource": "charges",
        "method": "list",
        "query_schema": {"type": "object", "properties": {"created": RANGE, "customer": {"type": "string"}}},
    }
)
CREATE_REFUND = parse_tool(
    {
        "name": "create_a_stripe_refund",
        "resource": "refunds",
        "method": "create",
        "body_schema": {
            "type": "object",
            "properties": {
                "charge": {"type": "string"},
                "amount": {"type": "integer"},
                "effective_at": {"type": "integer", "format": "unix-time"},
            },
        },
    }
)
MAY_2024 = {"gte": 1714521600, "lte": 1714607999}


class Recorder:
    """A fake next stage: records the call it was handed and answers with ``data``."""

    def __init__(self, data: dict[str, Any] | None = None, *, replayed: bool = False) -> None:
        self.calls: list[ToolCall] = []
        self.data = data if data is not None else {"id": "x"}
        self.replayed = replayed

    async def __call__(self, call: ToolCall) -> CallOutcome:
        self.calls.append(call)
        return CallOutcome(self.data, replayed=self.replayed)


def call_of(spec: ToolSpec, arguments: dict[str, Any], **options: Any) -> ToolCall:
    return ToolCall(spec=spec, arguments=arguments, **options)


async def never(call: ToolCall) -> CallOutcome:
    raise AssertionError("the next stage must not be reached")


# -- each stage alone --------------------------------------------------------------------------


async def test_check_arguments_refuses_before_anything_else_runs() -> None:
    stage = CheckArguments(max_bytes=10_000)
    with pytest.raises(InvalidArgumentsError, match="unknown argument `emial`"):
        await stage(call_of(LIST_CHARGES, {"emial": "x"}), never)
    nxt = Recorder()
    await stage(
        call_of(CREATE_REFUND, {"charge": "ch_1", "idempotency_key": "k-1", "confirmation_token": "t"}), nxt
    )
    seen = nxt.calls[0]
    assert seen.arguments == {"charge": "ch_1"}, "the server's own arguments are set aside"
    assert (seen.idempotency_key, seen.confirmation_token) == ("k-1", "t")
    await stage(call_of(LIST_CHARGES, {"customer": "cus_1", "fields": "id, amount"}), nxt)
    assert nxt.calls[1].fields == ("id", "amount")
    with pytest.raises(InvalidArgumentsError, match="idempotency_key"):
        await stage(call_of(CREATE_REFUND, {"charge": "ch_1", "idempotency_key": "clé"}), never)


async def test_convert_times_follows_the_schema_and_leaves_other_calls_alone() -> None:
    stage = ConvertTimes()
    nxt = Recorder()
    await stage(call_of(LIST_CHARGES, {"created": "2024-05-01", "customer": "cus_1"}), nxt)
    assert nxt.calls[0].arguments == {"created": MAY_2024, "customer": "cus_1"}
    untouched = call_of(LIST_CHARGES, {"customer": "cus_1"})
    await stage(untouched, nxt)
    assert nxt.calls[1] is untouched, "no time argument: the same call, not a copy"
    with pytest.raises(InvalidArgumentsError, match="takes one point in time"):
        await stage(call_of(CREATE_REFUND, {"effective_at": "last week"}), never)


async def test_approve_stops_a_write_without_approval_and_passes_reads() -> None:
    async def read(resource: str, object_id: str, extra: Any) -> None:
        return None

    tokens = ConfirmationTokens()
    stage = Approve(tokens, "destructive", read, approval="token")
    nxt = Recorder()
    await stage(call_of(LIST_CHARGES, {}), nxt)
    assert len(nxt.calls) == 1
    with pytest.raises(ConfirmationRequired) as asked:
        await stage(call_of(CREATE_REFUND, {"charge": "ch_1", "amount": 100}), never)
    token = asked.value.token
    await stage(call_of(CREATE_REFUND, {"charge": "ch_1", "amount": 100}, confirmation_token=token), nxt)
    assert len(nxt.calls) == 2
    await Approve(tokens, "none", read)(call_of(CREATE_REFUND, {"charge": "ch_1"}), nxt)
    assert len(nxt.calls) == 3


async def test_idempotency_key_is_set_reused_and_told() -> None:
    stage = AssignIdempotencyKey(IdempotencyKeys(window=600))
    nxt = Recorder()
    await stage(call_of(LIST_CHARGES, {}), nxt)
    assert nxt.calls[0].idempotency_key is None, "reads carry no key"
    first = await stage(call_of(CREATE_REFUND, {"charge": "ch_1"}), nxt)
    again = await stage(call_of(CREATE_REFUND, {"charge": "ch_1"}), Recorder(replayed=True))
    key = nxt.calls[1].idempotency_key
    assert key and key.startswith("truto-mcp-") and first.notes == ()
    assert again.notes and again.notes[0].startswith("Replay: An identical create_a_stripe_refund call")
    own = Recorder()
    await stage(call_of(CREATE_REFUND, {"charge": "ch_2"}, idempotency_key="mine"), own)
    assert own.calls[0].idempotency_key == "mine"

    async def unusable(call: ToolCall) -> CallOutcome:
        raise UnexpectedBodyError("Truto answered HTTP 200 with HTML.")

    with pytest.raises(UnexpectedBodyError) as caught:
        await stage(call_of(CREATE_REFUND, {"charge": "ch_3"}), unusable)
    assert "may have been carried out. Repeating the identical" in caught.value.agent_message()


class PagedCharges:
    """A fake next stage serving a list of charges a page at a time, as Truto does: ``limit``
    items from the opaque ``next_cursor`` on (here the index of the next item)."""

    def __init__(self, count: int) -> None:
        self.items = [
            {"id": f"ch_{i}", "amount": i, "created": 1714521600, "note": "x" * 80, "failure_code": None}
            for i in range(count)
        ]
        self.calls: list[ToolCall] = []

    async def __call__(self, call: ToolCall) -> CallOutcome:
        self.calls.append(call)
        start = int(call.arguments.get("next_cursor") or 0)
        end = start + int(call.arguments.get("limit") or 10)
        page = self.items[start:end]
        cursor = str(end) if end < len(self.items) else None
        return CallOutcome(
            {"result": page, "next_cursor": cursor, "result_count": len(page), "is_partial_response": False}
        )


async def test_shape_result_on_the_way_back() -> None:
    stage = ShapeResult(iso_timestamps=True, result_budget=1_000)
    page = {
        "result": [{"id": f"ch_{i}", "amount": i, "created": 1714521600, "note": "x" * 80} for i in range(30)]
    }
    shaped = await stage(call_of(LIST_CHARGES, {}, fields=("amount", "created")), Recorder(page))
    first = shaped.data["result"][0]
    assert (
        set(first) == {"id", "amount", "created", "created_iso"}
        and first["created_iso"] == "2024-05-01T00:00:00Z"
    )
    cut = await stage(call_of(LIST_CHARGES, {}), Recorder(page))
    assert cut.text is not None and len(cut.text) <= 1_000 and "truncated" in cut.data
    assert cut.notes == (), "the truncation notice is in the result once, not again as a note"
    assert json.loads(cut.text) == cut.data
    whole = await stage(call_of(LIST_CHARGES, {}, budget=False), Recorder(page))
    assert len(whole.data["result"]) == 30 and whole.text is None


async def test_a_cut_page_resumes_at_its_first_item_not_shown() -> None:
    """The page of exactly the items shown is asked for once more, for its cursor; following
    the cursors of cut pages reads every item once."""
    stage = ShapeResult(iso_timestamps=False, result_budget=1_000)
    upstream = PagedCharges(95)
    first = await stage(call_of(LIST_CHARGES, {"limit": 40}), upstream)
    shown = [item["id"] for item in first.data["result"]]
    assert 0 < len(shown) < 40 and first.data["next_cursor"] == str(len(shown))
    assert first.data["result_count"] == len(shown) and first.data["is_partial_response"] is True
    assert [call.arguments.get("limit") for call in upstream.calls] == [40, len(shown)]
    assert "failure_code" not in first.data["result"][0], "null fields are left out"
    seen, cursor = list(shown), first.data["next_cursor"]
    while cursor:
        page = (await stage(call_of(LIST_CHARGES, {"limit": 40, "next_cursor": cursor}), upstream)).data
        seen += [item["id"] for item in page["result"]]
        cursor = page["next_cursor"]
    assert seen == [item["id"] for item in upstream.items]


async def test_a_cut_page_whose_cursor_cannot_be_had_has_none() -> None:
    """The second request fails: the cut page keeps no cursor (the upstream one would skip the
    items left out) and says to repeat with a limit that fits."""
    stage = ShapeResult(iso_timestamps=False, result_budget=1_000)
    upstream = PagedCharges(95)

    async def fails_the_second_time(call: ToolCall) -> CallOutcome:
        if upstream.calls:
            raise UnexpectedBodyError("Truto answered HTTP 200 with HTML.")
        return await upstream(call)

    cut = (await stage(call_of(LIST_CHARGES, {"limit": 40}), fails_the_second_time)).data
    assert cut["next_cursor"] is None and cut["is_partial_response"] is True
    assert "repeat this call with the same arguments and limit=" in cut["truncated"]["how_to_get_more"]


async def test_keep_empty_and_fields_keep_null_fields() -> None:
    upstream = PagedCharges(3)
    kept = await ShapeResult(False, 25_000, keep_empty=True)(call_of(LIST_CHARGES, {}), upstream)
    assert kept.data["result"][0]["failure_code"] is None
    named = await ShapeResult(False, 25_000)(call_of(LIST_CHARGES, {}, fields=("failure_code",)), upstream)
    assert named.data["result"][0] == {"id": "ch_0", "failure_code": None}
    internal = await ShapeResult(False, 25_000)(call_of(LIST_CHARGES, {}, lean=False), upstream)
    assert internal.data["result"][0]["failure_code"] is None


class FakeSender:
    """Answers every request with one response; records what it was asked to send."""

    def __init__(self, body: Any, *, status: int = 200, replayed: bool = False) -> None:
        self.body, self.status, self.replayed = body, status, replayed
        self.requests: list[ProxyRequest] = []

    async def send(
        self, request: ProxyRequest, *, on_wait: Any = None, deadline_at: Any = None
    ) -> ProxyResponse:
        self.requests.append(request)
        return ProxyResponse(status=self.status, headers={}, body=self.body, replayed=self.replayed)


async def test_send_routes_the_call_and_refuses_what_is_not_stripe_json() -> None:
    sender = FakeSender({"id": "re_1"}, replayed=True)
    outcome = await Send(sender)(call_of(CREATE_REFUND, {"charge": "ch_1"}, idempotency_key="k"))  # type: ignore[arg-type]
    request = sender.requests[0]
    assert (request.http_method, request.path, request.body, request.idempotency_key) == (
        "POST",
        "/proxy/refunds",
        {"charge": "ch_1"},
        "k",
    )
    assert outcome.data == {"id": "re_1"} and outcome.replayed
    with pytest.raises(UnexpectedBodyError):
        await Send(FakeSender("<html>"))(call_of(LIST_CHARGES, {}))  # type: ignore[arg-type]
    with pytest.raises(UnexpectedBodyError, match="instead of a list"):
        await Send(FakeSender({"result": "abc"}))(call_of(LIST_CHARGES, {}))  # type: ignore[arg-type]


# -- the order -----------------------------------------------------------------------------------


async def test_chain_runs_stages_in_order_in_and_in_reverse_out() -> None:
    seen: list[str] = []

    def stage(name: str) -> Any:
        async def run(call: ToolCall, call_next: Any) -> CallOutcome:
            seen.append(f"in {name}")
            outcome = await call_next(call)
            seen.append(f"out {name}")
            return outcome

        return run

    await chain([stage("a"), stage("b")], Recorder())(call_of(LIST_CHARGES, {}))
    assert seen == ["in a", "in b", "out b", "out a"]


def _pipeline(sender: FakeSender, tokens: ConfirmationTokens) -> Any:
    async def read(resource: str, object_id: str, extra: Any) -> None:
        return None

    settings = PipelineSettings(
        max_argument_bytes=10_000,
        iso_timestamps=True,
        result_budget=25_000,
        confirm="writes",
        approval="token",
    )
    return build_pipeline(
        settings,
        send=Send(sender),
        keys=IdempotencyKeys(window=600),
        tokens=tokens,
        read=read,  # type: ignore[arg-type]
    )


def test_the_order_is_pinned() -> None:
    pipeline = _pipeline(FakeSender({}), ConfirmationTokens())
    assert [type(stage).__name__ for stage in pipeline.stages] == [
        "CheckArguments",
        "ShapeResult",
        "ConvertTimes",
        "Approve",
        "AssignIdempotencyKey",
    ]
    assert isinstance(pipeline.endpoint, Send)


async def test_approval_sees_the_converted_arguments_its_fingerprint_covers() -> None:
    """A token given for an ISO date is redeemed by the same call: both were converted first."""
    sender, tokens = FakeSender({"id": "re_1"}), ConfirmationTokens()
    pipeline = _pipeline(sender, tokens)
    arguments = {"charge": "ch_1", "effective_at": "2024-05-01"}
    with pytest.raises(ConfirmationRequired) as asked:
        await pipeline(call_of(CREATE_REFUND, dict(arguments)))
    assert sender.requests == [], "nothing is sent before approval"
    await pipeline(call_of(CREATE_REFUND, {**arguments, "confirmation_token": asked.value.token}))
    sent = sender.requests[0]
    assert sent.body == {"charge": "ch_1", "effective_at": 1714521600}
    assert sent.idempotency_key and sent.idempotency_key.startswith("truto-mcp-"), "keyed after approval"
    moved = {**arguments, "effective_at": "2024-05-02", "confirmation_token": asked.value.token}
    with pytest.raises(InvalidConfirmation, match="different call"):
        await pipeline(call_of(CREATE_REFUND, moved))
    assert len(sender.requests) == 1

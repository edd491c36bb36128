"""How one MCP request can reach the person for an approval, read off the request itself.

Which client capability is there (a form, a link, neither), which protocol era, and which
session asks: stdio serves one client per process, so the process is the session; HTTP
sessions are named by ``Mcp-Session-Id``; a 2026-07-28 or stateless HTTP request belongs to
no session (''), which docs/safety.md states as the limit of the request_state binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..pipeline.approval_gate import ELICIT_SCHEMA, ApprovalGate, InputNeeded, ProgressListener
from ..pipeline.page_approvals import PageApprovals
from ..runner import ToolRunner

CONFIRM_KEY = "confirm"


def _answer(result: types.ElicitResult | None) -> str:
    """accept / decline / cancel; an accepted form with ``confirm: false`` is a decline."""
    if result is None:
        return "cancel"
    if result.action == "accept" and (result.content or {}).get("confirm", True) is False:
        return "decline"
    return result.action


def session_of(ctx: Any, process_session: str) -> str:
    """The session that asks: this process's over stdio, the ``Mcp-Session-Id`` over HTTP."""
    request = getattr(ctx, "request", None)
    if request is None:
        return process_session
    return str(request.headers.get("mcp-session-id", ""))


@dataclass(frozen=True)
class _UrlElicitation:
    """URL-mode elicitation on a handshake session (MCP 2025-11-25)."""

    ctx: Any

    async def ask(self, message: str, url: str, elicitation_id: str) -> str:
        result = await self.ctx.session.elicit_url(
            message, url, elicitation_id, related_request_id=self.ctx.request_id
        )
        return _answer(result)

    async def done(self, elicitation_id: str) -> None:
        await self.ctx.session.send_elicit_complete(elicitation_id, related_request_id=self.ctx.request_id)


def approval_gate(
    runner: ToolRunner,
    ctx: Any,
    params: types.CallToolRequestParams,
    *,
    pages: PageApprovals | None,
    session: str,
    on_progress: ProgressListener | None,
) -> ApprovalGate:
    """How this request can reach the person: a form, a link (URL mode), or neither (the page's
    link in the result; or, where a person chose ``--approval token``, the token path)."""
    modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # An empty ``elicitation: {}`` (clients before 2025-11-25) means forms.
    forms = elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    links = elicitation is not None and elicitation.url is not None
    elicit = elicit_url = None
    if forms and not modern:

        async def elicit(message: str) -> str:
            result = await ctx.session.elicit_form(message, ELICIT_SCHEMA, related_request_id=ctx.request_id)
            return _answer(result)

    elif links and not modern:
        elicit_url = _UrlElicitation(ctx)
    answer = None
    if params.request_state is not None:
        responses = params.input_responses or {}
        response = responses.get(CONFIRM_KEY)
        answer = _answer(response if isinstance(response, types.ElicitResult) else None)
    settings = runner.settings
    return ApprovalGate(
        runner.tokens,
        settings.confirm,
        approval=settings.approval,
        pages=pages,
        session=session,
        elicit=elicit,
        elicit_url=elicit_url,
        modern_elicitation=modern and forms,
        modern_url=modern and links and not forms,
        answer=answer,
        request_state=params.request_state,
        wait=settings.approval_wait,
        on_progress=on_progress,
    )


def input_required(question: InputNeeded) -> types.InputRequiredResult:
    """The 2026-07-28 question: a form, or a link to the approval page."""
    params: types.ElicitRequestParams
    if question.url is not None:
        params = types.ElicitRequestURLParams(message=question.message, url=question.url)
    else:
        params = types.ElicitRequestFormParams(message=question.message, requested_schema=ELICIT_SCHEMA)
    return types.InputRequiredResult(
        input_requests={CONFIRM_KEY: types.ElicitRequest(params=params)},
        request_state=question.request_state,
    )

"""Human approval for money-moving and destructive calls.

Refunds, cancellations and deletes cannot be taken back, and an agent can be wrong or
be talked into one. Before such a call the server asks the person, in plain words built
from the upstream data ("Refund $500.00 USD of charge ch_123 to jane@example.com?"), and
only the person asked can answer:

- 2025 handshake clients that show forms get an ``elicitation/create`` request (the
  answer comes back on the session that was asked);
- 2026-07-28 clients that show forms get the question as an input-required result, and
  retry with the answer and the signed ``request_state``, which is bound to the call and
  to the session that was asked (another session replaying it is refused);
- every other client gets an approval page (``--approval page``, the default): a page on
  loopback with the question and Approve / Decline, offered as URL-mode elicitation where
  the client supports it, else as a link in the result for the person to open. The call
  waits for the answer (bounded), or runs when repeated after the person approved, once.
  Nothing the agent can send through MCP approves it;
- ``--approval token``, chosen by a person, keeps the agent-readable token instead: a
  preview and a one-time token bound to the exact arguments, which the agent can pass
  back itself (it can approve such a call on its own).

Every path goes through :meth:`ApprovalGate.approve`, which the approval stage
(:mod:`.approve`) calls for every catalog tool call (``call_tool`` included), after the
arguments were checked and converted: the fingerprint a token or an approval is bound to
covers what will be sent, so no tool name or argument change gets around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..catalog.money_moving import money_moving
from ..catalog.spec import ToolSpec
from ..errors import ToolError
from .action_words import Reader, describe_action
from .approval_tokens import ConfirmationTokens, InvalidConfirmation
from .page_approvals import PageApproval, PageApprovals, PageQuestion

ELICIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Confirm",
            "description": "Go ahead with this action",
            "default": True,
        }
    },
    "required": ["confirm"],
}


def needs_confirmation(spec: ToolSpec, mode: str, arguments: Mapping[str, Any] | None = None) -> bool:
    """Whether this call waits for a person. Under ``destructive``: every destructive call,
    and every money-moving one (:mod:`~truto_stripe_mcp.catalog.money_rules`), a create
    included. ``arguments`` ``None``: whether it may, with some arguments."""
    if mode == "none" or spec.is_read:
        return False
    if mode == "writes":
        return True
    return bool(spec.annotations["destructiveHint"]) or money_moving(spec, arguments) is not None


class ApprovalNeeded(ToolError):
    """The call was not made: it needs a person's approval, and there was no way to ask one here
    (the ``call`` command: the person at the terminal decides by running it again)."""

    def __init__(self, description: str, message: str | None = None) -> None:
        self.description = description
        super().__init__(
            message
            or f"Not done: this needs a person's approval, and there is no way to ask one here. "
            f"About to: {description}"
        )


class ConfirmationRequired(ApprovalNeeded):
    """The call was not made yet: the token path (``--approval token``), which the agent can
    complete on its own."""

    def __init__(self, description: str, token: str, ttl: float) -> None:
        self.token = token
        super().__init__(
            description,
            f"Confirmation required, nothing was done yet. About to: {description} "
            f"Show this to the user. Only if they agree, call the same tool again with exactly the same "
            f'arguments plus `confirmation_token`: "{token}" (valid {_minutes(ttl)} min, once).',
        )

    def details(self) -> dict[str, Any]:
        return {
            "message": self.agent_message(),
            "confirmation_required": True,
            "preview": self.description,
            "confirmation_token": self.token,
        }


class ApprovalPending(ApprovalNeeded):
    """The call was not made yet: a person approves it on the approval page, not the agent."""

    def __init__(self, description: str, url: str, seconds_left: float, *, waited: bool = False) -> None:
        self.url = url
        opening = (
            "Not done yet: still waiting for the user's answer"
            if waited
            else "Not done yet: this needs the user's approval, which only they can give"
        )
        super().__init__(
            description,
            f"{opening}. About to: {description} Give the user this link to approve or decline it: "
            f"{url} (open for {_minutes(seconds_left)} min). Once they have answered, call the same tool "
            "again with exactly the same arguments: if they approved, it runs then, once, without "
            "asking again. Nothing you send can approve it.",
        )

    def details(self) -> dict[str, Any]:
        return {
            "message": self.agent_message(),
            "approval_required": True,
            "preview": self.description,
            "approval_url": self.url,
        }


def _on_the_page_words(description: str) -> str:
    return f"Open this page to approve or decline: {description}"


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


class UserDeclined(ToolError):
    """The person said no (or dismissed the question): nothing was sent to Stripe."""

    def __init__(self, description: str, action: str) -> None:
        verb = "declined" if action == "decline" else "cancelled"
        super().__init__(f"The user {verb} this action, so it was not performed: {description}")


@dataclass
class InputNeeded(Exception):
    """Ask a 2026-07-28 client for the answer in an input-required result: a form, or with
    ``url``, a link to the approval page."""

    message: str
    request_state: str
    url: str | None = None


TOKENS_OFF = (
    "This server does not take confirmation tokens: a person approves money-moving calls "
    "themselves (the agent cannot), so call again without `confirmation_token`."
)

# -- the gate -------------------------------------------------------------------------

Elicit = Callable[[str], Awaitable[str]]
"""Ask the person (handshake form elicitation); returns ``accept``, ``decline`` or ``cancel``."""
ProgressListener = Callable[[float, float | None, str], Awaitable[None]]


class UrlElicitation(Protocol):
    """Send the person to a page (handshake URL-mode elicitation), then say it is done."""

    async def ask(self, message: str, url: str, elicitation_id: str) -> str:
        """``accept`` (they agreed to open it), ``decline`` or ``cancel``."""
        ...

    async def done(self, elicitation_id: str) -> None: ...


@dataclass
class ApprovalGate:
    """How this request can reach the person, decided by the MCP layer per request."""

    tokens: ConfirmationTokens
    mode: str
    approval: str = "page"
    """``page`` (a person approves; the default) or ``token`` (the agent can approve itself)."""
    pages: PageApprovals | None = None
    """The approval pages, where the server has them (not in the ``call`` command)."""
    session: str = ""
    """The session that asks ('' where the transport has none: 2026-07-28 or stateless HTTP)."""
    elicit: Elicit | None = None
    elicit_url: UrlElicitation | None = None
    modern_elicitation: bool = False
    """A 2026-07-28 client that shows forms."""
    modern_url: bool = False
    """A 2026-07-28 client that opens links (URL-mode elicitation) but shows no forms."""
    answer: str | None = None  # a 2026-07-28 retry's answer: accept/decline/cancel
    request_state: str | None = None
    wait: float = 0.0
    """Seconds a call may wait for the person's answer on the page."""
    on_progress: ProgressListener | None = None
    approved: list[str] = field(default_factory=list)

    async def approve(
        self, spec: ToolSpec, arguments: Mapping[str, Any], fingerprint: str, token: str | None, read: Reader
    ) -> None:
        """Return when the call may run; raise when it may not (yet)."""
        if not needs_confirmation(spec, self.mode, arguments):
            return
        if token:
            if self.approval != "token":
                raise InvalidConfirmation(TOKENS_OFF)
            await self.tokens.redeem(token, fingerprint)
            self.approved.append(spec.name)
            return
        if self.request_state is not None:
            kind = await self.tokens.redeem(
                self.request_state, fingerprint, audience=self.session, kinds=("rs", "ru")
            )
            if self.answer != "accept":
                raise UserDeclined(await describe_action(spec, arguments, read), self.answer or "cancel")
            if kind == "rs":
                self.approved.append(spec.name)
                return
            await self._on_the_page(spec, arguments, fingerprint, read, asked=True)
            return
        description = await describe_action(spec, arguments, read)
        if self.elicit is not None:
            action = await self.elicit(description)
            if action == "accept":
                self.approved.append(spec.name)
                return
            raise UserDeclined(description, action)
        if self.modern_elicitation:
            raise InputNeeded(description, await self._request_state(fingerprint, "rs"))
        if self.approval == "token":
            raise ConfirmationRequired(description, await self.tokens.issue(fingerprint), self.tokens.ttl)
        await self._on_the_page(spec, arguments, fingerprint, read, description=description)

    async def _request_state(self, fingerprint: str, kind: str) -> str:
        return await self.tokens.issue(fingerprint, kind, audience=self.session)

    async def _on_the_page(
        self,
        spec: ToolSpec,
        arguments: Mapping[str, Any],
        fingerprint: str,
        read: Reader,
        *,
        description: str | None = None,
        asked: bool = False,
    ) -> None:
        """The approval page: use an answer already given, or ask there and wait (bounded)."""
        description = description or await describe_action(spec, arguments, read)
        pages = self.pages
        if pages is None:
            raise ApprovalNeeded(description)
        page = await pages.current(fingerprint, self.session)
        if page is not None and page.answer != "pending":
            if await self._settle(pages, page, description):
                self.approved.append(spec.name)
                return
            page = None  # its answer was used by an identical call: this one is asked anew
        opened = page is None
        if page is None:
            page = await pages.open(
                fingerprint, self.session, PageQuestion(description, spec.name, arguments)
            )
        if self.elicit_url is not None:
            action = await self.elicit_url.ask(_on_the_page_words(description), page.url, page.id)
            if action != "accept":
                raise UserDeclined(description, action)
        elif self.modern_url and (opened or not asked):
            raise InputNeeded(
                _on_the_page_words(description), await self._request_state(fingerprint, "ru"), url=page.url
            )
        elif opened:
            raise ApprovalPending(description, page.url, page.expires_at - pages.now())
        answered = await pages.wait(fingerprint, self.session, self.wait, self._tick(page.url))
        if self.elicit_url is not None and answered is not None and answered.answer != "pending":
            await self.elicit_url.done(page.id)
        if answered is None:
            raise ApprovalNeeded(
                description,
                "Not done: the approval page expired before the user answered. Call again to ask them anew.",
            )
        if answered.answer == "pending":
            raise ApprovalPending(description, answered.url, answered.expires_at - pages.now(), waited=True)
        if not await self._settle(pages, answered, description):
            raise ApprovalNeeded(
                description, "Not done: that approval was used by an identical call. Call again to ask anew."
            )
        self.approved.append(spec.name)

    @staticmethod
    async def _settle(pages: PageApprovals, page: PageApproval, description: str) -> bool:
        """Use an answered page for this call: True to run; UserDeclined; False if already used."""
        if not await pages.take(page):
            return False
        if page.answer == "declined":
            raise UserDeclined(description, "decline")
        return True

    def _tick(self, url: str) -> Callable[[float], Awaitable[None]] | None:
        progress = self.on_progress
        if progress is None:
            return None
        ticks = [0.0]

        async def tick(seconds_left: float) -> None:
            ticks[0] += 1
            await progress(
                ticks[0],
                None,
                f"Waiting for the user to approve or decline at {url} ({round(seconds_left)} s left).",
            )

        return tick

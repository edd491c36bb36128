"""Human approval for money-moving and destructive calls.

Refunds, cancellations and deletes cannot be taken back, and an agent can be wrong or
be talked into one. Before such a call the server asks the person, in plain words built
from the upstream data ("Refund $500.00 USD of charge ch_123 to jane@example.com?"):

- 2025 handshake clients that support elicitation get an ``elicitation/create`` request;
- 2026-07-28 clients get the same question as an input-required result and retry the
  call with the answer and the (signed) ``request_state`` echoed back;
- clients that cannot elicit get a preview and a one-time confirmation token bound to
  the exact arguments; the call runs only when repeated with that token.

Every path goes through :meth:`ApprovalGate.approve`, which the approval stage
(:mod:`.approve`) calls for every catalog tool call (``call_tool`` included), after the arguments were
checked and converted: the fingerprint a token is bound to covers what will be sent, so no
tool name or argument change gets around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog.money_moving import money_moving
from ..catalog.spec import ToolSpec
from ..errors import ToolError
from .action_words import Reader, describe_action
from .approval_tokens import ConfirmationTokens

ConfirmMode = Literal["none", "destructive", "writes"]
CONFIRM_MODES: tuple[str, ...] = ("none", "destructive", "writes")

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


class ConfirmationRequired(ToolError):
    """The call was not made: it needs the person's approval first (the token path)."""

    def __init__(self, description: str, token: str, ttl: float) -> None:
        self.description = description
        self.token = token
        minutes = max(1, round(ttl / 60))
        super().__init__(
            f"Confirmation required, nothing was done yet. About to: {description} "
            f"Show this to the user. Only if they agree, call the same tool again with exactly the same "
            f'arguments plus `confirmation_token`: "{token}" (valid {minutes} min, once).'
        )

    def details(self) -> dict[str, Any]:
        return {
            "message": self.agent_message(),
            "confirmation_required": True,
            "preview": self.description,
            "confirmation_token": self.token,
        }


class UserDeclined(ToolError):
    """The person said no (or dismissed the question): nothing was sent to Stripe."""

    def __init__(self, description: str, action: str) -> None:
        verb = "declined" if action == "decline" else "cancelled"
        super().__init__(f"The user {verb} this action, so it was not performed: {description}")


@dataclass
class InputNeeded(Exception):
    """Ask a 2026-07-28 client for the answer in an input-required result."""

    message: str
    request_state: str


# -- the gate -------------------------------------------------------------------------

Elicit = Callable[[str], Awaitable[str]]
"""Ask the person (handshake elicitation); returns ``accept``, ``decline`` or ``cancel``."""


@dataclass
class ApprovalGate:
    """How this request can reach the person, decided by the MCP layer per request."""

    tokens: ConfirmationTokens
    mode: str
    elicit: Elicit | None = None
    modern_elicitation: bool = False
    answer: str | None = None  # a 2026-07-28 retry's answer: accept/decline/cancel
    request_state: str | None = None
    approved: list[str] = field(default_factory=list)

    async def approve(
        self, spec: ToolSpec, arguments: Mapping[str, Any], fingerprint: str, token: str | None, read: Reader
    ) -> None:
        """Return when the call may run; raise when it may not (yet)."""
        if not needs_confirmation(spec, self.mode, arguments):
            return
        if token:
            await self.tokens.redeem(token, fingerprint)
            self.approved.append(spec.name)
            return
        if self.request_state is not None:
            await self.tokens.redeem(self.request_state, fingerprint)
            if self.answer == "accept":
                self.approved.append(spec.name)
                return
            raise UserDeclined(await describe_action(spec, arguments, read), self.answer or "cancel")
        description = await describe_action(spec, arguments, read)
        if self.elicit is not None:
            action = await self.elicit(description)
            if action == "accept":
                self.approved.append(spec.name)
                return
            raise UserDeclined(description, action)
        if self.modern_elicitation:
            raise InputNeeded(description, await self.tokens.issue(fingerprint, prefix="rs"))
        raise ConfirmationRequired(description, await self.tokens.issue(fingerprint), self.tokens.ttl)

"""Human approval for money-moving and destructive calls.

Refunds, cancellations and deletes cannot be taken back, and an agent can be wrong or
be talked into one. Before such a call the server asks the person, in plain words built
from the upstream data ("Refund $500.00 USD of charge ch_123 to jane@example.com?"):

- 2025 handshake clients that support elicitation get an ``elicitation/create`` request;
- 2026-07-28 clients get the same question as an input-required result and retry the
  call with the answer and the (signed) ``request_state`` echoed back;
- clients that cannot elicit get a preview and a one-time confirmation token bound to
  the exact arguments; the call runs only when repeated with that token.

Every path goes through :meth:`ApprovalGate.approve`, which the runner calls for every
tool call (``call_tool`` included), so no tool name or argument change gets around it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .catalog import ToolSpec, singular
from .errors import ToolError

ConfirmMode = Literal["none", "destructive", "writes"]
CONFIRM_MODES: tuple[str, ...] = ("none", "destructive", "writes")
MONEY_MOVING = frozenset({"refunds", "payouts", "transfers", "charges"})
"""Resources whose creation moves money: confirmed even though a create is not destructive."""

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


def needs_confirmation(spec: ToolSpec, mode: str) -> bool:
    if mode == "none" or spec.is_read:
        return False
    if mode == "writes":
        return True
    return bool(spec.annotations["destructiveHint"]) or (
        spec.method == "create" and spec.resource in MONEY_MOVING
    )


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


class InvalidConfirmation(ToolError):
    """A token or request state that does not authorise this exact call."""


@dataclass
class InputNeeded(Exception):
    """Ask a 2026-07-28 client for the answer in an input-required result."""

    message: str
    request_state: str


class ConfirmationTokens:
    """One-time, expiring HMAC tokens bound to one call's fingerprint.

    The secret lives only in this process, so a token cannot be forged or carried to
    another server; a redeemed token is remembered until it expires, so it works once.
    """

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._used: dict[str, float] = {}

    def _sign(self, fingerprint: str, expiry: int, nonce: str) -> str:
        message = f"{fingerprint}.{expiry}.{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, fingerprint: str, prefix: str = "ct") -> str:
        expiry = int(self._clock() + self.ttl)
        nonce = secrets.token_hex(6)
        return f"{prefix}_{expiry}_{nonce}_{self._sign(fingerprint, expiry, nonce)}"

    def redeem(self, token: str, fingerprint: str) -> None:
        """Accept the token for this call once, or say precisely why not."""
        now = self._clock()
        self._used = {key: until for key, until in self._used.items() if until > now}
        parts = token.split("_")
        if len(parts) != 4 or not parts[1].isdigit():
            raise InvalidConfirmation(
                "That confirmation token is malformed; call without it to get a new one."
            )
        _, expiry_text, nonce, signature = parts
        expiry = int(expiry_text)
        if not hmac.compare_digest(signature, self._sign(fingerprint, expiry, nonce)):
            raise InvalidConfirmation(
                "That confirmation token was issued for a different call (other tool or arguments). "
                "Call without it to get a preview and a token for these exact arguments."
            )
        if expiry < now:
            raise InvalidConfirmation(
                "That confirmation token has expired; call without it to get a new one."
            )
        if token in self._used:
            raise InvalidConfirmation("That confirmation token was already used; each token works once.")
        self._used[token] = float(expiry)


# -- plain words ---------------------------------------------------------------------

_ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def format_money(amount: Any, currency: Any) -> str:
    """``150000, "usd"`` -> ``$1,500.00 USD`` (minor units, zero-decimal currencies honoured)."""
    if not isinstance(amount, int) or not isinstance(currency, str):
        return f"{amount} {currency or ''}".strip()
    code = currency.lower()
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    return f"{_SYMBOLS.get(code, '')}{value} {code.upper()}"


def _label(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    details = obj.get("billing_details") if isinstance(obj.get("billing_details"), Mapping) else {}
    for key in ("email", "receipt_email", "customer_email", "name", "description", "nickname"):
        value = obj.get(key) or (details or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return ""


Reader = Callable[[str, str, Mapping[str, Any]], Awaitable[Mapping[str, Any] | None]]
"""``(resource, id, extra query) -> object or None``: reads upstream for the description."""


async def describe_action(spec: ToolSpec, arguments: Mapping[str, Any], read: Reader) -> str:
    """One sentence a person can approve: what, on which object, for how much, for whom."""
    noun = singular(spec.resource)
    extra = {key: value for key, value in arguments.items() if key == "customer"}
    if spec.resource == "refunds" and spec.method == "create":
        charge_id = arguments.get("charge")
        if not charge_id and arguments.get("payment_intent"):
            intent = await read("payment_intents", str(arguments["payment_intent"]), {})
            charge_id = (intent or {}).get("latest_charge")
        charge = await read("charges", str(charge_id), {}) if charge_id else None
        if charge:
            amount = arguments.get("amount", charge.get("amount", 0) - charge.get("amount_refunded", 0))
            who = _label(charge) or str(charge.get("customer") or "the customer")
            reason = f" (reason: {arguments['reason']})" if arguments.get("reason") else ""
            return f"Refund {format_money(amount, charge.get('currency'))} of charge {charge_id} to {who}{reason}?"
        return f"Refund charge {charge_id or arguments.get('payment_intent')} ({_summarise(arguments)})?"
    object_id = arguments.get("id")
    target = await read(spec.resource, str(object_id), extra) if object_id else None
    label = _label(target)
    if target and not label and target.get("customer"):
        customer = await read("customers", str(target["customer"]), {})
        label = _label(customer) or str(target["customer"])
    about = f"{noun} {object_id}" + (f" ({label})" if label else "")
    if target and isinstance(target.get("amount"), int):
        about += f" for {format_money(target['amount'], target.get('currency'))}"
    changes = _summarise({k: v for k, v in arguments.items() if k not in {"id", "customer"}})
    if spec.method == "delete":
        verb = "Cancel" if "subscription" in spec.resource else "Delete"
        return f"{verb} {about}?"
    if spec.method == "update":
        return f"Update {about}: {changes}?" if changes else f"Update {about}?"
    if spec.method == "create":
        return f"Create a {noun}" + (f" with {changes}" if changes else "") + "?"
    return (
        f"{spec.method.replace('_', ' ').capitalize()} {about}" + (f" ({changes})" if changes else "") + "?"
    )


def _summarise(arguments: Mapping[str, Any], limit: int = 200) -> str:
    text = ", ".join(f"{key}={value}" for key, value in arguments.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        if not needs_confirmation(spec, self.mode):
            return
        if token:
            self.tokens.redeem(token, fingerprint)
            self.approved.append(spec.name)
            return
        if self.request_state is not None:
            self.tokens.redeem(self.request_state, fingerprint)
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
            raise InputNeeded(description, self.tokens.issue(fingerprint, prefix="rs"))
        raise ConfirmationRequired(description, self.tokens.issue(fingerprint), self.tokens.ttl)

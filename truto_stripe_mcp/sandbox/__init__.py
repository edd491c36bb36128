"""A Truto-compatible HTTP sandbox serving a seeded, Stripe-like account.

It implements the slice of Truto's API the MCP server uses (the tool catalog and the
Proxy API, see the upstream contract) over deterministic in-memory Stripe data, with
knobs for rate limits, injected faults and request recording, so the server and its
tests run with no network. Import it only when asked for: the package never imports it
on its own.
"""

from __future__ import annotations

from .app import Sandbox, create_app
from .asgi import ConnectionDropped
from .catalog import TOOLS
from .config import SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, SandboxConfig
from .faults import Fault, RecordedRequest
from .seed import JANE_CHARGE_AMOUNT, JANE_CHARGE_ID, JANE_CUSTOMER_ID, JANE_PAYMENT_INTENT_ID
from .server import SandboxServer, serve
from .store import Store

__all__ = [
    "JANE_CHARGE_AMOUNT",
    "JANE_CHARGE_ID",
    "JANE_CUSTOMER_ID",
    "JANE_PAYMENT_INTENT_ID",
    "SANDBOX_ACCOUNT_ID",
    "SANDBOX_API_KEY",
    "TOOLS",
    "ConnectionDropped",
    "Fault",
    "RecordedRequest",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "Store",
    "create_app",
    "serve",
]

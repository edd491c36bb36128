"""``python -m truto_stripe_mcp``: the same as the ``truto-stripe-mcp`` command."""

from .cli import main

raise SystemExit(main())

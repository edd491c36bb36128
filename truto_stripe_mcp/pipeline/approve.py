"""Stage: a write that needs a person's approval waits for it here, or ends without it.

Placed after the arguments were checked and converted, so that what a person approves, and
what a confirmation token is bound to, is what will be sent; placed before the
Idempotency-Key, so that a declined call leaves no key behind. How the person is asked is
the :class:`~.approval_gate.ApprovalGate` of the request (elicitation, the approval page,
or the token path a person chose); a call with no gate (the ``call`` command) gets one that
can only say what it would do (or, with ``--approval token``, a token).

A call that would be put to a person is first checked against the upstream data
(:mod:`.precheck`): one that cannot work ends with the reason and no question. The checks
live here, not in a stage of their own, because they run exactly when a question would be
asked (the gate's own rule, so a call under ``--confirm none`` reads nothing more) and read
the same objects as the question, once between them (:class:`~.object_reads.ReadOnce`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .approval_gate import ApprovalGate, needs_confirmation
from .approval_tokens import ConfirmationTokens
from .call import CallOutcome, Next, ToolCall
from .idempotency import canonical_arguments
from .object_reads import Reader, ReadOnce
from .precheck import precheck


@dataclass(frozen=True)
class Approve:
    """Stage: a write that needs a person's approval waits for it here (or ends without it).

    ``read`` fetches an object for the pre-checks and the plain-words question (the charge a
    refund is of); it runs a read through the same pipeline, never a write.
    """

    tokens: ConfirmationTokens
    mode: str
    read: Reader
    approval: str = "page"

    async def __call__(self, call: ToolCall, call_next: Next) -> CallOutcome:
        spec = call.spec
        if not spec.is_read:
            fingerprint = canonical_arguments(
                spec.name, {**call.arguments, "idempotency_key": call.idempotency_key}
            )
            gate = call.gate or ApprovalGate(self.tokens, self.mode, approval=self.approval)
            read = ReadOnce(self.read)
            if needs_confirmation(spec, gate.mode, call.arguments):
                await precheck(spec, call.arguments, read)
            await gate.approve(spec, call.arguments, fingerprint, call.confirmation_token, read)
        return await call_next(call)

"""How a program run ends when it does not end with a value: each a tool error a model can act on.

A program that does not parse, fails the type check or raises comes back with its line and
message (:class:`ProgramError`); one that passes a limit is stopped, naming the limit and the
setting that raises it (:class:`ProgramStopped`); one that reached a write needing a person's
approval on the token path waits, resumable, before that write (:class:`ProgramPaused`). Each
carries what the program printed so far, since that is often what explains the failure.

The host's answer to one ``tools.*`` call may end in three ways other than a value, each an
exception the interpreter understands: :class:`CallFailed` (raised inside the program, which
may catch it), :class:`PauseBefore` (the run stops before the call, resumable there) and
:class:`LimitReached` (the run stops, whatever the program catches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...errors import ToolError

ProgramFailure = Literal["syntax", "type", "runtime", "crash"]
Limit = Literal["time", "memory", "calls", "output"]

_WHAT_FAILED: dict[str, str] = {
    "syntax": "The program has a syntax error, so nothing ran",
    "type": "The program failed the type check, so nothing ran and no tool was called",
    "runtime": "The program raised an exception",
    "crash": "The interpreter running the program stopped",
}


def _with_output(message: str, output: str) -> str:
    return f"{message}\nPrinted before it stopped:\n{output}" if output else message


class ProgramError(ToolError):
    """The program could not run, or raised: the message says where (line) and what, to fix and re-run."""

    def __init__(
        self, kind: ProgramFailure, report: str, *, line: int | None, output: str = "", calls: int = 0
    ):
        self.kind = kind
        self.report = report.strip()
        self.line = line
        self.output = output
        self.calls = calls
        where = f" (line {line})" if line is not None else ""
        after = f" after {calls} tool call{'s' if calls != 1 else ''}" if calls else ""
        super().__init__(_with_output(f"{_WHAT_FAILED[kind]}{where}{after}:\n{self.report}", output))

    def details(self) -> dict[str, Any]:
        return {
            "message": self.agent_message(),
            "error": self.kind,
            "line": self.line,
            "calls": self.calls,
            "output": self.output,
        }


class ProgramStopped(ToolError):
    """The program passed one of its limits and was stopped there; the server goes on serving."""

    def __init__(self, limit: Limit, sentence: str, *, output: str = "", calls: int = 0):
        self.limit = limit
        self.output = output
        self.calls = calls
        done = (
            f" {calls} tool call{'s' if calls != 1 else ''} had been made; anything after this point did not run."
            if calls
            else " No tool call had been made."
        )
        super().__init__(_with_output(f"The program was stopped: {sentence}{done}", output))

    def details(self) -> dict[str, Any]:
        return {
            "message": self.agent_message(),
            "limit": self.limit,
            "calls": self.calls,
            "output": self.output,
        }


class ProgramPaused(ToolError):
    """The program waits before a write that needs the person's approval: on the approval page
    (``url``, the default), or with a token (``--approval token``).

    Nothing of that write was done; the calls before it were. Resuming runs the program on from
    that very call (which then finds the page's answer, or carries the token): nothing before it
    runs twice, and no earlier write is asked about again.
    """

    def __init__(
        self,
        preview: str,
        token: str,
        run_id: str,
        ttl: float,
        *,
        url: str | None = None,
        output: str = "",
        calls: int = 0,
    ):
        self.preview = preview
        self.token = token
        self.url = url
        self.run_id = run_id
        self.output = output
        self.calls = calls
        minutes = max(1, round(ttl / 60))
        head = "The program paused before a write that needs the user's approval; that write was not done. "
        if url:
            ask = (
                f"About to: {preview} Give the user this link to approve or decline it: {url}. Once they "
                f'have answered, call run_code again with `resume`: "{run_id}" (valid {minutes} min): if '
                "they approved, the program continues from that call, and nothing before it runs again. "
                "Nothing you send can approve it."
            )
        else:
            ask = (
                f"About to: {preview} Show this to the user. Only if they agree, call run_code again with "
                f'`resume`: "{run_id}" and `confirmation_token`: "{token}" (valid {minutes} min, once): the '
                "program continues from that call, and nothing before it runs again."
            )
        super().__init__(_with_output(head + ask, output))

    def details(self) -> dict[str, Any]:
        approval = {"approval_url": self.url} if self.url else {"confirmation_token": self.token}
        return {
            "message": self.agent_message(),
            "confirmation_required": True,
            "preview": self.preview,
            **approval,
            "resume": self.run_id,
            "calls": self.calls,
            "output": self.output,
        }


# -- what answering one call may raise ------------------------------------------------------


class CallFailed(Exception):
    """This call failed: ``exc_type`` with ``message`` is raised inside the program."""

    def __init__(self, exc_type: str, message: str) -> None:
        super().__init__(message)
        self.exc_type = exc_type
        self.message = message


class PauseBefore(Exception):
    """Stop the run before this call, resumable at it; ``reason`` is the approval the call waits for."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(str(reason))
        self.reason = reason


class LimitReached(Exception):
    """The run has used up one of its limits; it stops here."""

    def __init__(self, limit: Limit, sentence: str) -> None:
        super().__init__(sentence)
        self.limit = limit
        self.sentence = sentence


@dataclass
class Suspended:
    """A run stopped before one call: the worker's dump, and what it had not received yet."""

    dump: bytes
    undelivered: dict[int, dict[str, Any]]
    """Answers to earlier calls whose futures the program had not awaited yet."""
    output: str
    calls: int


class ProgramSuspended(Exception):
    """The run stopped before a call (``reason``); ``suspended`` resumes it there."""

    def __init__(self, reason: BaseException, suspended: Suspended) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.suspended = suspended

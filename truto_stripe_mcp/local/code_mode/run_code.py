"""``run_code``: one sandboxed Python program instead of twenty tool calls, returning only its answer.

An agent answering "how much did we refund last quarter, by reason?" with tool calls reads
every refund into its context; as a program it reads one number per reason. The program
imports ``tools`` and awaits ``tools.NAME(**arguments)`` (every tool this configuration may
call, on the same path as a tool call: :mod:`.tools_module`) and ``tools.paginate``; it runs in
pydantic-monty (:mod:`.interpreter`), type-checked first against stubs generated from the
catalog (:mod:`.stubs`). Its last expression is the result, cut to the result budget like any
result; ``print`` output comes back too, bounded.

A write that needs the person's approval is approved exactly as the same tool call would be:
with elicitation the program waits for the answer (its clock stopped meanwhile); on the token
path the run stops before the write and is kept (:mod:`.paused_runs`) until the model resumes
it with the token the person agreed to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ...errors import InvalidArgumentsError, ToolError
from ...pipeline.approval_gate import InputNeeded
from ...pipeline.call import CallOutcome
from ...result_budget import MIN_BUDGET_CHARS, fit_to_budget
from ...shaping import compact_json
from ..tools import CallContext, LocalTool, ToolHost
from .paused_runs import paused_runs
from .program_errors import ProgramError, ProgramPaused, ProgramSuspended, Suspended
from .stubs import type_error_hints
from .tools_module import ToolsModule

if TYPE_CHECKING:
    from ...catalog.spec import ToolSpec
    from .interpreter import Finished

NAME = "run_code"
HEARTBEAT_SECONDS = 5.0
"""While a program runs, a progress notification at least this often (calls report their own)."""
MAX_CODE_CHARS = 100_000

DESCRIPTION = """Run a short Python program against the Stripe tools; only its answer comes back.
In the program, `import tools`; `await tools.NAME(**arguments)` calls any tool (same names, arguments, checks and approvals as a tool call; returns its JSON result), and `await tools.paginate('list_all_stripe_...', max_items=N, **arguments)` returns every item of a list. Pass `fields` to read only what the program needs (much faster on long lists); reads gathered with asyncio.gather run concurrently; a failed call raises RuntimeError with the tool's message. The last expression is the result (JSON); print() output comes back too.
Prefer it for totals and counts over many items, joins across resources and multi-step workflows; for one lookup or one write, call the tool directly.
Wrong argument names or types are reported with their line before anything runs. No files, network or environment; time, memory and calls are limited.
Example:
import tools
refunds = await tools.paginate('list_all_stripe_refunds', created='last 90 days', fields='amount,reason')
totals = {}
for r in refunds:
    totals[r['reason']] = totals.get(r['reason'], 0) + r['amount']
totals"""

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CODE_CHARS,
            "description": "The Python program (top-level await works).",
        },
        "resume": {
            "type": "string",
            "minLength": 1,
            "description": "Only to continue a program that paused for approval: the `resume` id it returned.",
        },
        "confirmation_token": {
            "type": "string",
            "minLength": 1,
            "description": "With `resume`, once the user agreed: the token the paused program returned.",
        },
    },
    "additionalProperties": False,
}


def _paused_run(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> Suspended | None:
    """The run this call continues: by ``resume`` id, or the one a client's answer is for (a retry
    carrying the person's answer comes with the request state the question was asked under)."""
    runs = paused_runs(host, host.settings.confirmation_ttl)
    run_id = arguments.get("resume")
    if run_id is not None:
        suspended = runs.take(run_id)
        if suspended is None:
            raise ToolError(
                f"There is no paused program {run_id!r} to resume: it was resumed already, its approval "
                "expired, or another server process holds it. Run the program again with `code`; if the "
                "user approved a write, pass its token as `confirmation_token` in that very call of the "
                "program (it approves that call once). A write repeated with the same arguments is not done twice."
            )
        return suspended
    if arguments.get("confirmation_token") is not None:
        raise InvalidArgumentsError(
            NAME, ["`confirmation_token` goes with `resume`, the id of the paused program it approves"]
        )
    request_state = getattr(ctx.gate, "request_state", None)
    return runs.take(request_state) if isinstance(request_state, str) else None


async def _heartbeat(tools: ToolsModule) -> None:
    elapsed = 0.0
    while True:
        await anyio.sleep(HEARTBEAT_SECONDS)
        elapsed += HEARTBEAT_SECONDS
        await tools.progress.report(f"running for {elapsed:.0f} s; {tools.calls} tool calls so far")


async def _run(host: ToolHost, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
    from .interpreter import Program, ProgramLimits, RunClock
    from .worker import tools_module

    settings = host.settings
    suspended = _paused_run(host, arguments, ctx)
    code = arguments.get("code")
    if suspended is None and code is None:
        raise InvalidArgumentsError(NAME, ["give `code`, the program to run"])
    specs = await host.selected_tools()
    limits = ProgramLimits(
        timeout=settings.code_timeout,
        memory_bytes=settings.code_memory_mb * 1024 * 1024,
        max_calls=settings.code_max_calls,
        max_output=min(settings.code_max_output, settings.result_budget // 2),
    )
    clock = RunClock(limits.timeout)
    tools = ToolsModule(
        host,
        ctx,
        specs,
        max_calls=limits.max_calls,
        stopped_clock=clock.stopped,
        calls=suspended.calls if suspended else 0,
    )
    program = Program(tools_module(specs, str(code or "")), limits, tools, clock)
    failure: BaseException | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_heartbeat, tools)
        try:
            if suspended is not None:
                token = arguments.get("confirmation_token")
                finished = await program.resume(suspended, {"confirmation_token": token} if token else {})
            else:
                finished = await program.start(str(code))
        except Exception as exc:
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise _explained(failure, host, code, specs)
    return _result(finished, tools, settings.result_budget, limits.max_output)


def _explained(failure: BaseException, host: ToolHost, code: Any, specs: Sequence[ToolSpec]) -> BaseException:
    """The exception the agent gets for a run that did not finish."""
    if isinstance(failure, ProgramSuspended):
        reason, suspended = failure.reason, failure.suspended
        runs = paused_runs(host, host.settings.confirmation_ttl)
        if isinstance(reason, InputNeeded):  # asked in its own round trip: the retry resumes it
            runs.keep(suspended, key=reason.request_state)
            return reason
        run_id = runs.keep(suspended)
        return ProgramPaused(
            str(getattr(reason, "description", reason)),
            str(getattr(reason, "token", "")),
            run_id,
            host.settings.confirmation_ttl,
            url=getattr(reason, "url", None),
            output=suspended.output,
            calls=suspended.calls,
        )
    if isinstance(failure, ProgramError) and failure.kind == "type" and isinstance(code, str):
        hints = type_error_hints(failure.report, code, specs)
        if hints:
            report = failure.report + "\nTo fix it:\n" + "\n".join(hints)
            return ProgramError("type", report, line=failure.line, output=failure.output, calls=failure.calls)
    return failure


def _result(finished: Finished, tools: ToolsModule, budget: int, max_output: int) -> CallOutcome:
    """The program's value, its output and notes, within the result budget (the value is cut first)."""
    document: dict[str, Any] = {"result": None, "calls": tools.calls}
    if finished.output:
        document["output"] = finished.output
    notes = list(tools.notes)
    if finished.output_dropped:
        notes.append(
            f"The program printed {finished.output_dropped:,} more characters than the {max_output:,} kept."
        )
    room = budget - len(compact_json(document)) - 16
    value, cut = fit_to_budget(finished.value, max(MIN_BUDGET_CHARS, room))
    if cut is not None:
        notes.append(
            f"The program's result was {cut.total_chars:,} characters, over this server's result budget, "
            f"so it was cut ({cut.kept_items} of {cut.total_items} items kept). Return less: totals, "
            "counts or the few items that answer the question."
        )
    document["result"] = value
    return CallOutcome(document, notes=tuple(notes))


RUN_CODE = LocalTool(
    name=NAME,
    title="Run a program against the Stripe tools",
    agent_description=DESCRIPTION,
    input_schema=INPUT_SCHEMA,
    handler=_run,
    read_only=False,
)

"""Tools the server answers itself, next to Truto's catalog: what they are, and what they may use.

A local tool is data (:class:`LocalTool`: a name, a schema, a handler), listed like a
catalog tool. Its handler gets a :class:`ToolHost`, the small part of the runner it may
use (call another tool, resolve one, run a catalog tool through the pipeline), so that no
local tool depends on the runner's module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..catalog.spec import ToolSpec
    from ..config import Settings
    from ..pipeline.approval_gate import ApprovalGate
    from ..pipeline.call import CallOutcome
    from ..upstream.governor import WaitListener

ProgressListener = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class CallContext:
    """What a local tool may use while it runs: progress reports and the wait listener."""

    on_wait: WaitListener | None = None
    on_progress: ProgressListener | None = None
    gate: ApprovalGate | None = None


class ToolHost(Protocol):
    """What a local tool may ask of the runner that runs it."""

    settings: Settings

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        on_progress: ProgressListener | None = None,
        gate: ApprovalGate | None = None,
    ) -> CallOutcome: ...

    async def resolve(self, name: str) -> ToolSpec: ...

    async def run(
        self,
        spec: ToolSpec,
        arguments: Mapping[str, Any] | None,
        *,
        on_wait: WaitListener | None = None,
        budget: bool = True,
        gate: ApprovalGate | None = None,
        lean: bool = True,
    ) -> CallOutcome: ...

    async def selected_tools(self, *, refresh: bool = False) -> list[ToolSpec]: ...


Handler = Callable[[ToolHost, dict[str, Any], CallContext], Awaitable["CallOutcome"]]


@dataclass(frozen=True)
class LocalTool:
    """A tool implemented here; shaped like :class:`~truto_stripe_mcp.catalog.spec.ToolSpec` for listing."""

    @property
    def listed_schema(self) -> dict[str, Any]:
        return self.input_schema

    @property
    def listed_description(self) -> str:
        return self.agent_description

    name: str
    title: str
    agent_description: str
    input_schema: dict[str, Any]
    handler: Handler = field(repr=False, compare=False)
    read_only: bool = True
    open_world: bool = True

    @property
    def annotations(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": not self.read_only,
            "idempotentHint": self.read_only,
            "openWorldHint": self.open_world,
        }

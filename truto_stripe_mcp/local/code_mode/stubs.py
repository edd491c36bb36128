"""The ``tools`` module a program imports, as Python type stubs generated from the catalog.

Monty's type checker reads these before a program runs, so a wrong argument name, a missing
required argument or a value of the wrong type is reported with its line before any call is
sent. Each tool is an ``async def`` taking its JSON schema's properties as keyword-only
parameters (required ones without a default), typed from the schema: enums as ``Literal``,
time filters as ``int | str | dict``, nested objects as ``dict[str, Any]``. Every tool returns
its parsed JSON result (``dict[str, Any]``). ``paginate`` takes a list tool's name, that tool's
arguments and ``max_items``, with one overload per list tool so its arguments are checked too.
Pure: specs in, text out.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...catalog.spec import ToolSpec

PAGINATE = "paginate"
"""The one function of ``tools`` that is not a catalog tool: every item of a list, bounded."""
DEFAULT_MAX_ITEMS = 1_000
_MAX_DOC_CHARS = 160
_MAX_HINTS = 5
_WORD = re.compile(r"[A-Za-z_]\w*")
_NAMED_FUNCTION = re.compile(r"function `(\w+)`")
_MISSING_MEMBER = re.compile(r"no member `(\w+)`")
_REPORT_LINE = re.compile(r"\.py:(\d+):\d+:")
_QUOTED_NAME = re.compile(r"[\'\"](\w+)[\'\"]")
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_MAX_ITEMS = f"max_items: int = {DEFAULT_MAX_ITEMS}"
_ITEMS = "list[dict[str, Any]]"
_PAGINATE_DOC = "Every item of a list tool (following next_cursor), up to max_items."
_HEADER = '''"""The Stripe tools of this server: `await tools.NAME(**arguments)` returns the tool's JSON result."""

from typing import Any, Literal, overload

'''


def _union(parts: Sequence[str]) -> str:
    unique = list(dict.fromkeys(parts))
    if "Any" in unique:
        return "Any"
    return " | ".join(unique) if unique else "Any"


def annotation(schema: Any) -> str:
    """The Python type a JSON schema accepts, as stub text (``Any`` where the schema says little)."""
    if not isinstance(schema, Mapping):
        return "Any"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int | bool) or v is None for v in enum):
        literals = [repr(value) for value in enum if value is not None]
        parts = [f"Literal[{', '.join(literals)}]"] if literals else []
        return _union([*parts, *(["None"] if None in enum else [])])
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _union([annotation(option) for option in options])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([annotation({**schema, "type": one}) for one in kind])
    if kind == "array":
        return f"list[{annotation(schema.get('items'))}]"
    if kind == "object":
        return "dict[str, Any]"
    return _SCALARS.get(str(kind), "Any")


def _parameters(schema: Mapping[str, Any]) -> list[str]:
    """Keyword-only parameters, required first; a name Python cannot spell takes ``**others``."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    spelled = [name for name in properties if name.isidentifier() and not keyword.iskeyword(name)]
    params = [f"{name}: {annotation(properties[name])}" for name in spelled if name in required]
    params += [f"{name}: {annotation(properties[name])} = ..." for name in spelled if name not in required]
    if len(spelled) < len(properties) or schema.get("additionalProperties", True) is not False:
        params.append("**others: Any")
    return params


def _doc(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > _MAX_DOC_CHARS:
        line = line[: _MAX_DOC_CHARS - 3].rstrip() + "..."
    return line.replace("\\", "\\\\").replace('"""', "'''")


def _function(name: str, params: Sequence[str], returns: str, doc: str, *, prefix: Sequence[str] = ()) -> str:
    signature = ", ".join([*prefix, *(["*"] if params else []), *params])
    return f'async def {name}({signature}) -> {returns}:\n    """{_doc(doc)}"""\n'


def tool_signature(spec: ToolSpec, *, paginated: bool = False) -> str:
    """How a program calls one tool, with its parameters' types (for a type error's fix)."""
    params = _parameters(spec.input_schema)
    if paginated:
        params = [_MAX_ITEMS, *(p for p in params if not p.startswith("next_cursor"))]
        return f"await tools.{PAGINATE}({spec.name!r}, *, {', '.join(params)})"
    return f"await tools.{spec.name}(*, {', '.join(params)})"


def referenced(code: str, specs: Sequence[ToolSpec]) -> list[ToolSpec]:
    """The tools a program names (as an attribute or a quoted list tool): the only ones its type
    check needs. Checking against the whole catalog's stubs cost ~40 ms more per run; a name the
    program does not spell cannot be reached without a value typed ``Any``, which the checker
    lets through either way."""
    words = set(_WORD.findall(code))
    return [spec for spec in specs if spec.name in words]


def tools_stubs(specs: Sequence[ToolSpec]) -> str:
    """The ``tools`` module's ``.pyi`` text: one function per tool, then ``paginate``, overloaded
    per list tool. No catch-all overload next to them: it would accept a misspelt argument the
    list tool's own overload refused. Only with no list tool named does ``paginate`` take any
    name (one built at run time), its arguments then checked when it is called."""
    parts = [_HEADER]
    for spec in specs:
        parts.append(_function(spec.name, _parameters(spec.input_schema), "dict[str, Any]", spec.description))
    lists = [spec for spec in specs if spec.method == "list"]
    overload = "@overload\n" if len(lists) > 1 else ""
    for spec in lists:
        params = [p for p in _parameters(spec.input_schema) if not p.startswith("next_cursor")]
        tool = f"tool: Literal[{spec.name!r}]"
        parts.append(
            overload + _function(PAGINATE, [_MAX_ITEMS, *params], _ITEMS, _PAGINATE_DOC, prefix=(tool, "/"))
        )
    if not lists:
        any_list = [_MAX_ITEMS, "**arguments: Any"]
        parts.append(_function(PAGINATE, any_list, _ITEMS, _PAGINATE_DOC, prefix=("tool: str", "/")))
    return "\n".join(parts)


def type_error_hints(report: str, code: str, specs: Sequence[ToolSpec]) -> list[str]:
    """What a model needs to fix a type error about tools: the signature of each tool the report
    names (for ``paginate``, the list tools quoted on the lines it points at), and for a name
    ``tools`` does not have, the closest names it does."""
    by_name = {spec.name: spec for spec in specs}
    named = set(_NAMED_FUNCTION.findall(report))
    paginated: set[str] = set()
    if PAGINATE in named:
        lines = code.splitlines()
        for number in _REPORT_LINE.findall(report):
            index = int(number) - 1
            if 0 <= index < len(lines):
                paginated.update(_QUOTED_NAME.findall(lines[index]))
    hints = [tool_signature(by_name[name]) for name in sorted(named) if name in by_name]
    hints += [tool_signature(by_name[name], paginated=True) for name in sorted(paginated) if name in by_name]
    for missing in dict.fromkeys(_MISSING_MEMBER.findall(report)):
        close = difflib.get_close_matches(missing, [*by_name, PAGINATE], n=3, cutoff=0.5)
        if close:
            hints.append(f"tools.{missing} does not exist; the closest names: {', '.join(close)}.")
    return hints[:_MAX_HINTS]

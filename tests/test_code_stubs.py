"""The pieces of code mode that need no process: the ``tools`` stubs generated from the catalog,
the hints added to a type error, the store of paused runs, and the setting that turns it on."""

from __future__ import annotations

import ast

import pytest

from truto_stripe_mcp.catalog.spec import Catalog
from truto_stripe_mcp.config import ConfigError, load_settings
from truto_stripe_mcp.local.code_mode.paused_runs import CAPACITY, PausedRuns
from truto_stripe_mcp.local.code_mode.program_errors import Suspended
from truto_stripe_mcp.local.code_mode.stubs import annotation, referenced, tools_stubs, type_error_hints
from truto_stripe_mcp.sandbox import TOOLS

SPECS = sorted(Catalog.from_entries(TOOLS).specs, key=lambda spec: spec.name)
BY_NAME = {spec.name: spec for spec in SPECS}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": ["integer", "string"]}, "int | str"),
        ({"enum": ["duplicate", "fraudulent"], "type": "string"}, "Literal['duplicate', 'fraudulent']"),
        ({"type": "array", "items": {"type": "string"}}, "list[str]"),
        ({"anyOf": [{"type": "object"}, {"enum": [""], "type": "string"}]}, "dict[str, Any] | Literal['']"),
        ({"description": "no type"}, "Any"),
        ({"anyOf": [{"type": "string"}, {}]}, "Any"),
    ],
)
def test_json_schema_to_python_types(schema: dict[str, object], expected: str) -> None:
    assert annotation(schema) == expected


def test_the_stubs_are_valid_python_with_keyword_only_tools() -> None:
    text = tools_stubs(SPECS)
    module = ast.parse(text)
    functions = [node for node in module.body if isinstance(node, ast.AsyncFunctionDef)]
    tools = {node.name: node for node in functions if node.name != "paginate"}
    assert set(tools) == set(BY_NAME)
    refund = tools["create_a_stripe_refund"]
    assert not refund.args.args and {a.arg for a in refund.args.kwonlyargs} >= {"charge", "amount", "reason"}
    get = tools["get_single_stripe_charge_by_id"]
    assert [a.arg for a, d in zip(get.args.kwonlyargs, get.args.kw_defaults, strict=True) if d is None] == [
        "id"
    ]
    paginate = [node for node in functions if node.name == "paginate"]
    assert len(paginate) == sum(1 for spec in SPECS if spec.method == "list"), "one overload per list tool"
    assert "next_cursor" not in ast.unparse(paginate[0].args), "paginate follows the cursor itself"


def test_read_only_stubs_have_no_writes() -> None:
    reads = [spec for spec in SPECS if spec.is_read]
    text = tools_stubs(reads)
    assert "create_a_stripe_refund" not in text and "list_all_stripe_refunds" in text


def test_type_error_hints_show_the_fix() -> None:
    report = "program.py:2:7: error[unknown-argument] Argument `amont` does not match any known parameter of function `create_a_stripe_refund`"
    [hint] = type_error_hints(report, "import tools\nawait tools.create_a_stripe_refund(amont=1)", SPECS)
    assert hint.startswith("await tools.create_a_stripe_refund(*, ") and "amount: int = ..." in hint
    overload = (
        "program.py:2:7: error[no-matching-overload] No overload of function `paginate` matches arguments"
    )
    code = "import tools\nawait tools.paginate('list_all_stripe_refunds', chrge='x')"
    [hint] = type_error_hints(overload, code, SPECS)
    assert hint.startswith("await tools.paginate('list_all_stripe_refunds', *, max_items: int = 1000, ")
    missing = "program.py:2:7: error[unresolved-attribute] Module `tools` has no member `list_refunds`"
    [hint] = type_error_hints(missing, "", SPECS)
    assert "list_all_stripe_refunds" in hint


def _suspended(tag: str) -> Suspended:
    return Suspended(dump=tag.encode(), undelivered={}, output=tag, calls=0)


def test_a_paused_run_resumes_once_and_not_after_it_expires() -> None:
    now = [0.0]
    runs = PausedRuns(ttl=300, clock=lambda: now[0])
    first = runs.keep(_suspended("a"))
    second = runs.keep(_suspended("b"))
    assert first != second and first.startswith("run_")
    assert runs.take(first) == _suspended("a")
    assert runs.take(first) is None, "once"
    now[0] = 301
    assert runs.take(second) is None, "expired with its approval"


def test_paused_runs_are_bounded() -> None:
    runs = PausedRuns(ttl=300)
    ids = [runs.keep(_suspended(str(n))) for n in range(CAPACITY + 1)]
    assert runs.take(ids[0]) is None, "the oldest made room"
    assert runs.take(ids[-1]) is not None


def test_code_mode_says_when_its_interpreter_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pydantic_monty" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'truto-stripe-mcp\[code\]'"):
        load_settings(code_mode=True)
    assert load_settings(code_mode=False).code_mode is False


def test_a_program_is_checked_against_the_tools_it_names() -> None:
    code = "import tools\nawait tools.get_single_stripe_charge_by_id(id='x')\nawait tools.paginate('list_all_stripe_refunds')"
    assert [spec.name for spec in referenced(code, SPECS)] == [
        "get_single_stripe_charge_by_id",
        "list_all_stripe_refunds",
    ]
    [one_list] = [spec for spec in SPECS if spec.name == "list_all_stripe_refunds"]
    single = tools_stubs([one_list])
    assert "@overload" not in single and "tool: Literal['list_all_stripe_refunds']" in single
    ast.parse(single)
    none = tools_stubs(
        referenced("import tools\nname = 'list_all_' + 'stripe_refunds'\nawait tools.paginate(name)", SPECS)
    )
    assert "def paginate(tool: str, /, *, max_items: int = 1000, **arguments: Any)" in none

"""The engine: one traversal, name resolution through imports, suppressions, the fix loop,
encodings and line endings, and robustness to rule crashes."""

from __future__ import annotations

import libcst as cst
import pytest

from mllint.engine import lint as engine
from mllint.engine.context import FileContext
from mllint.engine.files import decode
from mllint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from mllint.engine.rule import Rule
from mllint.testing import codes, fix, lint
from mllint.engine.traversal import Dispatcher

BAD = "import torch\np.grad = torch.nan_to_num(p.grad)\n"
FIXED = 'import torch\np.grad = torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))\n'


@pytest.mark.parametrize("source", [
    "import torch as T\nT.nan_to_num(p.grad)\n",
    "from torch import nan_to_num\nnan_to_num(p.grad)\n",
    "from torch import nan_to_num as ntn\nntn(p.grad)\n",
    "import torch\ntorch.Tensor.nan_to_num(p.grad)\n",
    "def f():\n    import torch as t\n    t.nan_to_num(p.grad)\n",
    "try:\n    import torch\nexcept ImportError:\n    torch = None\ntorch.nan_to_num(p.grad)\n",
])
def test_names_resolve_through_imports_and_aliases(source):
    assert codes(source, "ML101") == ["ML101"]


def test_a_parameter_named_like_the_import_is_not_the_import():
    assert codes("import torch\ndef f(torch, p):\n    torch.nan_to_num(p.grad)\n", "ML101") == []


def test_context_qualified_names():
    module = cst.parse_module("import torch.nn as nn\nfrom torch import nn as N2\nimport numpy\n")
    ctx = FileContext("x.py", module.code, module=module)
    assert ctx.qualified_name(cst.parse_expression("nn.Parameter")) == "torch.nn.Parameter"
    assert ctx.qualified_name(cst.parse_expression("N2.Linear")) == "torch.nn.Linear"
    assert ctx.qualified_name(cst.parse_expression("numpy.std")) == "numpy.std"
    assert ctx.qualified_name(cst.parse_expression("unknown.thing")) == "unknown.thing"
    assert ctx.qualified_name(cst.parse_expression("f(x).y")) is None


def test_positions_are_one_based():
    [d] = lint("import torch\n\nx = torch.nan_to_num(p.grad)\n", "ML101")
    assert (d.start.row, d.start.column) == (3, 5)
    assert (d.end.row, d.end.column) == (3, 29)


@pytest.mark.parametrize("comment", [
    "# noqa", "# noqa: ML101", "#noqa:ML101", "# noqa: ML1", "# noqa: E501, ML101",
    "# mllint: disable=ML101", "# mllint: disable=ML103,ML101", "# mllint: disable",
])
def test_line_suppressions(comment):
    assert lint(f"import torch\np.grad = torch.nan_to_num(p.grad)  {comment}\n", "ML101") == []


@pytest.mark.parametrize("comment", ["# noqa: ML103", "# mllint: disable=ML401", "# noqa:ML102"])
def test_suppressions_of_other_codes_do_not_apply(comment):
    assert codes(f"import torch\np.grad = torch.nan_to_num(p.grad)  {comment}\n", "ML101") == ["ML101"]


def test_noqa_inside_a_string_is_not_a_suppression():
    assert codes('import torch\np.grad = torch.nan_to_num(p.grad, nan="# noqa")\n', "ML101") == ["ML101"]


def test_file_wide_suppression():
    src = "# mllint: disable-file=ML101\nimport torch\np.grad = torch.nan_to_num(p.grad)\n"
    assert lint(src, "ML101") == []


def test_suppressed_diagnostics_are_not_fixed():
    src = "import torch\np.grad = torch.nan_to_num(p.grad)  # noqa: ML101\n"
    assert fix(src, "ML101") == src


def test_multiline_diagnostic_suppressed_on_its_last_line():
    src = "import torch\np.grad = torch.nan_to_num(\n    p.grad,\n)  # noqa: ML101\n"
    assert lint(src, "ML101") == []


def test_fix_is_idempotent_and_reparses():
    once = fix(BAD, "ML101")
    assert once == FIXED
    assert fix(once, "ML101") == once
    cst.parse_module(once)


def test_nested_fixes_compose_over_passes():
    src = "import torch\ng = p.grad\np.grad = torch.nan_to_num(torch.nan_to_num(g))\n"
    out = fix(src, "ML101")
    assert out.count('posinf=float("inf")') == 2
    assert lint(out, "ML101") == []


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fix_keeps_line_endings(newline):
    src = BAD.replace("\n", newline)
    assert fix(src, "ML101") == FIXED.replace("\n", newline)


def test_syntax_error_is_ml000_and_others_go_on():
    [d] = lint("import torch\ndef f(:\n    pass\n", "ML101")
    assert (d.code, d.name, d.start.row) == ("ML000", "syntax-error", 2)


def test_syntax_error_reported_without_evidence():
    # no rule's evidence in the file: the cheap ast check still reports it
    assert codes("def f(:\n", "ML101") == ["ML000"]


NEWER_SYNTAX = [  # valid Python that an older interpreter's parser rejects
    "class Buffer[T]:\n    pass\n",  # PEP 695, Python 3.12
    "type Batch = list[int]\n",  # PEP 695, Python 3.12
    'label = t"step {step}"\n',  # PEP 750, Python 3.14
]


@pytest.mark.parametrize("newer", NEWER_SYNTAX)
def test_syntax_newer_than_the_interpreter_is_linted_not_ml000(newer):
    # torch/testing/_internal/py312_intrinsics.py was ML000 under Python 3.11
    assert codes("import torch\n" + newer + "x / x.std()\n", "ML103") == ["ML103"]


@pytest.mark.parametrize("newer", NEWER_SYNTAX)
def test_newer_syntax_with_a_real_error_is_still_ml000(newer):
    [d] = lint("import torch\n" + newer + "def f(:\n    pass\n", "ML103")
    assert d.code == "ML000"


class _Crashing(Rule):
    code = "ML999"
    name = "crashing"
    summary = "test"

    def visit_Call(self, node):
        raise RuntimeError("boom")


def test_a_crashing_rule_is_reported_and_the_others_still_run():
    from mllint.rules.precision.ml101_nan_to_num_masks_overflow import NanToNumMasksOverflow

    result = engine.lint_text(BAD, "x.py", "python", [(_Crashing, {}), (NanToNumMasksOverflow, {})])
    assert [d.code for d in result.diagnostics] == ["ML101"]
    [err] = result.errors
    assert "internal error in ML999 (crashing): RuntimeError: boom" in err and "x.py" in err


class _BreaksSyntax(Rule):
    code = "ML998"
    name = "breaks-syntax"
    summary = "test"

    def visit_Name(self, node):
        if node.value == "x":
            self.report(node, "m", Fix(Applicability.SAFE, "bad", (self.ctx.replace(node, "x x"),)))


def test_a_fix_that_breaks_syntax_is_not_applied():
    result = engine.lint_text("x = 1\n", "x.py", "python", [(_BreaksSyntax, {})], fix=True)
    assert result.new_source is None
    assert "would produce invalid code" in result.errors[0]


def test_apply_edits_non_overlapping_right_to_left():
    src = "abc\ndef\n"
    edits = [Edit(Location(1, 1), Location(1, 2), "X"), Edit(Location(2, 2), Location(2, 4), "YY"),
             Edit(Location(2, 1), Location(2, 1), ">")]
    assert engine.apply_edits(src, edits) == "Xbc\n>dYY\n"


def test_overlapping_fixes_wait_for_the_next_pass():
    def diag(start, end):
        return Diagnostic("ML101", "n", "m", "x", Location(1, start), Location(1, end),
                          Fix(Applicability.SAFE, "f", (Edit(Location(1, start), Location(1, end), "z"),)))

    chosen = engine.choose_fixes([diag(1, 5), diag(3, 7), diag(5, 6)], unsafe=False)
    assert [(d.start.column, d.end.column) for d in chosen] == [(1, 5), (5, 6)]


def test_unsafe_fixes_only_when_asked():
    d = Diagnostic("ML201", "n", "m", "x", Location(1, 1), Location(1, 2),
                   Fix(Applicability.UNSAFE, "f", (Edit(Location(1, 1), Location(1, 2), "z"),)))
    assert engine.choose_fixes([d], unsafe=False) == []
    assert engine.choose_fixes([d], unsafe=True) == [d]


@pytest.mark.parametrize("data, encoding", [
    (b"\xef\xbb\xbfx = 1\n", "utf-8-sig"),
    (b"# -*- coding: latin-1 -*-\nx = '\xe9'\n", "iso-8859-1"),
    (b"x = 1\n", "utf-8"),
])
def test_decode_follows_bom_and_coding_cookie(data, encoding):
    assert decode(data, "python").encoding == encoding


def test_shell_suppression_on_the_last_line_of_a_continued_command():
    from mllint.engine import suppression

    script = "python app.py \\\n    +a=1 \\\n    b=2  # mllint: disable=ML501\npython app.py +c=1\n"
    sup = suppression.collect(script, "shell")
    assert sup.suppresses("ML501", (2,)) and sup.suppresses("ML501", (1,))
    assert not sup.suppresses("ML501", (4,))
    # Python too (a backslash continuation cannot carry a comment), as Ruff's noqa mapping does;
    # but a bracketed continuation can, so its rows are not mapped
    assert suppression.collect(script, "python").suppresses("ML501", (2,))
    bracketed = "f(a,\n  b)  # noqa: ML501\n"
    assert not suppression.collect(bracketed, "python").suppresses("ML501", (1,))


def _dispatcher_events(module: cst.Module) -> list[tuple[int, int]]:
    """(id(node), depth) of every visit and leave call the dispatcher makes to a rule."""
    ctx = FileContext("x.py", module.code, module=module)
    events = []

    class Recorder(Rule):
        code, name, summary = "ML996", "recorder", "test"

    recorder = Recorder(ctx, {})
    record = [(recorder, lambda node: events.append((id(node), len(ctx.stack))))]
    dispatcher = Dispatcher(ctx, [], lambda rule, exc: None)
    dispatcher.visits = dispatcher.leaves = {name: record for name in dir(cst) if name[:1].isupper()}
    dispatcher.run(module)
    return events


def _libcst_events(module: cst.Module) -> list[tuple[int, int]]:
    """The same, as LibCST's own traversal orders them."""
    events, depth = [], [0]

    class Order(cst.CSTVisitor):
        def on_visit(self, node):
            depth[0] += 1
            events.append((id(node), depth[0]))
            return True

        def on_leave(self, node):
            events.append((id(node), depth[0]))
            depth[0] -= 1

    module.visit(Order())
    return events


@pytest.mark.parametrize("path", sorted((__import__("pathlib").Path(__file__).parents[1] / "fixtures").glob("ML*/*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dispatcher_walk_visits_in_libcsts_order(path):
    module = cst.parse_module(path.read_text())
    ours = _dispatcher_events(module)
    assert len(ours) > 100 and ours == _libcst_events(module)

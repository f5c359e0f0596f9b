"""The fix toolkit (mllint.analysis.edits): each helper's edit, applied, gives the expected file."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from mllint.analysis import edits
from mllint.engine.context import FileContext
from mllint.engine.lint import apply_edits


def _ctx(source: str) -> FileContext:
    source = textwrap.dedent(source)
    ctx = FileContext("t.py", source, module=cst.parse_module(source))
    ctx.stack = [ctx.module]
    return ctx


def _apply(ctx: FileContext, found) -> str:
    return apply_edits(ctx.source, found if isinstance(found, list) else [found])


def _find(ctx: FileContext, kind: type, name: str | None = None):
    found = []

    class Find(cst.CSTVisitor):
        def on_visit(self, node):
            if isinstance(node, kind) and (name is None or getattr(getattr(node, "name", None), "value", None) == name):
                found.append(node)
            return True

    ctx.module.visit(Find())
    return found


@pytest.mark.parametrize("source, expected", [
    ('"""Doc."""\nfrom __future__ import annotations\nimport os\nx = 1\n',
     '"""Doc."""\nfrom __future__ import annotations\nimport math\nimport os\nx = 1\n'),
    ('"""Doc."""\n\nx = 1\n', '"""Doc."""\n\nimport math\nx = 1\n'),
])
def test_import_edit_goes_with_the_imports(source, expected):
    ctx = _ctx(source)
    assert _apply(ctx, edits.import_edit(ctx, "math")) == expected


@pytest.mark.parametrize("source, expected", [
    ("import torch.nn as nn\n", "nn"),
    ("import torch as T\n", "T.nn"),
    ("import numpy\n", None),
])
def test_module_expression(source, expected):
    assert edits.module_expression(_ctx(source), "torch.nn") == expected


def test_insert_before_and_after_keep_the_indentation():
    ctx = _ctx("def f():\n    if x:\n        y = 1  # keep\n    return y\n")
    target = _find(ctx, cst.SimpleStatementLine)[0]
    assert _apply(ctx, edits.insert_before(ctx, target, "if a:\n    b()")) == \
        "def f():\n    if x:\n        if a:\n            b()\n        y = 1  # keep\n    return y\n"
    assert _apply(ctx, edits.insert_after(ctx, target, "z = 2")) == \
        "def f():\n    if x:\n        y = 1  # keep\n        z = 2\n    return y\n"


def test_insert_after_header_puts_a_helper_below_the_imports():
    ctx = _ctx('"""Doc."""\nimport os\n\n\ndef f():\n    pass\n')
    assert _apply(ctx, edits.insert_after_header(ctx, "class Helper:\n    pass\n")) == \
        '"""Doc."""\nimport os\n\n\nclass Helper:\n    pass\n\n\ndef f():\n    pass\n'


@pytest.mark.parametrize("source, expected", [
    # appended to __init__
    ("class A:\n    def __init__(self):\n        self.a = 1\n\n    def f(self):\n        use()\n",
     "class A:\n    def __init__(self):\n        self.a = 1\n        self.n = N()\n\n    def f(self):\n        use()\n"),
    # before __init__'s return
    ("class A:\n    def __init__(self):\n        return None\n\n    def f(self):\n        use()\n",
     "class A:\n    def __init__(self):\n        self.n = N()\n        return None\n\n    def f(self):\n        use()\n"),
    # no __init__: created on first use
    ("class A:\n    def f(self):\n        use()\n",
     'class A:\n    def f(self):\n        if not hasattr(self, "n"):\n            self.n = N()\n        use()\n'),
    # already there: nothing to add
    ("class A:\n    def __init__(self):\n        self.n = N()\n\n    def f(self):\n        use()\n",
     "class A:\n    def __init__(self):\n        self.n = N()\n\n    def f(self):\n        use()\n"),
])
def test_add_instance_attribute(source, expected):
    ctx = _ctx(source)
    cls = _find(ctx, cst.ClassDef)[0]
    method = _find(ctx, cst.FunctionDef, "f")[0]
    site = method.body.body[0]
    assert _apply(ctx, edits.add_instance_attribute(ctx, cls, "n", "N()", site, method)) == expected


def test_replace_lines_keeps_the_first_comment():
    ctx = _ctx("x -= x.mean()  # centre\nx /= x.std()\ny = x\n")
    first, second = _find(ctx, cst.SimpleStatementLine)[:2]
    assert _apply(ctx, edits.replace_lines(ctx, first, second, "x = norm(x)")) == "# centre\nx = norm(x)\ny = x\n"

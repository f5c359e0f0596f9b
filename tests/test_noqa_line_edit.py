"""The language server's "Disable MLxxx for this line" edit (mllint.noqa.line_edit, placed as
--add-noqa places its comments): applied, the diagnostic is suppressed, the code still parses, and
an existing `# noqa: ...` keeps its codes."""

from __future__ import annotations

import ast

import pytest

from mllint.engine.lint import apply_edits
from mllint.diagnostics import Diagnostic, Location
from mllint.engine.noqa import line_edit
from mllint.testing import lint

HEAD = "import torch\n\n\ndef step(p):\n"


def finding(code: str, *rows: int) -> Diagnostic:
    """A diagnostic of `code` on these rows (the first and the last), for YAML and shell."""
    return Diagnostic(code, "name", "message", "f", Location(rows[0], 1), Location(rows[-1], 1))


def disable(source: str, code: str, path: str = "example.py", kind: str = "python") -> str:
    [d] = [d for d in lint(source, "ALL", path=path) if d.code == code]
    edit = line_edit(source, kind, d)
    assert edit is not None
    return apply_edits(source, [edit])


@pytest.mark.parametrize("body, expected_line", [
    # a plain line
    ("    p.grad = torch.nan_to_num(p.grad)\n", "    p.grad = torch.nan_to_num(p.grad)  # noqa: ML101"),
    # an existing noqa keeps its codes
    ("    p.grad = torch.nan_to_num(p.grad)  # noqa: ML103\n",
     "    p.grad = torch.nan_to_num(p.grad)  # noqa: ML101, ML103"),
    # after another comment
    ("    p.grad = torch.nan_to_num(p.grad)  # type: ignore\n",
     "    p.grad = torch.nan_to_num(p.grad)  # type: ignore  # noqa: ML101"),
    # the first row ends in a backslash continuation: the comment goes on the last row
    ("    p.grad = torch.nan_to_num(\\\n        p.grad)\n", "        p.grad)  # noqa: ML101"),
])
def test_disable_python(body, expected_line):
    new = disable(HEAD + body, "ML101")
    ast.parse(new)
    assert expected_line in new.splitlines()
    assert "ML101" not in [d.code for d in lint(new, "ALL")]


def test_disable_keeps_trailing_text_and_line_endings():
    source = HEAD.replace("\n", "\r\n") + "    p.grad = torch.nan_to_num(p.grad)   \r\n    return p\r\n"
    new = disable(source, "ML101")
    assert new == source.replace("(p.grad)   \r\n", "(p.grad)  # noqa: ML101\r\n")


def test_a_row_inside_a_string_takes_its_comment_where_the_string_ends():
    # a comment inside the string would change the string; the row where it ends suppresses it
    source = 'x = """\n' + "torch.nan_to_num(p.grad)\n" + '"""\n'
    assert apply_edits(source, [line_edit(source, "python", finding("ML101", 2, 2))]) == \
        source.replace('"""\n', '"""  # noqa: ML101\n').replace('x = """  # noqa: ML101', 'x = """')


@pytest.mark.parametrize("kind, source, rows, expected", [
    ("yaml", "defaults:\n  - env: walker  # noqa: ML501\n", (2,),
     "defaults:\n  - env: walker  # noqa: ML501, ML503\n"),
    ("yaml", "defaults:\n  - env: walker  # noqa: ML503\n", (2,),  # already there: nothing to add
     None),
    ("yaml", "name: 'a#b'\n", (1,), "name: 'a#b'  # noqa: ML503\n"),
    ("shell", "python train.py \\\n  lr=0.1\n", (1,), "python train.py \\\n  lr=0.1  # noqa: ML503\n"),
    ("shell", "echo a#b\n", (1,), "echo a#b  # noqa: ML503\n"),
])
def test_disable_yaml_and_shell(kind, source, rows, expected):
    edit = line_edit(source, kind, finding("ML503", *rows))
    assert (edit if expected is None else apply_edits(source, [edit])) == expected

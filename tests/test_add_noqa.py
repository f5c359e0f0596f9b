"""`mllint --add-noqa`: a `# noqa: CODE` on each line with a finding, in Python files, notebooks,
YAML configs and shell scripts, after which mllint passes and a second run changes nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import libcst as cst
import nbformat
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mllint.engine import lint as engine
from mllint.frontends.cli import main
from mllint.diagnostics import Diagnostic, Location
from mllint.engine.noqa import _yaml_rows, add_noqa
from mllint.testing import lint

from integrations.notebooks import CELLS, MARL_CELLS, notebook_text
from reliability.test_properties import ANTI_PATTERNS, RULES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ADDED = re.compile(r"  # noqa: [A-Z0-9, ]+")


def invoke(*args):
    return CliRunner().invoke(main, ["--no-cache", *args])


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch) -> Path:
    """A Hydra project (launcher, shell script, configs) with findings of every file kind."""
    root = tmp_path / "proj"
    shutil.copytree(FIXTURES / "ML501" / "project", root)
    shutil.copy(FIXTURES / "ML302" / "bad.yaml", root / "config" / "schedule.yaml")
    for code in ("ML101", "ML103", "ML201", "ML401"):
        shutil.copy(FIXTURES / code / "bad.py", root / f"{code.lower()}.py")
    (root / "train_nb.ipynb").write_text(notebook_text(colab=True, cells=CELLS), encoding="utf-8")
    (root / "marl.ipynb").write_text(notebook_text(colab=False, cells=MARL_CELLS), encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_add_noqa_then_clean_then_nothing_to_add(legacy):
    before = _files(legacy)
    report = json.loads(invoke("--format", "json", ".").output)
    kinds = {Path(d["filename"]).suffix for d in report}
    assert kinds == {".py", ".ipynb", ".yaml", ".sh"}, kinds

    out = invoke("--add-noqa", ".")
    assert out.exit_code == 0, out.output
    after = _files(legacy)
    assert after.keys() == before.keys()
    changed = sum(a != b for name in after for a, b in zip(after[name].splitlines(), before[name].splitlines()))
    assert changed > len(kinds)
    assert out.stderr.strip() == f"Added {changed} noqa directives."
    for name, data in after.items():
        # only `  # noqa: ...` was added, each at the end of a line (inside a notebook's JSON string)
        assert ADDED.sub("", data.decode()) == before[name].decode(), name
    for name in ("train_nb.ipynb", "marl.ipynb"):
        nbformat.validate(json.loads(after[name]))
    assert b"# noqa: ML501, ML502" in after["scripts/launch.sh"]  # the last row of the continued command

    check = invoke(".")
    assert check.exit_code == 0, check.output
    again = invoke("--add-noqa", ".")
    assert again.exit_code == 0 and again.output == ""
    assert _files(legacy) == after


def test_add_noqa_cannot_be_combined_with_fixing(legacy):
    out = invoke("--add-noqa", "--fix", ".")
    assert out.exit_code == 2
    assert "--add-noqa cannot be combined" in out.output


def _diag(code: str, row: int, end_row: int | None = None) -> Diagnostic:
    return Diagnostic(code=code, name="x", message="m", path="f.py", start=Location(row, 5),
                      end=Location(end_row or row, 9))


@pytest.mark.parametrize("source, diags, expected", [
    ("x = 1\n", [_diag("ML101", 1)], "x = 1  # noqa: ML101\n"),
    ("x = 1   \t\r\ny = 2\r\n", [_diag("ML101", 1)], "x = 1  # noqa: ML101\r\ny = 2\r\n"),
    ("x = 1", [_diag("ML103", 1), _diag("ML101", 1), _diag("ML101", 1)], "x = 1  # noqa: ML101, ML103"),
    # merged into the existing directive, sorted and without duplicates; the rest of the comment kept
    ("x = 1  # noqa: ML201 because of #12\n", [_diag("ML103", 1)], "x = 1  # noqa: ML103, ML201 because of #12\n"),
    ("x = 1  #noqa:E501\n", [_diag("ML101", 1)], "x = 1  # noqa: E501, ML101\n"),
    ("x = 1  # type: ignore\n", [_diag("ML101", 1)], "x = 1  # type: ignore  # noqa: ML101\n"),
    # a diagnostic spanning rows: its first row, unless no comment can follow that row's end
    ("y = f(a,\n      b)\n", [_diag("ML101", 1, 2)], "y = f(a,  # noqa: ML101\n      b)\n"),
    ("y = f(a, \\\n      b)\n", [_diag("ML101", 1, 2)], "y = f(a, \\\n      b)  # noqa: ML101\n"),
    ('y = f("""a\nb""", c)\n', [_diag("ML101", 1, 2)], 'y = f("""a\nb""", c)  # noqa: ML101\n'),
    ("ML000 is never suppressible\n", [_diag("ML000", 1)], "ML000 is never suppressible\n"),
])
def test_python_lines(source, diags, expected):
    new, count, unplaced = add_noqa(source, "python", diags)
    assert (new, unplaced) == (expected, [])
    assert count == sum(a != b for a, b in zip(new.splitlines(), source.splitlines()))


@pytest.mark.parametrize("source, kind", [
    ("python train.py \\\n", "shell"),  # continued into nothing
    ("a: |\n  b\n  c\n", "yaml"),  # inside a block scalar
])
def test_a_finding_no_line_of_which_can_carry_a_comment_is_returned(source, kind):
    diag = _diag("ML501", 1)
    assert add_noqa(source, kind, [diag]) == (source, 0, [diag])


BAD = "p.grad = torch.nan_to_num(p.grad)"


@pytest.mark.parametrize("body, expected", [
    # a row ending in a backslash continuation or inside a string: the next row that can take it
    (f"x = {BAD} + \\\n    1\n", f"x = {BAD} + \\\n    1  # noqa: ML101\n"),
    (f"x = {BAD} + \\\n    \\\n    1\n", f"x = {BAD} + \\\n    \\\n    1  # noqa: ML101\n"),
    (f'{BAD}; s = """\nb"""\n', f'{BAD}; s = """\nb"""  # noqa: ML101\n'),
    (f"x = {BAD}  # see C:\\\n", f"x = {BAD}  # see C:\\  # noqa: ML101\n"),
])
def test_comment_where_no_comment_can_follow_the_finding(body, expected):
    source = "import torch\n" + body
    diags = lint(source, "ALL")
    assert [d.code for d in diags] == ["ML101"]
    new, count, unplaced = add_noqa(source, "python", diags)
    assert (new, count, unplaced) == ("import torch\n" + expected, 1, [])
    assert lint(new, "ALL") == []  # suppressed there, and the noqa is not reported as unused


def test_shell_comment_goes_after_the_continued_command():
    source = "python train.py \\\n    +lr=1 \\\n    x=2\necho done\n"
    new, count, _ = add_noqa(source, "shell", [_diag("ML501", 2)])
    assert (new, count) == ("python train.py \\\n    +lr=1 \\\n    x=2  # noqa: ML501\necho done\n", 1)


def test_yaml_rows_inside_scalars_take_no_comment():
    source = "a: 1\nb: |\n  text # kept\n  more\nc: \"two\n  lines\"\nd: 2\n"
    assert _yaml_rows(source) == {2, 3, 4, 5}


def test_suppression_is_honoured_where_the_comment_was_put():
    bad = "import torch\np.grad = torch.nan_to_num(\n    p.grad\n)\n"
    diags = lint(bad, "ML101")
    assert [d.code for d in diags] == ["ML101"]
    new, count, _ = add_noqa(bad, "python", diags)
    assert count == 1 and lint(new, "ALL") == []


ASSIGNMENT = re.compile(r"(\s*)([\w.\[\]]+ [-+*/]?= )(.+[^:,(\[{\\])")


def _continued(line: str) -> list[str]:
    m = ASSIGNMENT.fullmatch(line)
    if m is None or "#" in line or '"""' in line:
        return [line]
    indent, target, value = m.groups()
    return [f"{indent}{target}{value} \\", f"{indent}    if True else None"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(ANTI_PATTERNS), st.integers(min_value=0, max_value=3), st.sampled_from(["\n", "\r\n"]),
       st.booleans())
def test_every_rule_example_is_suppressed_where_the_comment_goes(pattern, depth, newline, continued):
    """The bad example of every rule's page, nested and with CRLF, and with its statements continued
    by backslashes: after --add-noqa nothing is reported, the file parses, and nothing more is added."""
    lines = pattern.splitlines()
    if continued:  # `a = f(x)` -> `a = f(x) \` + `    if True else None`: f(x)'s row takes no comment
        lines = [part for line in lines for part in _continued(line)]
    nested = ["    " * level + (f"class C{level}:" if level % 2 else f"def f{level}():") for level in range(depth)]
    source = newline.join(nested + ["    " * depth + line if line.strip() else line for line in lines]) + newline
    try:
        compile(source, "x.py", "exec")
    except SyntaxError:
        return  # the continuation split an expression that cannot be split there
    diags = [d for d in engine.lint_text(source, "x.py", "python", RULES).diagnostics if d.code != "ML000"]
    new, count, unplaced = add_noqa(source, "python", diags)
    assert unplaced == []
    assert (count > 0) == bool(diags)
    cst.parse_module(new)
    # nothing left, so a second --add-noqa adds nothing (and no noqa is reported as unused)
    assert engine.lint_text(new, "x.py", "python", RULES).diagnostics == []


def test_a_directive_counted_on_another_row_is_not_merged_into():
    # str.splitlines() also breaks at U+2028, so the suppression scan of shell and YAML files may
    # count a later directive a row further down than it is: never merge into what is not there
    source = "# pasted \u2028 text\npython train.py +a=1  # noqa: ML502\npython train.py +b=1\n"
    new, count, _ = add_noqa(source, "shell", [_diag("ML501", 3)])
    assert new == source.replace("+b=1\n", "+b=1  # noqa: ML501\n") and count == 1


@pytest.mark.parametrize("old, new, kind, same", [
    ("x = 1\n", "x = 1  # noqa: ML101\n", "python", True),
    ('x = """a\n"""\n', 'x = """a  # noqa: ML101\n"""\n', "python", False),
    ("x = (1 +\n", "x = (1 +  # noqa: ML101\n", "python", False),  # nothing to compare with: not written
    ("a: 1\n", "a: 1  # noqa: ML302\n", "yaml", True),
    ("a: |\n  b\n", "a: |\n  b  # noqa: ML302\n", "yaml", False),
])
def test_only_comments_may_change(old, new, kind, same):
    from mllint.engine.noqa import _same_content

    assert _same_content(old, new, kind) is same


def test_a_comment_that_would_change_the_file_is_not_written(monkeypatch):
    import mllint.engine.noqa

    monkeypatch.setattr(mllint.engine.noqa, "_yaml_rows", lambda source: set())  # as if the scalar were missed
    with pytest.raises(ValueError, match="would have changed what the file says"):
        add_noqa("a: |\n  b\n", "yaml", [_diag("ML302", 2)])

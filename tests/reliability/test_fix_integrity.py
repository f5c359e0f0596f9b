"""Promise 2, "a fix never corrupts a file", and the positions fixes are built from.

Each test is one of the defects adversarial testing found (F7-F11, F24 in the reliability
report): rows counted with str.splitlines(), positions computed on LibCST's text instead of the
file's, symlinks and hard links replaced, concurrent edits overwritten, duplicated notebook keys.
Everything runs in-process on small inputs.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import libcst as cst
import pytest

from mllint.engine import lint as engine, suppression
from mllint.run import runner
from mllint.run.config import Settings
from mllint.diagnostics import Edit, Location, line_starts, location_at, split_lines

# Characters str.splitlines() breaks at, but Python, LibCST, the LSP and mllint's rows do not.
NOT_LINE_BREAKS = ["\u2028", "\u2029", "\x85", "\v", "\f", "\x1c", "\x1d", "\x1e"]

ML101_BAD = "torch.nan_to_num(p.grad)"
ML101_FIXED = 'torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))'
SANITIZE = f"def f(model):\n    for p in model.parameters():\n        p.grad = {ML101_BAD}\n"


def _task(path: Path, root: Path | None = None, fix: bool = True) -> runner.Task:
    return runner.Task(path, path.name, Settings(root=root or path.parent, preview=True), fix=fix, unsafe=False,
                       cache=False)


def _rules():
    settings = Settings(root=Path("."), preview=True)
    return [(cls, settings.options_for(cls)) for cls in settings.enabled_rules()]


# ---- F7: one way of numbering rows ----------------------------------------------------------------

@pytest.mark.parametrize("separator", NOT_LINE_BREAKS, ids=repr)
def test_split_lines_numbers_rows_as_positions_do(separator):
    text = f"a{separator}b\nc\r\nd\re"
    assert split_lines(text) == [f"a{separator}b", "c", "d", "e"]
    assert "".join(split_lines(text, keepends=True)) == text
    assert [text[s:].startswith(line) for s, line in zip(line_starts(text), split_lines(text))] == [True] * 4


@pytest.mark.parametrize("kind", ["shell", "yaml"])
@pytest.mark.parametrize("separator", NOT_LINE_BREAKS, ids=repr)
def test_suppression_rows_of_shell_and_yaml_match_positions(kind, separator):
    source = f"# a comment{separator}pasted from the wiki\nx: 1  # noqa: ML302\ny: 2\n"
    directives = suppression.collect(source, kind).directives
    assert [(d.row, d.start) for d in directives] == [(2, 7)]


def _hydra_project(root: Path) -> None:
    (root / "conf").mkdir()
    (root / "train.py").write_text('import hydra\n\n\n@hydra.main(config_path="conf", config_name="config", '
                                   'version_base=None)\ndef main(cfg):\n    print(cfg)\n')
    (root / "conf" / "config.yaml").write_text("lr: 0.1\nseed: 0\n")


@pytest.mark.parametrize("separator", NOT_LINE_BREAKS, ids=repr)
def test_ml001_fix_in_a_shell_script_removes_only_the_unused_noqa(tmp_path, separator):
    _hydra_project(tmp_path)
    script = tmp_path / "run.sh"
    original = (f"#!/bin/bash\n# Copied from the wiki:{separator}see the run book\n"
                "python train.py lr=0.2  # noqa: ML501\npython train.py lr=0.3 --multirun seed=1,2,3\n")
    script.write_text(original, encoding="utf-8")
    result = runner.process(_task(script, tmp_path))
    assert script.read_text(encoding="utf-8") == original.replace("  # noqa: ML501", "")
    assert result.fixed == 1 and result.errors == []


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=repr)  # the ones YAML accepts
def test_ml001_fix_in_a_yaml_config_removes_only_the_unused_noqa(tmp_path, separator):
    config = tmp_path / "cfg.yaml"
    original = (f"# owner: ML team{separator}(see wiki)\nepochs: 10  # noqa: ML302\ntotal_steps: 1000\n"
                "warmup_ratio: 0.05\n")
    config.write_text(original, encoding="utf-8")
    runner.process(_task(config))
    assert config.read_text(encoding="utf-8") == original.replace("  # noqa: ML302", "")


def test_yaml_finding_rows_ignore_unicode_line_separators():
    """PyYAML counts U+2028 as a line break; its marks' rows must not be used as they are."""
    source = "# note\u2028\nepochs: 10\nwarmup_steps: 500\n"
    result = engine.lint_text(source, "cfg.yaml", "yaml", _rules())
    [d] = [d for d in result.diagnostics if d.code == "ML302"]
    assert (d.start.row, d.start.column) == (3, 1)


# ---- F8: positions in the file's own text (form feeds), and fixes checked before writing ------------

FORM_FEED_STRING = ("import torch\n\n\n" + "\f" * 40 + "def normalize(obs, flag):\n    std = obs.std(dim=0)\n"
                    "    mean = obs.mean(dim=0)\n    return \"" + "a" * 70 + "\" if flag else (obs - mean) / std\n")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("feeds", [1, 3, 40])
def test_positions_and_fixes_after_form_feeds_are_in_the_file_text(newline, feeds):
    source = ("import torch\n\n\n" + "\f" * feeds + SANITIZE + "\f\nx = 1\n").replace("\n", newline)
    assert cst.parse_module(source).code != source  # LibCST's own text differs: the case under test
    [d] = engine.lint_text(source, "y.py", "python", _rules()).diagnostics
    row = split_lines(source)[d.start.row - 1]
    assert row[d.start.column - 1:d.end.column - 1] == ML101_BAD
    fixed = engine.lint_text(source, "y.py", "python", _rules(), fix=True)
    assert fixed.errors == [] and fixed.new_source == source.replace(ML101_BAD, ML101_FIXED)


def test_a_fix_after_form_feeds_never_lands_in_a_string():
    result = engine.lint_text(FORM_FEED_STRING, "x.py", "python", _rules(), fix=True)
    assert (result.errors, result.fixed) == ([], 1)
    assert result.new_source == FORM_FEED_STRING.replace("/ std\n", "/ (std + 1e-8)\n")


def test_a_fix_at_a_wrong_position_is_refused_even_when_the_result_parses(tmp_path, monkeypatch):
    """The safety net under the position mapping: with it disabled (positions on LibCST's text, as
    before), ML103's edit lands inside the string literal, still parses, and must not be written."""
    from mllint.engine import positions

    monkeypatch.setattr(positions, "align", lambda regenerated, source: positions.OffsetMap([0], [0], len(regenerated)))
    path = tmp_path / "x.py"
    path.write_text(FORM_FEED_STRING)
    result = runner.process(_task(path))
    assert path.read_text() == FORM_FEED_STRING and result.fixed == 0
    assert any(engine.MISPLACED_FIX in e for e in result.errors)


@pytest.mark.parametrize("offset_shift, column_shift, accepted", [
    (0, 0, True),  # the edit where its text is
    (-2, 0, False),  # two characters early: inside the string
    (0, 40, False),  # a column past the end of the row would run into the next row
])
def test_check_fix_applies_an_edit_only_where_its_text_is(offset_shift, column_shift, accepted):
    source = "import torch\nx = 'abcdef' + y\nz = 1\n"
    starts = line_starts(source)
    begin = source.index("y\n") + offset_shift
    start = location_at(starts, begin)
    end = location_at(starts, begin + 1)
    edit = Edit(start, Location(end.row, end.column + column_shift), "w", old="y")
    candidate, problem = engine.check_fix(source, [edit], "python")
    assert (problem is None) == accepted
    assert candidate == (source.replace("+ y", "+ w") if accepted else source)


def test_a_file_whose_positions_cannot_be_mapped_gets_findings_but_no_fix():
    # LibCST re-indents the second line of the block with the first one's form feed (it adds a
    # character), so its offsets cannot be mapped onto the file
    source = "import torch\ndef f(p):\n\f    x = 1\n    p.grad = " + ML101_BAD + "\n"
    module = cst.parse_module(source)
    assert len(module.code) > len(source)
    result = engine.lint_text(source, "t.py", "python", _rules(), fix=True)
    assert [d.code for d in result.diagnostics] == ["ML101"]
    assert result.diagnostics[0].fix is None and result.new_source is None and result.errors == []
    [d] = result.diagnostics  # still pointing at its code
    assert split_lines(source)[d.start.row - 1][d.start.column - 1:d.end.column - 1] == ML101_BAD


# ---- F9: symlinks and hard links ------------------------------------------------------------------

BAD_FILE = "import torch\n\n\n" + SANITIZE


def test_fix_through_a_symlink_fixes_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "common.py"
    target.write_text(BAD_FILE)
    os.chmod(target, 0o640)
    link = tmp_path / "common.py"
    link.symlink_to(Path("shared") / "common.py")
    result = runner.process(_task(link))
    assert result.fixed == 1 and result.errors == []
    assert link.is_symlink() and os.readlink(link) == os.path.join("shared", "common.py")
    assert target.read_text() == BAD_FILE.replace(ML101_BAD, ML101_FIXED)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["common.py"]  # no temporary left


def test_fix_never_writes_through_a_symlink_that_leaves_the_project(tmp_path):
    # a checkout must not make `mllint --fix .` edit one of the user's files elsewhere
    outside = tmp_path / "home" / "notes.py"
    outside.parent.mkdir()
    outside.write_text(BAD_FILE)
    project = tmp_path / "project"
    project.mkdir()
    link = project / "train.py"
    link.symlink_to(outside)
    result = runner.process(_task(link, root=project))
    assert outside.read_text() == BAD_FILE and link.is_symlink()
    assert result.fixed == 0 and [d.code for d in result.diagnostics] == ["ML101"]
    [error] = result.errors
    assert "outside the project" in error and "not written" in error


def test_fix_of_a_hard_linked_file_keeps_the_link(tmp_path):
    first = tmp_path / "a.py"
    first.write_text(BAD_FILE)
    second = tmp_path / "b.py"
    os.link(first, second)
    runner.process(_task(first))
    assert os.path.samefile(first, second) and first.stat().st_nlink == 2
    assert second.read_text() == BAD_FILE.replace(ML101_BAD, ML101_FIXED)


def test_fix_keeps_the_mode(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD_FILE)
    os.chmod(path, 0o750)
    runner.process(_task(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o750 and ML101_FIXED in path.read_text()


# ---- F11: the content is compared, not only the modification time ---------------------------------

@pytest.mark.parametrize("hard_link", [False, True], ids=["file", "hard-linked"])
def test_an_edit_that_keeps_the_mtime_is_not_overwritten(tmp_path, monkeypatch, hard_link):
    path = tmp_path / "train.py"
    path.write_text(BAD_FILE)
    if hard_link:
        os.link(path, tmp_path / "other.py")
    before = path.stat()
    original = runner.lint_source
    edited = "# the user's edit\n" + BAD_FILE

    def edit_during_lint(*args, **kwargs):
        result = original(*args, **kwargs)
        path.write_text(edited)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as coarse timestamps or tools do
        return result

    monkeypatch.setattr(runner, "lint_source", edit_during_lint)
    result = runner.process(_task(path))
    assert path.read_text() == edited
    assert any("changed on disk" in e for e in result.errors)
    # what is reported is the file as it stays (unfixed), not "all checks passed"
    assert result.fixed == 0 and [d.code for d in result.diagnostics] == ["ML101"]


# ---- F10, F24: notebooks ----------------------------------------------------------------------------

def _code_cell(source, key_text=None) -> str:
    source_json = key_text if key_text is not None else json.dumps(source)
    return ('  {\n   "cell_type": "code",\n   "execution_count": null,\n   "metadata": {},\n   "outputs": [],\n'
            f'   "source": {source_json}\n  }}')


def _notebook(cells: list[str]) -> str:
    return '{\n "cells": [\n' + ",\n".join(cells) + "\n ],\n" + \
        ' "metadata": {},\n "nbformat": 4,\n "nbformat_minor": 5\n}\n'


def test_a_duplicated_source_key_fixes_the_one_jupyter_reads_and_loses_no_code(tmp_path):
    lines = ["import torch\n", *SANITIZE.splitlines(keepends=True)]
    duplicated = '["import os\\n"],\n   "source": ' + json.dumps(lines)
    path = tmp_path / "dup.ipynb"
    path.write_text(_notebook([_code_cell(None, duplicated)]))
    result = runner.process(_task(path))
    assert result.fixed == 1 and result.errors == []
    text = path.read_text()
    assert json.loads(text)["cells"][0]["source"] == [line.replace(ML101_BAD, ML101_FIXED) for line in lines]
    assert text.count('"source"') == 2 and '["import os\\n"]' in text  # the ignored key is left as it was


def test_a_duplicated_cells_key_reads_the_last_one(tmp_path):
    path = tmp_path / "dup.ipynb"
    first = ' "cells": [\n' + _code_cell("import os\n") + "\n ],\n"
    path.write_text(_notebook([_code_cell("import torch\n" + SANITIZE)]).replace('{\n', '{\n' + first, 1))
    result = runner.process(_task(path, fix=False))
    assert [(d.code, d.cell) for d in result.diagnostics] == [("ML101", 1)]
    runner.process(_task(path))
    text = path.read_text()
    assert json.loads(text)["cells"][0]["source"] == "import torch\n" + SANITIZE.replace(ML101_BAD, ML101_FIXED)
    assert text.startswith("{\n" + first)  # the cells Jupyter ignores are left as they were


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"], ids=["cr", "crlf", "lf"])
def test_notebook_rows_after_a_cell_with_lone_cr_endings(tmp_path, newline):
    path = tmp_path / "cr.ipynb"
    cells = [_code_cell("import torch\n"), _code_cell(f"a = 1{newline}%time b = 2{newline}c = 3{newline}"),
             _code_cell(SANITIZE)]
    path.write_text(_notebook(cells))
    [d] = runner.process(_task(path, fix=False)).diagnostics
    assert (d.cell, d.start.row, d.start.column) == (3, 3, 18)
    runner.process(_task(path))
    sources = [c["source"] for c in json.loads(path.read_text())["cells"]]
    assert sources == ["import torch\n", f"a = 1{newline}%time b = 2{newline}c = 3{newline}",
                       SANITIZE.replace(ML101_BAD, ML101_FIXED)]


def test_a_unicode_line_separator_in_a_cell_string_is_not_taken_for_a_magic_line(tmp_path):
    path = tmp_path / "u.ipynb"
    source = 'import torch\nnote = "50\u2028%of runs"\n' + SANITIZE
    path.write_text(_notebook([_code_cell(source)]))
    [d] = runner.process(_task(path, fix=False)).diagnostics
    assert (d.start.row, d.start.column) == (5, 18)
    runner.process(_task(path))
    assert json.loads(path.read_text())["cells"][0]["source"] == source.replace(ML101_BAD, ML101_FIXED)


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"], ids=["cr", "crlf", "lf"])
def test_invalid_notebook_json_is_located_on_the_right_row(newline):
    from mllint.formats import notebook

    with pytest.raises(notebook.NotebookError) as caught:
        notebook.read(newline.join(["{", ' "cells": [', "  1,,", " ]", "}"]))
    assert (caught.value.row, caught.value.column) == (3, 5)


def test_notebook_file_positions_count_rows_as_cells_do():
    """SARIF and GitHub annotations point into the .ipynb: a cell's rows are mapped with the same
    numbering (here a form feed, which str.splitlines() would take for a line break)."""
    from mllint.formats import notebook

    text = _notebook([_code_cell(["x = 1\f\n", "y = 2\n", "z = 3\n"])])
    cells = notebook.locate_cells(text)
    line, column = notebook.file_position(text, cells, 1, 3, 1)
    assert split_lines(text)[line - 1][column - 1:].startswith("z = 3")

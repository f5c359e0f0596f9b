"""Jupyter notebooks through the real command line: code cells linted as one module, IPython
syntax masked without shifting positions, diagnostics naming the cell, fixes that rewrite only
the changed cells' sources and keep everything else byte for byte, and malformed notebooks as
one diagnostic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.engine.files import kind_of
from mllint.formats.notebook import join, locate_cells, mask, rewrite, split, unmask
from mllint.run.runner import Task, rules_for
from mllint.testing import _settings

from .notebooks import CELLS, FIXED_CELL_5, notebook_text

BAD_LINE = "p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0, neginf=-1.0)"
FIXED_LINE = 'p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float("inf"), neginf=float("-inf"))'


def invoke(*args, input=None):
    return CliRunner().invoke(main, ["--no-cache", *args] if args and args[0] != "check" else list(args),
                              input=input)


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_nb(path: Path, cells, colab: bool = False) -> str:
    text = notebook_text(colab=colab, cells=cells)
    path.write_text(text, encoding="utf-8")
    return text


def test_ipynb_is_a_notebook_kind():
    assert kind_of(Path("train.ipynb")) == "notebook"
    assert kind_of(Path("Train.IPYNB")) == "notebook"


@pytest.mark.parametrize("colab", [True, False], ids=["colab-layout", "jupyter-layout"])
def test_seed_notebook_is_linted_and_fixed_with_outputs_intact(project, colab):
    path = project / "train.ipynb"
    original = write_nb(path, CELLS, colab=colab)

    out = invoke("train.ipynb")
    assert out.exit_code == 1, out.output
    assert out.output.splitlines()[0].startswith("train.ipynb:cell 5:10:26: ML101 [*] `torch.nan_to_num`")
    assert "Found 1 error." in out.output

    as_json = json.loads(invoke("--format", "json", "train.ipynb").output)
    assert [(d["cell"], d["location"], d["code"]) for d in as_json] == [(5, {"row": 10, "column": 26}, "ML101")]
    assert as_json[0]["filename"] == "train.ipynb"

    fixed = invoke("--fix", "train.ipynb")
    assert fixed.exit_code == 0, fixed.output
    new_text = path.read_text(encoding="utf-8")
    # the one changed source line is the only difference in the file: layout, key order, ids,
    # outputs (an image and a stream), metadata, escapes and the (missing) trailing newline kept
    assert new_text == original.replace(json.dumps(BAD_LINE)[1:-1], json.dumps(FIXED_LINE)[1:-1])
    assert new_text != original
    nb = json.loads(new_text)
    assert "".join(nb["cells"][4]["source"]) == FIXED_CELL_5
    assert nb["cells"][4]["outputs"][0]["data"]["image/png"].startswith("iVBOR")
    nbformat.validate(nb)
    assert invoke("train.ipynb").exit_code == 0


def test_a_notebook_with_nothing_to_fix_is_not_rewritten(project):
    path = project / "clean.ipynb"
    cells = [c if i != 4 else ("code", FIXED_CELL_5) for i, c in enumerate(CELLS)]
    original = write_nb(path, cells)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    out = invoke("--fix", "clean.ipynb")
    assert out.exit_code == 0, out.output
    assert path.read_text(encoding="utf-8") == original
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_magics_and_shell_lines_do_not_shift_positions(project):
    cells = [("code", "import torch as T"),
             ("code", "!nvidia-smi\n%time x = 1\nfiles = !ls\nhelp?\nfor p in model.parameters():\n"
                      "    !echo step\n    p.grad = T.nan_to_num(p.grad)")]
    write_nb(project / "nb.ipynb", cells)
    out = invoke("nb.ipynb")
    assert out.output.splitlines()[0].startswith("nb.ipynb:cell 2:7:14: ML101"), out.output


def test_time_cell_magic_body_is_linted_and_bash_cell_is_not(project):
    cells = [("code", "import torch"),
             ("code", "%%bash\nfor p in x; do echo p.grad = torch.nan_to_num(p.grad); done"),
             ("code", "%%time\nfor p in model.parameters():\n    p.grad = torch.nan_to_num(p.grad)\n")]
    write_nb(project / "nb.ipynb", cells)
    out = invoke("nb.ipynb")
    lines = [line for line in out.output.splitlines() if "ML" in line]
    assert [line.split(": ")[0] for line in lines] == ["nb.ipynb:cell 3:3:14"], out.output
    fixed = invoke("--fix", "nb.ipynb")
    assert fixed.exit_code == 0
    nb = json.loads((project / "nb.ipynb").read_text())
    assert "".join(nb["cells"][1]["source"]) == cells[1][1]  # untouched
    assert "".join(nb["cells"][2]["source"]).startswith("%%time\n")
    assert 'posinf=float("inf")' in "".join(nb["cells"][2]["source"])


def test_imports_from_earlier_cells_and_noqa_in_cells(project):
    cells = [("code", "from torch import nan_to_num"), ("markdown", "text"),
             ("code", "for p in params:\n    p.grad = nan_to_num(p.grad)  # noqa: ML101\n"
                      "    p.grad = nan_to_num(p.grad)")]
    write_nb(project / "nb.ipynb", cells)
    out = invoke("nb.ipynb")
    assert [line.split(": ")[0] for line in out.output.splitlines() if "ML101" in line] == ["nb.ipynb:cell 3:3:14"]


def test_syntax_error_in_a_cell_is_located_in_that_cell(project):
    write_nb(project / "nb.ipynb", [("code", "import torch"), ("code", "x = 1\ndef f(:\n    pass")])
    out = invoke("nb.ipynb")
    assert out.exit_code == 1
    assert out.output.splitlines()[0].startswith("nb.ipynb:cell 2:2:"), out.output
    assert "ML000" in out.output


def test_directories_include_notebooks(project):
    (project / "notebooks").mkdir()
    write_nb(project / "notebooks" / "train.ipynb", CELLS)
    out = invoke(".")
    assert "notebooks/train.ipynb:cell 5:10:26: ML101" in out.output


@pytest.mark.parametrize("text, message", [
    ('{"cells": [', "invalid JSON"),
    ("[1, 2]", "not a notebook"),
    ('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}', "nbformat 3"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "x", '
     '"metadata": {}, "id": "a"}]}', "nbformat 4 schema"),
    ('{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": 3, '
     '"metadata": {}, "outputs": [], "execution_count": null}]}', "nbformat 4 schema"),
    ("", "invalid JSON"),
])
def test_malformed_notebook_is_one_clear_diagnostic(project, text, message):
    path = project / "bad.ipynb"
    path.write_text(text)
    for args in (("bad.ipynb",), ("--fix", "bad.ipynb")):
        out = invoke(*args)
        assert out.exit_code == 1, out.output
        assert out.exception is None or isinstance(out.exception, SystemExit)
        found = [line for line in out.output.splitlines() if line.startswith("bad.ipynb:")]
        assert len(found) == 1 and "ML000" in found[0] and message in found[0], out.output
        assert "internal error" not in out.output
        assert path.read_text() == text


def test_invalid_json_is_reported_where_the_json_breaks(project):
    (project / "bad.ipynb").write_text('{\n "cells": [\n  {,\n')
    out = invoke("bad.ipynb")
    assert out.output.startswith("bad.ipynb:3:4: ML000"), out.output


def test_stdin_notebook(project):
    text = notebook_text(colab=False)
    out = invoke("--stdin-filename", "train.ipynb", input=text)
    assert out.exit_code == 1
    assert "train.ipynb:cell 5:10:26: ML101" in out.output
    fixed = CliRunner().invoke(main, ["--fix", "--stdin-filename", "train.ipynb", "--quiet"], input=text)
    assert fixed.stdout.startswith(text.replace(json.dumps(BAD_LINE)[1:-1], json.dumps(FIXED_LINE)[1:-1]))


def test_diff_mode_shows_the_json_change_and_writes_nothing(project):
    path = project / "train.ipynb"
    original = write_nb(path, CELLS)
    out = invoke("--diff", "train.ipynb")
    assert out.exit_code == 1
    assert "-    \"                " + json.dumps(BAD_LINE)[1:-1] in out.output
    assert path.read_text() == original


# ---- the pieces ------------------------------------------------------------------------------

TOKEN = "mllint-test"


@pytest.mark.parametrize("source, masked_rows", [
    ("!pip install torch\nimport torch", [1]),
    ("%matplotlib inline\n%load_ext autoreload", [1, 2]),
    ("files = !ls\nt = %timeit -o f()", [1, 2]),
    ("model?\n??model\nmodel.fit??", [1, 2, 3]),
    ("for i in range(3):\n    !echo $i\n    x = i", [2]),
    ("!pip install a \\\n    b\nx = 1", [1, 2]),
    ("%%bash\nls\necho hi", [1, 2, 3]),
    ("%%time\nx = 1\n!ls", [1, 3]),
    # not IPython: inside brackets, strings, continuation lines, or ordinary operators
    ("x = (1\n  % 2)", []),
    ('s = """\n%d items\n!not shell\n"""', []),
    ("y = a \\\n    % b", []),
    ("if a != b:\n    pass", []),
    ("d = {'k': 1,\n     }\n!ls", [3]),
])
def test_mask(source, masked_rows):
    originals: list[str] = []
    masked = mask(source, TOKEN, originals)
    lines = masked.splitlines()
    assert len(lines) == len(source.splitlines())
    assert [i for i, line in enumerate(lines, 1) if TOKEN in line] == masked_rows
    compile(masked, "cell", "exec")  # the masked cell is valid Python
    assert unmask(masked, TOKEN, originals) == source


def test_join_split_round_trip_and_text_before_the_first_cell():
    text = notebook_text(colab=False)
    cells = locate_cells(text)
    joined = join(cells)
    pieces = split(joined.text, joined.token)
    assert sorted(pieces) == [2, 3, 4, 5, 6, 8]
    for cell in joined.cells:
        body = unmask(pieces[cell.index + 1], joined.token, joined.originals)
        assert body.rstrip("\n") == cell.source.rstrip("\n")
    moved = split("import os\n" + joined.text, joined.token)
    assert moved[2].startswith("import os\n")


@pytest.mark.parametrize("colab", [True, False])
def test_rewrite_a_cell_with_more_lines_keeps_the_layout(colab):
    text = notebook_text(colab=colab)
    cells = locate_cells(text)
    new_source = "import math\nimport sys\n\n" + cells[2].source
    out = rewrite(text, cells, {2: new_source})
    nb = json.loads(out)
    assert "".join(nb["cells"][2]["source"]) == new_source
    # re-serialising the result in the file's own style gives back the same text
    if colab:
        assert out == json.dumps(nb, indent=2, ensure_ascii=True)
    else:
        assert out == json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_rewrite_single_string_sources():
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                     "source": "import torch\nx = 1"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    text = json.dumps(nb, indent=1)
    cells = locate_cells(text)
    assert not cells[0].is_list
    out = rewrite(text, cells, {0: "import torch\nx = 2"})
    nb["cells"][0]["source"] = "import torch\nx = 2"
    assert out == json.dumps(nb, indent=1)


def test_lint_notebook_api_maps_fix_edits_into_cells():
    from mllint.engine.api import lint_source

    settings = _settings("ML101", None, False, None, None)
    rules = rules_for(Task(Path("train.ipynb"), "train.ipynb", settings))
    result = lint_source(notebook_text(), "train.ipynb", "notebook", rules, project=settings)
    [d] = result.diagnostics
    assert d.cell == 5
    [edit] = d.fix.edits
    assert (edit.start.row, edit.start.column) == (10, 26)
    line = FIXED_CELL_5.splitlines()[9]
    assert line[edit.start.column - 1:].startswith(edit.content)


def test_a_cell_that_does_not_compile_is_reported_and_the_others_are_still_linted(project):
    cells = [("code", "import torch"),
             ("code", "model.generation_config\nGenerationConfig {\n  \"bos_token_id\": 1\n}"),  # pasted output
             ("code", "def create_gif(video):\n    \"\"\"Prepares a GIF."),  # truncated: unterminated docstring
             ("code", "for p in params:\n    p.grad = torch.nan_to_num(p.grad)")]
    path = project / "nb.ipynb"
    write_nb(path, cells)
    out = invoke("nb.ipynb")
    found = [line.split(": ")[0] + " " + line.split(": ")[1].split()[0] for line in out.output.splitlines()
             if line.startswith("nb.ipynb:")]
    assert found == ["nb.ipynb:cell 2:2:13 ML000", "nb.ipynb:cell 3:2:5 ML000", "nb.ipynb:cell 4:2:14 ML101"], out.output
    assert invoke("--fix", "nb.ipynb").exit_code == 1  # the syntax errors remain
    nb = json.loads(path.read_text())
    assert ["".join(c["source"]) for c in nb["cells"][:3]] == [c[1] for c in cells[:3]]
    assert 'posinf=float("inf")' in "".join(nb["cells"][3]["source"])


@pytest.mark.parametrize("colab", [True, False])
def test_file_positions_point_at_each_source_line(colab):
    from mllint.formats.notebook import file_position

    text = notebook_text(colab=colab)
    file_lines = text.splitlines()
    cells = locate_cells(text)
    checked = 0
    for cell in cells:
        for row, line in enumerate(cell.source.splitlines(), 1):
            if not line.strip() or '"' in line or not line.isascii():
                continue
            column = len(line) - len(line.lstrip()) + 1
            at_line, at_col = file_position(text, cells, cell.index + 1, row, column)
            assert file_lines[at_line - 1][at_col - 1:].startswith(line.lstrip()), (cell.index, row)
            checked += 1
    assert checked > 20


def test_seed_marl_notebook_unsafe_fixes_keep_outputs_and_match_the_py_fix(project):
    """ML201's fix inserts a helper class after the imports: in a notebook it lands in the imports
    cell, and the fixed code cells say exactly what fixing the same code as a .py file says."""
    from mllint.testing import fix as fix_source

    from .notebooks import MARL_CELLS

    path = project / "marl.ipynb"
    original = write_nb(path, MARL_CELLS, colab=True)
    out = invoke("--format", "json", "marl.ipynb")
    found = {(d["code"], d["cell"], d["location"]["row"]) for d in json.loads(out.output)}
    assert {("ML202", 4, 11), ("ML201", 4, 18)} <= found, out.output

    fixed = invoke("--fix", "--unsafe-fixes", "marl.ipynb")
    assert fixed.exit_code == 0, fixed.output
    old, new = json.loads(original), json.loads(path.read_text())
    nbformat.validate(new)
    assert [c.get("outputs") for c in new["cells"]] == [c.get("outputs") for c in old["cells"]]
    for keep in (0, 1, 4):  # markdown, magics, and the cell nothing was wrong with
        assert new["cells"][keep] == old["cells"][keep]
    sources = ["".join(c["source"]) for c in new["cells"]]
    assert sources[3] != MARL_CELLS[3][1]

    as_py = "\n".join(MARL_CELLS[i][1] for i in (2, 3)) + "\n"
    expected = fix_source(as_py, ["ML201", "ML202"], unsafe=True)
    got = "\n".join(sources[i] for i in (2, 3)) + "\n"

    def lines(text):
        return [line for line in text.splitlines() if line.strip()]

    assert lines(got) == lines(expected)
    for source in sources[2:4]:
        compile(source, "cell", "exec")


def test_cells_that_start_indented_run_as_ipython_runs_them(project):
    # the body of an `if __name__ == "__main__":` split into cells: IPython removes the first
    # line's indent, so these cells run; diagnostics keep the cell's own rows and columns, and the
    # fix is written back into the indented cell
    cells = [("code", "import torch"),
             ("code", "    for p in params:\n        p.grad = torch.nan_to_num(p.grad)\n"),
             ("code", "    # a comment first\n    x = 1\n    def f(:\n        pass")]
    path = project / "nb.ipynb"
    write_nb(path, cells)
    out = invoke("nb.ipynb")
    found = [line.split(": ")[0] + " " + line.split(": ")[1].split()[0] for line in out.output.splitlines()
             if line.startswith("nb.ipynb:")]
    assert found == ["nb.ipynb:cell 2:2:18 ML101", "nb.ipynb:cell 3:3:11 ML000"], out.output
    invoke("--fix", "nb.ipynb")
    nb = json.loads(path.read_text())
    assert "".join(nb["cells"][1]["source"]) == \
        '    for p in params:\n        p.grad = torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))\n'


def test_line_references_in_messages_are_cell_lines():
    from mllint.diagnostics import Diagnostic, Location
    from mllint.formats.notebook import _mapper, map_diagnostic

    where = _mapper([(2, 2), (5, 10)])  # cell 2 starts at joined row 2, cell 5 at row 10
    d = Diagnostic("ML801", "x", "runs after `model.eval()` (line 12), see line 3", "nb.ipynb",
                   Location(14, 1), Location(14, 5))
    mapped = map_diagnostic(d, where)
    assert (mapped.cell, mapped.start.row) == (5, 5)
    assert mapped.message == "runs after `model.eval()` (line 3), see cell 2, line 2"

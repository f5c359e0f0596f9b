"""Promise 1 against hostile inputs: a YAML alias bomb or a deeply nested config, a notebook
Python's json cannot read, a FIFO or a device behind a linted name, a file too large to parse
whole. Each gives a diagnostic or a one-line message, in bounded time and memory, and the other
files are still linted. A hang is a failure: every subprocess has a timeout."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.engine import lint as engine
from mllint.run import runner
from mllint.frontends.cli import main
from mllint.analysis.hydra import configs

TIMEOUT = 120  # a hang is a failure, not a stuck suite
BAD = b"import torch\np.grad = torch.nan_to_num(p.grad)\n"
APP = ('import hydra\n\n\n@hydra.main(config_path="{conf}", config_name="config", version_base=None)\n'
       'def main(cfg):\n    print(cfg)\n')
# 1 KB of YAML whose aliases expand to 10^10 mappings: the "billion laughs"
BOMB = "\n".join(["lr: 0.1", "a0: &a0 {" + ", ".join(f"k{j}: 1" for j in range(10)) + "}"]
                 + [f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(10)) + "}" for i in range(1, 10)]) + "\n"
DEEP_MAPPING = "lr: 0.1\ndeep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
DEEP_LIST_WITH_DEFAULTS = "defaults:\n  - _self_\nlr: 0.1\ndeep: " + "[" * 1500 + "]" * 1500 + "\n"


def mllint(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mllint", "--no-cache", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT, input=stdin)


def _hydra_app(root: Path, name: str, config: str) -> None:
    """An app `<name>.py` with config dir `conf_<name>/`, launched by `<name>.sh`."""
    (root / f"conf_{name}").mkdir()
    (root / f"conf_{name}" / "config.yaml").write_text(config)
    (root / f"{name}.py").write_text(APP.format(conf=f"conf_{name}"))
    (root / f"{name}.sh").write_text(f"#!/bin/bash\npython {name}.py lr=0.2 not_a_key=1\n")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One tree with every hostile input, linted by one cold run (shared by the tests below)."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "pyproject.toml").write_text("[tool.mllint]\n")
    (root / "sentinel.py").write_bytes(BAD)
    os.mkfifo(root / "fifo.py")
    os.symlink("/dev/zero", root / "zero.py")
    os.mkfifo(root / "fifo.ipynb")
    (root / "deep.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    (root / "big_int.ipynb").write_text('{"nbformat": ' + "9" * 5000 + ', "cells": []}')
    _hydra_app(root, "bomb", BOMB)
    _hydra_app(root, "deep", DEEP_MAPPING)
    _hydra_app(root, "deeplist", DEEP_LIST_WITH_DEFAULTS)
    _hydra_app(root, "fine", "lr: 0.1\n")  # the control: its unknown key is reported
    return root, mllint("--jobs", "2", ".", cwd=root)


def _lines(proc: subprocess.CompletedProcess, start: str) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(start)]


def test_hostile_tree_has_no_traceback_no_internal_error_and_the_rest_is_linted(hostile):
    _, proc = hostile
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text and "internal error" not in text, text
    assert any(line.startswith("sentinel.py:2:10: ML101") for line in proc.stdout.splitlines())
    assert any(line.startswith("fine.sh:2:") and "ML502" in line for line in proc.stdout.splitlines()), text
    assert proc.returncode == 1  # findings; warnings are not failures


def test_yaml_alias_bomb_in_a_hydra_config_is_a_warning_naming_it_not_a_hang(hostile):
    root, proc = hostile
    warning = [w for w in _lines(proc, "mllint: warning:") if "conf_bomb" in w]
    assert len(warning) == 1 and "aliases expand to more than" in warning[0], proc.stderr
    assert not any(line.startswith("bomb.sh:") for line in proc.stdout.splitlines())


def test_deeply_nested_hydra_config_is_a_warning_for_shell_launchers(hostile):
    _, proc = hostile
    warning = [w for w in _lines(proc, "mllint: warning:") if "conf_deep/" in w]
    assert len(warning) == 1 and "nested more than" in warning[0], proc.stderr


def test_deeply_nested_yaml_linted_itself_is_ml000_not_an_internal_error(hostile):
    _, proc = hostile
    assert not any("deeplist" in line for line in _lines(proc, "mllint: error:"))
    assert _lines(proc, "conf_deeplist/config.yaml:") == [
        f"conf_deeplist/config.yaml:4:{6 + configs.MAX_DEPTH + 1}: ML000 YAML nested more than "
        f"{configs.MAX_DEPTH} levels deep"]


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_deep_yaml_is_refused_where_the_limit_is_crossed_not_after_scanning_it_all(opening):
    """PyYAML's scanner is quadratic in flow nesting: the loader stops at the first level over the
    limit (the mark says how far it read), however deep the rest goes."""
    import yaml

    depth = 20 * configs.MAX_DEPTH
    if opening == "- ":  # block nesting: each level indented, so the text grows as depth squared
        depth = 5 * configs.MAX_DEPTH
        text = "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "1\n"
    else:
        text = "x: " + opening * depth + "1" + ("]" if opening == "[" else "}") * depth + "\n"
    with pytest.raises(configs.TooDeep) as caught:
        yaml.compose(text, Loader=configs.BoundedLoader)
    assert caught.value.problem_mark.index < len(text) // 10


@pytest.mark.parametrize("name, message", [
    ("deep.ipynb", "ML000 malformed notebook: JSON nested too deeply to read"),
    ("big_int.ipynb", "ML000 malformed notebook: JSON that Python cannot read"),
])
def test_a_notebook_json_cannot_read_is_ml000_and_the_run_goes_on(hostile, name, message):
    _, proc = hostile
    assert any(line.startswith(f"{name}:1:1: {message}") for line in proc.stdout.splitlines()), proc.stdout


@pytest.mark.parametrize("name, what", [("fifo.py", "a FIFO"), ("zero.py", "a device"), ("fifo.ipynb", "a FIFO")])
def test_only_regular_files_are_read_while_walking(hostile, name, what):
    _, proc = hostile
    assert _lines(proc, f"mllint: warning: {name}:") == [f"mllint: warning: {name}: not a regular file ({what}); "
                                                         "not linted"]


def test_a_fifo_named_on_the_command_line_is_an_error_not_a_pass(hostile):
    root, _ = hostile
    proc = mllint("fifo.py", "zero.py", "sentinel.py", cwd=root)
    assert "mllint: error: fifo.py: not a regular file (a FIFO); not linted" in proc.stderr
    assert "mllint: error: zero.py: not a regular file (a device); not linted" in proc.stderr
    assert "sentinel.py:2:10: ML101" in proc.stdout
    assert proc.returncode == 2


def test_fifos_in_hydra_config_dirs_and_app_index_do_not_block(tmp_path):
    _hydra_app(tmp_path, "app", "defaults:\n  - db: a\nlr: 0.1\n")
    (tmp_path / "conf_app" / "db").mkdir()
    os.mkfifo(tmp_path / "conf_app" / "db" / "a.yaml")  # the group option the config selects
    os.mkfifo(tmp_path / "other.py")  # read when the app index is built
    proc = mllint("app.sh", "conf_app/config.yaml", cwd=tmp_path)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_the_unreadable_config_warning_survives_the_cache(tmp_path):
    """The per-file cache keeps diagnostics only: a result with a rule's warning is not cached,
    or the next run (the tree changed elsewhere, so no replay) would pass silently."""
    _hydra_app(tmp_path, "bomb", BOMB)
    for i in range(3):
        (tmp_path / f"note{i}.txt").write_text("a change elsewhere: the run is not replayed\n")
        proc = subprocess.run([sys.executable, "-m", "mllint", "bomb.sh"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert "conf_bomb/config.yaml: cannot be read as a Hydra config" in proc.stderr, (i, proc.stderr)


def test_alias_bomb_on_stdin_as_an_editor_sends_it(tmp_path):
    _hydra_app(tmp_path, "bomb", BOMB)
    proc = mllint("--stdin-filename", "bomb.sh", cwd=tmp_path, stdin=(tmp_path / "bomb.sh").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _lsp_client():
    path = Path(__file__).resolve().parents[1] / "integrations" / "test_lsp.py"
    spec = importlib.util.spec_from_file_location("_mllint_lsp_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_language_server_answers_on_an_alias_bomb_config(tmp_path):
    lsp = _lsp_client()
    _hydra_app(tmp_path, "bomb", BOMB)
    _hydra_app(tmp_path, "fine", "lr: 0.1\n")
    for client in lsp.started(tmp_path, {}):
        for name in ("bomb.sh", "fine.sh"):
            uri = (tmp_path / name).as_uri()
            client.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "shellscript", "version": 1, "text": (tmp_path / name).read_text()}})
        assert client.diagnostics((tmp_path / "bomb.sh").as_uri()) == []
        assert [d["code"] for d in client.diagnostics((tmp_path / "fine.sh").as_uri())] == ["ML502"]


# ---- the bounded YAML reader ------------------------------------------------------------------

def test_alias_expansion_is_counted_without_expanding(tmp_path):
    configs._LOADED.clear()
    (tmp_path / "bomb.yaml").write_text(BOMB)
    with pytest.raises(configs.Unreadable, match="aliases expand"):
        configs._load_yaml(tmp_path / "bomb.yaml")
    with pytest.raises(configs.Unreadable):  # the refusal is remembered, not recomputed
        configs._load_yaml(tmp_path / "bomb.yaml")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n"])
def test_a_config_containing_itself_is_unreadable(tmp_path, text):
    (tmp_path / "loop.yaml").write_text(text)
    with pytest.raises(configs.Unreadable, match="refers to a node containing it"):
        configs._load_yaml(tmp_path / "loop.yaml")


def test_ordinary_aliases_still_compose(tmp_path):
    (tmp_path / "config.yaml").write_text("base: &b {lr: 0.1, wd: 0}\nopt: *b\nsched: {<<: *b, warmup: 5}\n")
    comp = configs.compose(configs.Repo((tmp_path,)), "config")
    assert configs.lookup(comp.tree, "opt.wd") == ("present", 0)
    assert configs.lookup(comp.tree, "sched.warmup") == ("present", 5)


# ---- notebooks in the editor -------------------------------------------------------------------

def test_notebook_on_stdin_that_json_cannot_read_is_ml000(tmp_path):
    proc = mllint("--stdin-filename", "deep.ipynb", cwd=tmp_path, stdin="[" * 100_000 + "]" * 100_000)
    assert "deep.ipynb:1:1: ML000 malformed notebook: JSON nested too deeply to read" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_notebook_cells_from_an_editor_that_python_cannot_parse_are_ml000():
    from mllint.engine.api import lint_cells
    from mllint.formats.notebook import CellSpan

    cells = [CellSpan(0, "code", "x = " + "[" * 100_000 + "]" * 100_000 + "\n"), CellSpan(1, "code", BAD.decode())]
    linted = lint_cells(cells, "nb.ipynb", runner.rules_for(runner.Task(Path("nb.ipynb"), "nb.ipynb", _settings())))
    assert [(d.code, d.cell) for d in linted.broken] == [("ML000", 1)]
    assert [d.code for d in linted.result.diagnostics] == ["ML101"]


def _settings():
    from mllint.run.config import ConfigResolver

    return ConfigResolver().for_path(Path.cwd())


# ---- sizes -------------------------------------------------------------------------------------

def test_reads_stop_at_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big.py").write_bytes(BAD + b"x = 1\n" * 500)
    (tmp_path / "small.py").write_bytes(BAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "."])
    assert "big.py: too large to check (over the 0 MB limit); not linted" in out.output
    assert "small.py:2:10: ML101" in out.output
    assert not any(line.startswith("big.py:") for line in out.output.splitlines())


def test_memory_error_is_a_warning_never_a_false_syntax_error(monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(engine, "compile_check", out_of_memory)
    result = engine.lint_text(BAD.decode(), "m.py", "python", runner.rules_for(
        runner.Task(Path("m.py"), "m.py", _settings())))
    assert result.diagnostics == [] and result.errors == []
    assert result.warnings == ["m.py: too large to check: ran out of memory; not linted"]
    monkeypatch.setattr(engine, "MAX_ANALYSED_CHARS", 10)
    monkeypatch.setattr(engine, "_parse_error", out_of_memory)
    result = engine.lint_text(BAD.decode(), "m.py", "python", [])
    assert result.diagnostics == []
    assert result.warnings[-1] == "m.py: too large to check: ran out of memory checking its syntax"


# ---- the piecewise syntax check of large files: the same verdict as parsing the whole file ------

REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted(p for d in ("src", "tests", "fixtures") for p in (REPO / d).rglob("*.py"))
MUTATIONS = ["x = (\n", "def f(:\n", "  y = 1\n", ")\n", '"""\n', "else:\n", "@decorator\n", "try:\n"]


def _whole_error(source: str) -> SyntaxError | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in the corpus's strings
            compile(source, "f", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        return exc
    return None


def _whole(source: str):
    error = _whole_error(source)
    return None if error is None else error.lineno


def _pieces(source: str):
    problem, warning = engine._syntax_in_pieces(source, "f")
    assert warning is None
    return None if problem is None else problem.start.row


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Pieces of ~200 characters: every file of the corpus is cut in many places."""
    monkeypatch.setattr(engine, "SYNTAX_CHUNK_CHARS", 200)
    monkeypatch.setattr(engine, "MAX_SYNTAX_CHUNK_CHARS", 10**7)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_piecewise_syntax_check_accepts_every_valid_file_of_the_corpus(tiny_pieces, newline):
    assert len(CORPUS) > 50
    for path in CORPUS:
        source = path.read_text(encoding="utf-8").replace("\n", newline)
        assert _whole(source) is None and _pieces(source) is None, path


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_piecewise_syntax_check_finds_the_error_parsing_the_whole_file_finds(tiny_pieces, mutation):
    checked = 0
    for path in CORPUS[::7]:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for at in range(0, len(lines), max(1, len(lines) // 5)):
            source = "".join(lines[:at] + [mutation] + lines[at:])
            pieces, whole = _pieces(source), _whole(source)
            if pieces != whole and pieces is not None and whole is not None:
                # CPython, after a parser error, tokenizes the rest of the file and reports a
                # tokenizer error found there (an unterminated string further down) instead; the
                # piecewise check reports the parser error, which is earlier and is an error too.
                assert pieces < whole and str(_whole_error(source).msg).startswith("unterminated"), (path, at)
            else:
                assert pieces == whole, (path, at)
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("element", ["1,\n", "    1,\n"])
def test_a_statement_over_the_piece_limit_is_a_warning_and_never_parsed(monkeypatch, element):
    """A huge literal (its elements at column 0 or indented, so with or without places to cut)
    is not parsed beyond the piece limit: that is what bounds memory."""
    monkeypatch.setattr(engine, "SYNTAX_CHUNK_CHARS", 100)
    monkeypatch.setattr(engine, "MAX_SYNTAX_CHUNK_CHARS", 1000)
    parsed = []
    real = engine._parse_error
    monkeypatch.setattr(engine, "_parse_error", lambda piece, path: parsed.append(len(piece)) or real(piece, path))
    source = "y = 0\n" * 50 + "x = [\n" + element * 1000 + "]\ny = 1\n"
    problem, warning = engine._syntax_in_pieces(source, "f.py")
    found = re.fullmatch(r"f\.py: not checked for syntax: a statement at line (\d+) or after is over 0\.000953674 MB",
                         warning)
    assert problem is None and found and int(found.group(1)) <= 51  # `x = [` is line 51
    assert max(parsed) <= 1000


def test_piecewise_errors_have_the_file_position(monkeypatch):
    monkeypatch.setattr(engine, "SYNTAX_CHUNK_CHARS", 50)
    source = "x = 1\n" * 100 + "def f(:\n" + "y = 2\n" * 100
    problem, warning = engine._syntax_in_pieces(source, "f.py")
    assert warning is None and (problem.code, problem.start.row, problem.start.column) == ("ML000", 101, 7)


def test_newer_syntax_in_a_large_file_is_retried_only_on_its_piece(monkeypatch):
    if sys.version_info >= (3, 12):
        pytest.skip("`type X = int` is this interpreter's own syntax")
    monkeypatch.setattr(engine, "SYNTAX_CHUNK_CHARS", 50)
    asked = []
    monkeypatch.setattr(engine, "_newer_python_syntax", lambda piece: asked.append(len(piece)) or True)
    source = "x = 1\n" * 1000 + "type X = int\n" + "y = 2\n" * 1000
    assert engine._syntax_in_pieces(source, "f.py") == (None, None)
    assert asked and max(asked) < 200  # never the whole file

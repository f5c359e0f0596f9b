"""The command line: output, exit codes (also in fix mode), --diff, stdin, selection, paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint import __version__
from mllint.frontends.cli import main

BAD = "import torch\n\n\ndef step(p):\n    p.grad = torch.nan_to_num(p.grad)\n"
FIXED = ('import torch\n\n\ndef step(p):\n'
         '    p.grad = torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))\n')


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "train.py").write_text(BAD)
    (tmp_path / "clean.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def test_lint_reports_and_exits_1(project):
    out = invoke("--jobs", "1", ".")
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0].startswith("train.py:5:14: ML101 [*] `torch.nan_to_num` on a gradient")
    assert "Found 1 error." in lines
    assert "[*] 1 fixable with the `--fix` option." in lines


def test_default_path_is_the_current_directory(project):
    assert invoke().exit_code == 1


def test_clean_exits_0(project):
    out = invoke("clean.py")
    assert out.exit_code == 0
    assert "All checks passed!" in out.output


def test_clean_removes_every_cache_below_and_nothing_else(project):
    (project / "sub").mkdir()
    (project / "sub" / "pyproject.toml").write_text("[tool.mllint]\n")
    (project / "sub" / "train.py").write_text(BAD)
    CliRunner().invoke(main, ["--jobs", "1", "."])
    CliRunner().invoke(main, ["--jobs", "1", "sub"])
    assert (project / ".mllint_cache").is_dir() and (project / "sub" / ".mllint_cache").is_dir()
    out = CliRunner().invoke(main, ["clean"])
    assert out.exit_code == 0 and out.output.count("Removed ") == 2
    assert not list(project.rglob(".mllint_cache")) and (project / "sub" / "train.py").read_text() == BAD


def test_exit_zero(project):
    assert invoke("--exit-zero", "train.py").exit_code == 0


def test_fix_writes_and_exits_0_when_everything_is_fixed(project):
    out = invoke("--fix", "train.py")
    assert out.exit_code == 0, out.output
    assert (project / "train.py").read_text() == FIXED
    assert "1 fixed, 0 remaining" in out.output


def test_fix_exits_1_when_diagnostics_remain(project):
    (project / "train.py").write_text(BAD + "def f(p):\n    p.grad = torch.nan_to_num(p.grad)  # noqa\n")
    (project / "unfixable.py").write_text("def f(:\n")
    out = invoke("--fix", ".")
    assert out.exit_code == 1
    assert "ML000" in out.output


def test_diff_prints_and_does_not_write(project):
    out = invoke("--diff", "train.py")
    assert out.exit_code == 1
    assert '+    p.grad = torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))' in out.output
    assert (project / "train.py").read_text() == BAD


def test_diff_exit_0_when_nothing_to_fix(project):
    assert invoke("--diff", "clean.py").exit_code == 0


def test_json_uses_ruffs_field_names(project):
    out = invoke("--format", "json", "train.py")
    [d] = json.loads(out.output)
    assert {"code", "filename", "location", "end_location", "message", "fix", "url", "noqa_row", "cell"} <= set(d)
    assert d["code"] == "ML101" and d["name"] == "nan-to-num-masks-overflow"
    assert d["location"] == {"row": 5, "column": 14}
    assert d["fix"]["applicability"] == "safe"
    [edit] = d["fix"]["edits"]
    assert edit["location"] == {"row": 5, "column": 14}
    assert edit["content"].startswith("torch.nan_to_num(p.grad, posinf=")


def test_select_and_ignore(project):
    assert invoke("--ignore", "ML101", "train.py").exit_code == 0
    assert invoke("--select", "ML1", "train.py").exit_code == 1
    assert invoke("--select", "ML0", "train.py").exit_code == 0
    assert invoke("--select", "ML0", "--extend-select", "ML101", "train.py").exit_code == 1
    assert invoke("--select", "ML101", "--ignore", "ML1", "train.py").exit_code == 1  # more specific wins


def test_unknown_code_is_a_usage_error(project):
    out = invoke("--select", "XX1", "train.py")
    assert out.exit_code == 2
    assert "unknown rule code or prefix 'XX1'" in out.output


def test_missing_path_is_an_error(project):
    out = invoke("nope.py")
    assert out.exit_code == 2
    assert "nope.py: no such file or directory" in out.output


def test_stdin_lint(project):
    out = invoke("--stdin-filename", "train.py", input=BAD)
    assert out.exit_code == 1
    assert out.output.startswith("train.py:5:14: ML101")


def test_stdin_fix_writes_source_to_stdout_and_diagnostics_to_stderr(project):
    proc = subprocess.run([sys.executable, "-m", "mllint", "--fix", "--stdin-filename", "train.py"],
                          input=BAD + "x = torch.nan_to_num(p.grad)  # noqa\n", capture_output=True, text=True)
    assert proc.stdout == FIXED + "x = torch.nan_to_num(p.grad)  # noqa\n"
    assert proc.returncode == 0
    assert "1 fixed" in proc.stderr


def test_rules_and_version():
    out = invoke("rules")
    assert out.exit_code == 0
    assert "ML101  nan-to-num-masks-overflow" in out.output
    assert invoke("--version").output.strip().endswith(__version__)


def test_explain_by_name_and_unknown():
    assert invoke("explain", "nan-to-num-masks-overflow").output.startswith("# ML101")
    assert invoke("explain", "ML999").exit_code == 2


def test_walk_skips_venvs_and_build_dirs_but_named_files_are_linted(project):
    for d in (".venv/lib", "build", "node_modules/x", "__pycache__"):
        (project / d).mkdir(parents=True)
        (project / d / "t.py").write_text(BAD)
    (project / "train.py").write_text("x = 1\n")
    assert invoke(".").exit_code == 0
    assert invoke("build/t.py").exit_code == 1


def test_exclude_from_config(project):
    (project / "pyproject.toml").write_text("[tool.mllint]\nexclude = ['train.py']\n")
    assert invoke(".").exit_code == 0
    assert invoke("train.py").exit_code == 1  # named explicitly


def test_output_file(project, tmp_path):
    target = tmp_path / "report.json"
    out = invoke("--format", "json", "-o", str(target), "train.py")
    assert out.exit_code == 1
    assert json.loads(target.read_text())[0]["code"] == "ML101"


def test_statistics(project):
    out = invoke("--statistics", "train.py")
    assert out.output.split() == ["1", "ML101", "[*]", "nan-to-num-masks-overflow"]


def test_parallel_results_keep_a_stable_order(project):
    for i in range(12):
        (project / f"m{i:02d}.py").write_text(BAD)
    one = invoke("--jobs", "1", ".").output
    two = invoke("--jobs", "2", ".").output
    assert one == two and one.count("ML101") == 13


def test_fix_keeps_file_mode_bom_and_crlf(project):
    path = project / "train.py"
    path.write_bytes(b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode())
    os.chmod(path, 0o750)
    assert invoke("--fix", "train.py").exit_code == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + FIXED.replace("\n", "\r\n").encode()
    assert oct(path.stat().st_mode & 0o777) == oct(0o750)


def test_main_module_runs():
    proc = subprocess.run([sys.executable, "-m", "mllint", "rules"], capture_output=True, text=True)
    assert proc.returncode == 0 and "ML101" in proc.stdout


def test_a_file_reached_twice_is_linted_once(project):
    """Through a symlink, or named and also found in a directory walked through a symlinked path."""
    (project / "pkg").mkdir()
    (project / "pkg" / "model.py").write_text(BAD)
    os.symlink("pkg", project / "linked_pkg")
    os.symlink("train.py", project / "alias.py")
    out = invoke("--jobs", "1", "--format", "json", "pkg/model.py", "linked_pkg", ".")
    assert sorted(d["filename"].split("/")[-1] for d in json.loads(out.output)) == ["alias.py", "model.py"]


def test_rules_and_explain_need_no_rule_implementation():
    """`mllint rules` and `mllint explain` print metadata: neither imports LibCST."""
    for args in (["rules"], ["explain", "ML101"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mllint", *args], capture_output=True,
                              text=True)
        assert proc.returncode == 0 and "ML101" in proc.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "libcst" not in imported and "mllint.rules" not in imported


def test_server_without_pygls_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mllint.frontends.lsp", None)  # `from mllint.frontends.lsp import ...` raises ImportError
    out = invoke("server")
    assert out.exit_code == 2
    assert "pip install '.[lsp]'" in out.output
    assert "pip install mllint" not in out.output and "pip install \"mllint-training" not in out.output

"""`--stdin-filename`, as editors call it: a real `mllint` process, bytes in and out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BAD = b"import torch\r\n\r\ndef f(p):\r\n    p.grad = torch.nan_to_num(p.grad)\r\n"
FIXED = (b"import torch\r\n\r\ndef f(p):\r\n"
         b"    p.grad = torch.nan_to_num(p.grad, posinf=float(\"inf\"), neginf=float(\"-inf\"))\r\n")


def mllint(cwd: Path, *args: str, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mllint", "--no-cache", *args], cwd=cwd, input=data,
                          capture_output=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nexclude = ['vendored']\n"
                                             "per-file-ignores = { 'legacy/*' = ['ML101'] }\n")
    return tmp_path


def test_fix_round_trip_keeps_line_endings(project):
    out = mllint(project, "--fix", "--quiet", "--stdin-filename", "train.py", data=BAD)
    assert out.returncode == 0, out.stderr
    assert out.stdout == FIXED
    assert out.stderr == b""


def test_lint_formats_name_the_given_file(project):
    out = mllint(project, "--format", "json", "--stdin-filename", "src/train.py", data=BAD)
    assert out.returncode == 1
    [d] = json.loads(out.stdout)
    assert (d["filename"], d["location"]) == ("src/train.py", {"row": 4, "column": 14})
    gh = mllint(project, "--format", "github", "--stdin-filename", "src/train.py", data=BAD)
    assert gh.stdout.decode().startswith("::error file=src/train.py,line=4,col=14,")


def test_settings_of_the_named_path_apply(project):
    out = mllint(project, "--stdin-filename", "legacy/train.py", data=BAD)
    assert out.returncode == 0, out.stdout
    sub = project / "other"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[project]\nname = 'other'\n\n[tool.mllint]\nignore = ['ML1']\n")
    assert mllint(project, "--stdin-filename", "other/train.py", data=BAD).returncode == 0
    assert mllint(project, "--stdin-filename", "train.py", data=BAD).returncode == 1


def test_force_exclude_gives_excluded_files_back_unchanged(project):
    lint = mllint(project, "--force-exclude", "--stdin-filename", "vendored/train.py", data=BAD)
    assert (lint.returncode, lint.stdout) == (0, b"")
    fix = mllint(project, "--fix", "--force-exclude", "--stdin-filename", "vendored/train.py", data=BAD)
    assert (fix.returncode, fix.stdout) == (0, BAD)
    # without --force-exclude a named file is always linted
    assert mllint(project, "--stdin-filename", "vendored/train.py", data=BAD).returncode == 1


def test_syntax_error_on_stdin_in_fix_mode_returns_the_source(project):
    src = b"def f(:\n    pass\n"
    out = mllint(project, "--fix", "--exit-zero", "--quiet", "--stdin-filename", "train.py", data=src)
    assert out.returncode == 0
    assert out.stdout == src
    assert b"ML000" in out.stderr


def test_output_file_and_statistics_on_stdin(project):
    fix = mllint(project, "--fix", "--format", "json", "--output-file", "report.json", "--stdin-filename", "t.py",
                 data=b"def f(:\n")
    assert (fix.stdout, fix.stderr) == (b"def f(:\n", b"")
    assert [d["code"] for d in json.loads((project / "report.json").read_text())] == ["ML000"]
    lint = mllint(project, "--statistics", "--output-file", "stats.txt", "--stdin-filename", "t.py", data=BAD)
    assert (lint.returncode, lint.stdout) == (1, b"")
    assert (project / "stats.txt").read_text() == "1\tML101\t[*] nan-to-num-masks-overflow\n"

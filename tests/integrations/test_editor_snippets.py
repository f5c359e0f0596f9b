"""The fix-on-save snippets of the README, run in the real editors (headless Neovim, batch Emacs)
against the installed `mllint`. Skipped where the editor is not installed (`apt-get install
neovim emacs-nox`) or the README does not carry the snippet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BAD = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
       "        p.grad = torch.nan_to_num(p.grad)\n")
FIXED = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
         "        p.grad = torch.nan_to_num(p.grad, posinf=float(\"inf\"), neginf=float(\"-inf\"))\n")


def snippet(lang: str, marker: str) -> str:
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    for block in re.findall(rf"```{lang}\n(.*?)```", text, re.S):
        if marker in block:
            return block
    pytest.skip(f"README.md has no {lang} snippet with {marker!r}")


def env_with_mllint() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nexclude = ['vendored']\n")
    (tmp_path / "train.py").write_text(BAD)
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "train.py").write_text(BAD)
    (tmp_path / "broken.py").write_text("def f(:\n")
    return tmp_path


@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed")
def test_neovim_fix_on_save(project):
    (project / "fix.lua").write_text(snippet("lua", "BufWritePre"))
    for name in ("train.py", "vendored/train.py", "broken.py"):
        subprocess.run(["nvim", "--headless", "-u", "NONE", "-c", "luafile fix.lua", "-c", f"edit {name}",
                        "-c", "write", "-c", "qa!"], cwd=project, env=env_with_mllint(), timeout=120,
                       capture_output=True, check=True)
    assert (project / "train.py").read_text() == FIXED
    assert (project / "vendored" / "train.py").read_text() == BAD  # excluded: left alone
    assert (project / "broken.py").read_text() == "def f(:\n"  # nothing to fix: unchanged


@pytest.mark.skipif(shutil.which("emacs") is None, reason="Emacs is not installed")
def test_emacs_fix_on_save(project):
    (project / "fix.el").write_text(snippet("elisp", "mllint-fix-buffer"))
    for name in ("train.py", "vendored/train.py", "broken.py"):
        subprocess.run(["emacs", "--batch", "-Q", "-l", "fix.el", "--eval",
                        f'(progn (find-file "{name}") (python-mode) (set-buffer-modified-p t) (save-buffer))'],
                       cwd=project, env=env_with_mllint(), timeout=120, capture_output=True, check=True)
    assert (project / "train.py").read_text() == FIXED
    assert (project / "vendored" / "train.py").read_text() == BAD
    assert (project / "broken.py").read_text() == "def f(:\n"

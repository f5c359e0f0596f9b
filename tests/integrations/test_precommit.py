"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit` in a throwaway git repository
whose .pre-commit-config.yaml points at this repository (`repo: <this checkout>`, `rev: HEAD`).

pre-commit clones this repository at that commit and pip-installs it, with its dependencies, into
a virtualenv of its own (under a temporary PRE_COMMIT_HOME shared by the tests of this module), so
the first test takes a minute or so. Uncommitted changes to this repository are not seen: commit
first. Select these tests alone with `-m precommit`, or skip them with `-m "not precommit"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .notebooks import FIXED_CELL_5, notebook_text

pytestmark = pytest.mark.precommit

REPO = Path(__file__).resolve().parents[2]
BAD = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
       "        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0, neginf=-1.0)\n")
FIXED = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
         "        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float(\"inf\"), neginf=float(\"-inf\"))\n")
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def hook_rev() -> str:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of mllint")
    pytest.importorskip("pre_commit")
    tracked = _git(REPO, "ls-files", ".pre-commit-hooks.yaml")
    assert tracked, ".pre-commit-hooks.yaml must be committed for pre-commit to see it"
    return _git(REPO, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path: Path, hook_rev: str, pre_commit_home: Path):
    repo = tmp_path / "user"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.com")
    _git(repo, "config", "user.name", "test")
    _git(repo, "config", "commit.gpgsign", "false")
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {REPO}\n"
        f"    rev: {hook_rev}\n"
        "    hooks:\n"
        "      - id: mllint\n"
        "      - id: mllint-fix\n"
        "        stages: [manual]\n"
    )
    (repo / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nexclude = ['vendored']\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env["PRE_COMMIT_COLOR"] = "never"

    def run(*args: str) -> subprocess.CompletedProcess:
        _git(repo, "add", "-A")
        return subprocess.run([*PRE_COMMIT, "run", *args], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=900)

    run.repo = repo  # type: ignore[attr-defined]
    return run


def test_check_hook_fails_and_reports_on_a_bad_file(user_repo):
    (user_repo.repo / "train.py").write_text(BAD)
    out = user_repo("mllint", "--files", "train.py")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "train.py:6:18: ML101 [*]" in out.stdout
    assert "Failed" in out.stdout
    assert (user_repo.repo / "train.py").read_text() == BAD  # the check hook never writes


def test_check_hook_passes_on_clean_files_of_every_kind(user_repo):
    repo = user_repo.repo
    (repo / "clean.py").write_text("import torch\n\nx = torch.zeros(3)\n")
    (repo / "config.yaml").write_text("trainer:\n  max_steps: 100\n")
    (repo / "launch.sh").write_text("#!/bin/bash\npython train.py trainer.max_steps=100\n")
    (repo / "README.txt").write_text("not for mllint\n")
    out = user_repo("mllint", "--files", "clean.py", "config.yaml", "launch.sh", "README.txt")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mllint" in out.stdout and "Passed" in out.stdout


def test_check_hook_respects_the_configured_excludes(user_repo):
    (user_repo.repo / "vendored").mkdir()
    (user_repo.repo / "vendored" / "train.py").write_text(BAD)
    out = user_repo("mllint", "--files", "vendored/train.py")
    assert out.returncode == 0, out.stdout + out.stderr


def test_fix_hook_rewrites_the_file(user_repo):
    path = user_repo.repo / "train.py"
    path.write_text(BAD)
    out = user_repo("--hook-stage", "manual", "mllint-fix", "--files", "train.py")
    # pre-commit fails a hook that modified files, so the fix can be reviewed and staged
    assert out.returncode == 1, out.stdout + out.stderr
    assert "files were modified by this hook" in out.stdout
    assert path.read_text() == FIXED
    again = user_repo("mllint", "--files", "train.py")
    assert again.returncode == 0, again.stdout + again.stderr


def test_hooks_on_a_notebook(user_repo):
    path = user_repo.repo / "train.ipynb"
    original = notebook_text(colab=True)
    path.write_text(original)
    out = user_repo("mllint", "--files", "train.ipynb")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "train.ipynb:cell 5:10:26: ML101" in out.stdout

    fixed = user_repo("--hook-stage", "manual", "mllint-fix", "--files", "train.ipynb")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    new = json.loads(path.read_text())
    old = json.loads(original)
    assert "".join(new["cells"][4]["source"]) == FIXED_CELL_5
    assert new["cells"][4]["outputs"] == old["cells"][4]["outputs"]
    new["cells"][4]["source"] = old["cells"][4]["source"]
    assert new == old  # nothing else changed
    assert user_repo("mllint", "--files", "train.ipynb").returncode == 0

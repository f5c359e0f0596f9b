"""Which files a run lints: git's ignore files (respect-gitignore), virtual environments and Hydra
run directories found by what they hold, default excludes below named paths only (F23),
--show-files and --show-settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main

BAD = "import torch\n\n\ndef step(p):\n    p.grad = torch.nan_to_num(p.grad)\n"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def invoke(*args):
    return CliRunner().invoke(main, ["--no-cache", "--jobs", "1", *args])


def shown(*args) -> list[str]:
    out = invoke("--show-files", *args)
    assert out.exit_code == 0, out.output
    return out.output.splitlines()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A HOME and XDG_CONFIG_HOME of the test's own (the global excludes file lives there)."""
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


# An ML project after a few runs: what Hydra, W&B and Lightning write into it.
TREE = [
    "train.py",
    "src/model.py",
    "outputs/2024-05-01/12-00-00/.hydra/config.yaml",
    "outputs/2024-05-01/12-00-00/train.py",
    "multirun/2024-05-01/12-00-00/0/.hydra/config.yaml",
    "multirun/2024-05-01/12-00-00/0/train.py",
    "wandb/run-20240501_120000-abc/files/code/train.py",
    "lightning_logs/version_0/hparams.py",
    "scratch/notes.py",
    "scratch/keep/kept.py",
    "data/cache/generated.py",
    "local/mine.py",
    "sub/nested.py",
    "sub/tmp_ignored.py",
]


def make_tree(root: Path) -> None:
    for rel in TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("lr: 0.1\n" if rel.endswith(".yaml") else BAD)


@pytest.fixture
def repo(tmp_path, home, monkeypatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", ".")
    make_tree(root)
    (root / ".gitignore").write_text("outputs/\nwandb/\nlightning_logs/\n/scratch/*\n!/scratch/keep/\n")
    (root / "sub" / ".gitignore").write_text("tmp_*.py\n")
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("local/\n")
    (home / ".config" / "git" / "ignore").write_text("data/cache/\n")
    monkeypatch.chdir(root)
    return root


@needs_git
def test_the_files_linted_are_the_files_git_does_not_ignore(repo):
    linted = shown(".")
    not_ignored = sorted(p for p in git(repo, "ls-files", "--cached", "--others", "--exclude-standard").split()
                         if p.endswith(".py") and not p.startswith("multirun/"))  # a Hydra run: skipped anyway
    assert linted == not_ignored
    assert linted == ["scratch/keep/kept.py", "src/model.py", "sub/nested.py", "train.py"]


@needs_git
def test_ignored_files_are_neither_reported_nor_fixed(repo):
    out = invoke("--fix", ".")
    assert out.exit_code == 0, out.output
    assert "Found 4 errors (4 fixed" in out.output
    for rel in ("outputs/2024-05-01/12-00-00/train.py", "wandb/run-20240501_120000-abc/files/code/train.py",
                "lightning_logs/version_0/hparams.py", "local/mine.py", "data/cache/generated.py"):
        assert (repo / rel).read_text() == BAD, rel
    assert (repo / "train.py").read_text() != BAD


@needs_git
def test_named_paths_are_linted_even_when_ignored_unless_force_exclude(repo):
    named = "wandb/run-20240501_120000-abc/files/code/train.py"
    assert shown(named) == [named]
    assert shown("--force-exclude", named) == []
    assert shown("--force-exclude", "sub/tmp_ignored.py") == []
    assert shown("--force-exclude", "train.py") == ["train.py"]
    assert shown("lightning_logs") == ["lightning_logs/version_0/hparams.py"]  # as Ruff: a named directory


@needs_git
@pytest.mark.parametrize("how", ["flag", "setting"])
def test_respect_gitignore_can_be_turned_off(repo, how):
    args = ["--no-respect-gitignore"] if how == "flag" else []
    if how == "setting":
        (repo / "pyproject.toml").write_text("[tool.mllint]\nrespect-gitignore = false\n")
    linted = shown(*args, ".")
    assert "wandb/run-20240501_120000-abc/files/code/train.py" in linted
    assert "local/mine.py" in linted and "data/cache/generated.py" in linted
    assert not any(p.startswith(("outputs/", "multirun/")) for p in linted)  # Hydra runs: by .hydra/


@needs_git
def test_core_excludes_file_from_the_repository_config(repo, home):
    (home / ".config" / "git" / "ignore").unlink()
    assert "data/cache/generated.py" in shown(".")
    (repo / "my-ignores").write_text("src/\n")
    git(repo, "config", "core.excludesFile", str(repo / "my-ignores"))
    assert "src/model.py" not in shown(".")


@needs_git
def test_a_git_worktree_file_and_a_nested_repository(repo, tmp_path):
    (repo / "vendor").mkdir()
    git(repo / "vendor", "init", "-q", ".")
    (repo / "vendor" / ".gitignore").write_text("gen.py\n")
    (repo / "vendor" / "gen.py").write_text(BAD)
    (repo / "vendor" / "lib.py").write_text(BAD)
    linted = shown(".")
    assert "vendor/lib.py" in linted and "vendor/gen.py" not in linted
    git(repo, "add", ".gitignore")
    git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x")
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "-q", str(tree))
    assert (tree / ".git").is_file()
    (tree / "wandb").mkdir()
    (tree / "wandb" / "w.py").write_text(BAD)
    (tree / "a.py").write_text(BAD)
    assert shown(str(tree)) == [str(tree / "a.py")]


def test_outside_a_git_repository_gitignore_is_not_read(tmp_path, monkeypatch, home):
    root = tmp_path / "proj"
    root.mkdir()
    make_tree(root)
    (root / ".gitignore").write_text("wandb/\n")
    monkeypatch.chdir(root)
    assert "wandb/run-20240501_120000-abc/files/code/train.py" in shown(".")
    (root / ".git").mkdir()  # what `git init` makes: now the same .gitignore counts
    assert "wandb/run-20240501_120000-abc/files/code/train.py" not in shown(".")


def test_hydra_runs_and_virtual_environments_are_found_by_what_they_hold(tmp_path, monkeypatch):
    make_tree(tmp_path)
    for venv in ("env", ".env", "py311"):
        (tmp_path / venv / "lib").mkdir(parents=True)
        (tmp_path / venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (tmp_path / venv / "lib" / "site.py").write_text(BAD)
    (tmp_path / "conda" / "conda-meta").mkdir(parents=True)
    (tmp_path / "conda" / "x.py").write_text(BAD)
    (tmp_path / "multirun" / "2024-05-01" / "12-00-00" / "multirun.yaml").write_text("a: 1\n")
    monkeypatch.chdir(tmp_path)
    linted = shown(".")
    assert not any(p.startswith(("outputs/", "multirun/", "env/", ".env/", "py311/", "conda/"))
                   for p in linted), linted
    assert "wandb/run-20240501_120000-abc/files/code/train.py" in linted  # no git repository here
    assert shown("outputs/2024-05-01/12-00-00") == ["outputs/2024-05-01/12-00-00/train.py"]  # named: linted


@pytest.mark.parametrize("package", ["env", "envs", "conf/env"])
def test_a_directory_named_env_is_linted(tmp_path, monkeypatch, package):
    """F23: `env` was in the default excludes, so an RL package env/ was never linted, even named."""
    (tmp_path / package).mkdir(parents=True)
    (tmp_path / package / "wrappers.py").write_text(BAD)
    (tmp_path / package / "cartpole.yaml").write_text("gravity: 9.8\n")
    monkeypatch.chdir(tmp_path)
    assert shown(".") == [f"{package}/cartpole.yaml", f"{package}/wrappers.py"]
    assert shown(package) == [f"{package}/cartpole.yaml", f"{package}/wrappers.py"]
    out = invoke(package)
    assert out.exit_code == 1 and "ML101" in out.output


def test_default_excludes_apply_below_named_paths_only(tmp_path, monkeypatch):
    for rel in ("build/gen.py", "src/build/gen.py", "src/ok.py", "dist/x.py", "node_modules/m/x.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(BAD)
    monkeypatch.chdir(tmp_path)
    assert shown(".") == ["src/ok.py"]
    assert shown("build") == ["build/gen.py"]
    assert shown("--force-exclude", "build/gen.py") == []
    assert shown("build/gen.py") == ["build/gen.py"]


def test_show_files_is_sorted_and_honours_exclude(tmp_path, monkeypatch):
    for rel in ("b.py", "a/z.py", "a/b.py", "gen/x.py", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(BAD)
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\nextend-exclude = ['gen']\n")
    monkeypatch.chdir(tmp_path)
    assert shown() == ["a/b.py", "a/z.py", "b.py"]
    assert shown("b.py", "a") == ["a/b.py", "a/z.py", "b.py"]


def test_show_settings_names_each_setting_and_its_file(tmp_path, monkeypatch):
    (tmp_path / "base.toml").write_text("unfixable = ['ML101']\nunsafe-fixes = true\n")
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\nextend = 'base.toml'\nignore = ['ML103']\n"
                                             "per-file-ignores = { 'tests/*' = ['ML401'], 'other/*' = ['ML1'] }\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    out = invoke("--show-settings", "tests/t.py")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "Resolved settings for: tests/t.py"
    assert lines[1] == f"Settings path: {tmp_path / 'pyproject.toml'}"
    assert lines[2] == f"Extends: {tmp_path / 'base.toml'}"
    text = out.output
    assert f'unsafe-fixes = true  # {tmp_path / "base.toml"}' in text
    assert 'per-file-ignores matching this file = {"tests/*": ["ML401"]}' in text
    assert 'disabled-here = ["ML401"]' in text
    fixable = next(line for line in lines if line.startswith("fixable = "))
    assert '"ML101"' not in fixable and '"ML001"' in fixable
    enabled = next(line for line in lines if line.startswith("enabled = "))
    assert '"ML103"' not in enabled and '"ML101"' in enabled
    assert "respect-gitignore = true  # default" in text


@needs_git
def test_stdin_with_force_exclude_skips_what_git_ignores(repo):
    ignored = CliRunner().invoke(main, ["--force-exclude", "--stdin-filename", "wandb/x.py"], input=BAD)
    assert ignored.exit_code == 0 and ignored.output == ""
    linted = CliRunner().invoke(main, ["--force-exclude", "--stdin-filename", "src/x.py"], input=BAD)
    assert linted.exit_code == 1 and "ML101" in linted.output


@needs_git
def test_pathspec_is_asked_only_about_paths_a_pattern_may_match(repo, monkeypatch):
    """The walk asks each ignore file about every entry: one combined regex answers "no pattern
    matches" for most, and only the rest go through pathspec's pattern-by-pattern check."""
    import pathspec

    for i in range(50):
        (repo / "src" / f"m{i}.py").write_text("x = 1\n")
    asked: list[str] = []
    real = pathspec.GitIgnoreSpec.check_file
    monkeypatch.setattr(pathspec.GitIgnoreSpec, "check_file", lambda self, f, *a: asked.append(f) or real(self, f, *a))
    linted = shown(".")
    assert len(linted) == 54
    # the entries some pattern matches: outputs/, wandb/, lightning_logs/, scratch/*, tmp_ignored.py, local/, data/cache/
    assert 0 < len(asked) <= 12, asked


@needs_git
def test_patterns_git_cannot_read_are_skipped_as_git_skips_them(repo):
    (repo / ".gitignore").write_text("!\nsrc\\\n[z-a]\nwandb/\noutputs/\nlightning_logs/\n")
    linted = shown(".")
    assert "src/model.py" in linted
    assert not any(p.startswith(("wandb/", "lightning_logs/")) for p in linted)


@needs_git
def test_a_gitignore_that_is_a_fifo_does_not_block_the_run(repo):
    import sys

    import mllint

    (repo / "sub" / ".gitignore").unlink()
    os.mkfifo(repo / "sub" / ".gitignore")
    env = {**os.environ, "PYTHONPATH": str(Path(mllint.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "mllint", "--no-cache", "--show-files", "sub"], cwd=repo,
                          capture_output=True, text=True, timeout=60, env=env)  # a hang is a failure
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["sub/nested.py", "sub/tmp_ignored.py"]


def test_dot_ignore_files_count_outside_a_repository_too(tmp_path, monkeypatch, home):
    root = tmp_path / "proj"
    root.mkdir()
    make_tree(root)
    (root / ".ignore").write_text("wandb/\n")
    (root / "sub" / ".ignore").write_text("nested.py\n")
    monkeypatch.chdir(root)
    linted = shown(".")
    assert not any(p.startswith("wandb/") for p in linted) and "sub/nested.py" not in linted
    assert "lightning_logs/version_0/hparams.py" in linted
    assert shown("sub") == ["sub/tmp_ignored.py"]  # the .ignore above a named directory counts
    assert "wandb/run-20240501_120000-abc/files/code/train.py" in shown("--no-respect-gitignore", ".")


@needs_git
def test_dot_ignore_overrides_the_gitignore_beside_it(repo):
    (repo / ".ignore").write_text("!wandb/\nsrc/\n")
    linted = shown(".")
    assert "wandb/run-20240501_120000-abc/files/code/train.py" in linted and "src/model.py" not in linted
    assert shown("--force-exclude", "src/model.py") == []

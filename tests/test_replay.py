"""Run replay (mllint.replay): the `mllint` command run again where nothing it read has changed
prints what it printed before, and anything it read that changes makes it run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mllint import __main__ as command
from mllint.run import replay

BAD = "import torch\n\n\ndef step(p):\n    p.grad = torch.nan_to_num(p.grad)\n"
OTHER_BAD = "import torch\n\n\ndef step(q):\n    q.grad = torch.nan_to_num(q.grad)\n"  # same size as BAD
APP = ("import hydra\n@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
       "def main(cfg):\n    pass\n")
LAUNCH = "import subprocess\nsubprocess.run(['python', 'app.py', '+lr=0.2'])\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(BAD)
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("lr: 0.1\nload_checkpoint: auto\n")
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "launch.py").write_text(LAUNCH)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def mllint(monkeypatch, capsys):
    """Run the `mllint` command in-process: (replayed, exit status, stdout, stderr)."""

    def run(*argv: str):
        replayed = []
        real = replay.replay

        def spy(args):
            status = real(args)
            replayed.append(status is not None)
            return status

        monkeypatch.setattr(replay, "replay", spy)
        monkeypatch.setattr(sys, "argv", ["mllint", "--jobs", "1", *argv])
        with pytest.raises(SystemExit) as exit_:
            command.main()
        monkeypatch.setattr(replay, "replay", real)
        out, err = capsys.readouterr()
        return replayed == [True], exit_.value.code, out, err

    return run


def test_an_unchanged_run_is_replayed_as_it_was(project, mllint):
    cold = mllint()
    assert not cold[0] and cold[1] == 1 and "ML101" in cold[2] and "ML501" in cold[2]
    warm = mllint()
    assert warm == (True, *cold[1:])
    assert mllint("--format", "json", "--exit-zero")[:2] == (False, 0)
    assert mllint("--format", "json", "--exit-zero") == (True, 0, *mllint("--format", "json", "--no-cache")[2:])


def _utime_kept(path: Path, text: str) -> None:
    """Rewrite a file keeping its size and modification time: only its content tells."""
    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES = {
    "a linted file's content (same size and time)": lambda p: _utime_kept(p / "pkg" / "train.py", OTHER_BAD),
    "a file added": lambda p: (p / "pkg" / "new.py").write_text(BAD),
    "a file removed": lambda p: (p / "pkg" / "clean.py").unlink(),
    "a file renamed": lambda p: (p / "pkg" / "clean.py").rename(p / "pkg" / "clean2.py"),
    "the configuration": lambda p: (p / "pyproject.toml").write_text("[tool.mllint]\nignore = ['ML101']\n"),
    "a pyproject.toml where there was none": lambda p: (p / "pkg" / "pyproject.toml").write_text("[tool.mllint]\n"),
    "a Hydra config a cross-file rule read": lambda p: (p / "conf" / "config.yaml").write_text("load_checkpoint: auto\n"),
    "a Hydra config added": lambda p: (p / "conf" / "other.yaml").write_text("a: 1\n"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_run_is_not_replayed_once_something_it_read_changed(project, mllint, change):
    mllint()
    change(project)
    changed = mllint()
    assert not changed[0]
    assert changed[1:] == mllint("--no-cache")[1:]  # what a run without any cache says
    assert mllint() == (True, *changed[1:])  # and that run is recorded in turn


def test_after_a_change_the_record_answers_for_the_unchanged_files(tmp_path, mllint, monkeypatch):
    """One file changed: the run is not replayed, but the other files' results come from the record
    (one read), not from their per-file entries, which are gone here."""
    import shutil

    from mllint.run import runner

    project = tmp_path
    (project / "pkg").mkdir()
    for name, text in [("train.py", BAD), ("clean.py", "x = 1\n"), ("other.py", OTHER_BAD)]:
        (project / "pkg" / name).write_text(text)
    monkeypatch.chdir(project)
    mllint()
    for entry_dir in project.glob(".mllint_cache/*/??"):
        shutil.rmtree(entry_dir)
    (project / "pkg" / "clean.py").write_text("x = 2\n")
    linted = []
    original = runner.lint_source
    monkeypatch.setattr(runner, "lint_source", lambda *a, **k: linted.append(a[1]) or original(*a, **k))
    changed = mllint()
    assert not changed[0] and linted == ["pkg/clean.py"]
    assert changed[1:] == mllint("--no-cache")[1:]


def test_a_named_file_changed_is_not_replayed(project, mllint):
    assert mllint("pkg/train.py")[1] == 1
    _utime_kept(project / "pkg" / "train.py", "x = 2\n" + " " * (len(BAD) - 6))
    assert mllint("pkg/train.py")[:2] == (False, 0)


def test_a_project_file_read_by_a_cross_file_rule_but_not_linted_is_checked_too(project, mllint):
    """`mllint launch.py` lints one file, but ML501 read the app and its Hydra config to say it."""
    assert "ML501" in mllint("launch.py")[2]
    (project / "conf" / "config.yaml").write_text("load_checkpoint: auto\n")  # `lr` is gone: `+lr` is right
    assert mllint("launch.py")[:2] == (False, 0)


def test_a_project_file_edited_during_the_run_is_not_recorded_as_seen(project, mllint, monkeypatch):
    from mllint.run import runner

    original = runner.lint_source

    def lint_then_edit_the_config(*args, **kwargs):
        result = original(*args, **kwargs)
        (project / "conf" / "config.yaml").write_text("load_checkpoint: auto\n")
        return result

    monkeypatch.setattr(runner, "lint_source", lint_then_edit_the_config)
    assert "ML501" in mllint("launch.py")[2]  # what the config said when the rule read it
    monkeypatch.setattr(runner, "lint_source", original)
    assert mllint("launch.py")[:2] == (False, 0)


def test_other_arguments_or_another_directory_are_other_runs(project, mllint, monkeypatch):
    mllint("pkg")
    assert not mllint("--select", "ML101", "pkg")[0]
    monkeypatch.chdir(project / "pkg")
    assert not mllint(".")[0]
    assert mllint(".")[0]


@pytest.mark.parametrize("argv", [["--fix"], ["--diff"], ["--no-cache"], ["--output-file", "report.txt"],
                                  ["missing.py"]])
def test_runs_that_write_files_or_fail_are_never_recorded(project, mllint, argv):
    for _ in range(2):
        assert not mllint(*argv)[0]
    assert not list(project.glob(".mllint_cache/*/runs/*.json"))


def test_with_config_the_record_lives_beside_it(tmp_path, mllint, monkeypatch):
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "mllint.toml").write_text("select = ['ML1']\n")
    (tmp_path / "train.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    first = mllint("--config", "settings/mllint.toml", "train.py")
    assert list((tmp_path / "settings").glob(".mllint_cache/*/runs/*.json"))
    assert mllint("--config", "settings/mllint.toml", "train.py") == (True, *first[1:])
    (tmp_path / "settings" / "mllint.toml").write_text("select = ['ML2']\n")
    assert mllint("--config", "settings/mllint.toml", "train.py")[:2] == (False, 0)


def test_a_damaged_record_is_ignored(project, mllint):
    first = mllint()
    [record] = project.glob(".mllint_cache/*/runs/*.json")
    record.write_text('{"stdout": "made up"')
    assert mllint() == (False, *first[1:])


@pytest.mark.parametrize("entries", ['"not a table"', '{"k": "not an entry"}', '[1, 2]'])
def test_a_record_with_damaged_entries_is_harmless(project, mllint, entries):
    """A record whose per-file entries are damaged (valid JSON) answers for nothing after a change."""
    first = mllint()
    [record] = project.glob(".mllint_cache/*/runs/*.json")
    text = record.read_text()
    record.write_text(text[:text.index('"entries": ') + len('"entries": ')] + entries + text[text.index(', "files"'):])
    (project / "pkg" / "clean.py").write_text("x = 2\n")
    assert mllint() == (False, *first[1:])


def test_only_the_newest_records_are_kept(project, mllint):
    for i in range(replay.KEEP + 3):
        mllint("--select", f"ML1,ML{i}" if i < 10 else "ML1")
    assert len(list(project.glob(".mllint_cache/*/runs/*.json"))) <= replay.KEEP


def test_the_mllint_command_replays_without_importing_the_cli(project):
    """The point of it: a replayed run starts the interpreter, reads the files and prints, nothing
    else (no click, configuration, engine or per-file cache)."""
    command_line = [sys.executable, "-X", "importtime", "-m", "mllint", "--jobs", "1"]
    cold = subprocess.run(command_line, capture_output=True, text=True)
    warm = subprocess.run(command_line, capture_output=True, text=True)
    assert warm.returncode == cold.returncode == 1 and warm.stdout == cold.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in warm.stderr.splitlines()
                if line.startswith("import time:")}
    assert "mllint.run.replay" in imported
    assert not {"click", "mllint.frontends.cli", "mllint.run.config", "mllint.engine.lint", "mllint.run.cache", "tomllib"} & imported


IGNORE_CHANGES = {
    "a .gitignore's content": lambda p, home: (p / "pkg" / ".gitignore").write_text("train.py\n"),
    "the top .gitignore's content": lambda p, home: (p / ".gitignore").write_text("pkg/\n"),
    ".git/info/exclude": lambda p, home: (p / ".git" / "info" / "exclude").write_text("pkg/train.py\n"),
    "the global excludes file": lambda p, home: (home / "git" / "ignore").write_text("pkg/\n"),
    "core.excludesFile in the repository's config": lambda p, home: (
        (home / "mine").write_text("pkg/\n"), (p / ".git" / "config").write_text(f"[core]\n\texcludesFile = {home / 'mine'}\n")),
    "a .ignore above": lambda p, home: (p / ".ignore").write_text("train.py\n"),
    "no longer a git repository": lambda p, home: shutil.rmtree(p / ".git"),
}


@pytest.mark.parametrize("change", IGNORE_CHANGES.values(), ids=IGNORE_CHANGES.keys())
def test_a_changed_ignore_file_ends_a_replay(project, mllint, monkeypatch, tmp_path, change):
    home = tmp_path / "xdg"
    (home / "git").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (project / ".git" / "info").mkdir(parents=True)
    (project / ".gitignore").write_text("# nothing yet\n")
    (project / "pkg" / ".gitignore").write_text("# nothing\n")
    cold = mllint("pkg")
    assert cold[1] == 1 and "ML101" in cold[2]
    assert mllint("pkg")[0]
    change(project, home)
    changed = mllint("pkg")
    assert not changed[0]
    assert changed[1:] == mllint("pkg", "--no-cache")[1:]
    assert mllint("pkg") == (True, *changed[1:])

"""The persistent cache and the prescreen: faster, and never at the cost of a finding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint import __version__, fingerprint
from mllint.run import runner
from mllint.run import versions
from mllint.frontends.cli import main

BAD = "import torch\n\n\ndef step(p):\n    p.grad = torch.nan_to_num(p.grad)\n"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (tmp_path / "train.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _count_lints(monkeypatch):
    calls = []
    original = runner.lint_source

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "lint_source", counting)
    return calls


def test_second_run_is_served_from_the_cache(project, monkeypatch):
    first = CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    assert (project / ".mllint_cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    calls = _count_lints(monkeypatch)
    second = CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    assert calls == []
    assert second.output == first.output and second.exit_code == first.exit_code == 1


def test_a_changed_file_or_setting_is_linted_again(project, monkeypatch):
    CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    calls = _count_lints(monkeypatch)
    (project / "train.py").write_text(BAD + "\n")
    CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    CliRunner().invoke(main, ["--jobs", "1", "--ignore", "ML101", "train.py"])
    assert calls == ["train.py", "train.py"]


def test_no_cache_neither_reads_nor_writes(project, monkeypatch):
    calls = _count_lints(monkeypatch)
    CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "train.py"])
    CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "train.py"])
    assert calls == ["train.py", "train.py"]
    assert not (project / ".mllint_cache").exists()


def test_corrupt_cache_entries_are_ignored(project):
    CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    for entry in (project / ".mllint_cache").rglob("*.json"):
        entry.write_text("{not json")
    out = CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    assert out.exit_code == 1 and "ML101" in out.output


def test_fix_mode_does_not_trust_a_cached_fixable_result(project):
    CliRunner().invoke(main, ["--jobs", "1", "train.py"])
    out = CliRunner().invoke(main, ["--jobs", "1", "--fix", "train.py"])
    assert out.exit_code == 0
    assert 'posinf=float("inf")' in (project / "train.py").read_text()


def _lint_fixtures(env_extra: dict, cache_dir: Path) -> str:
    env = {**os.environ, **env_extra}
    proc = subprocess.run(
        [sys.executable, "-m", "mllint", "--preview", "--select", "ALL", "--format", "json", "--jobs", "2",
         "--config", str(cache_dir / "pyproject.toml"), str(REPO / "fixtures")],
        capture_output=True, text=True, env=env, cwd=cache_dir)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def test_prescreen_and_cache_never_change_results(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    plain = _lint_fixtures({"MLLINT_NO_PRESCREEN": "1"}, tmp_path)
    screened = _lint_fixtures({}, tmp_path)  # writes the cache
    cached = _lint_fixtures({}, tmp_path)  # reads it
    assert plain == screened == cached
    assert '"code": "ML101"' in plain


def test_cross_file_results_are_cached_until_a_project_file_changes(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (conf / "config.yaml").write_text("lr: 0.1\nload_checkpoint: auto\n")
    (tmp_path / "app.py").write_text(
        "import hydra\n@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
        "def main(cfg):\n    pass\n")
    (tmp_path / "launch.py").write_text("import subprocess\nsubprocess.run(['python', 'app.py', '+lr=0.2'])\n")
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(main, ["--jobs", "1", "launch.py"])
    assert "ML501" in first.output
    calls = _count_lints(monkeypatch)
    assert CliRunner().invoke(main, ["--jobs", "1", "launch.py"]).output == first.output
    assert calls == []
    (conf / "config.yaml").write_text("load_checkpoint: auto\n")  # `lr` is gone: now `+lr` is right
    second = CliRunner().invoke(main, ["--jobs", "1", "launch.py"])
    assert calls == ["launch.py"] and "ML501" not in second.output


def _imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_a_warm_run_reads_only_the_cache(tmp_path):
    """Nothing changed: the answer comes from the cache, without importing LibCST or any rule and
    without starting worker processes, and it is the cold run's answer byte for byte."""
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (tmp_path / "train.py").write_text(BAD)
    for i in range(6):
        (tmp_path / f"clean_{i}.py").write_text(f"x = {i}\n")
    command = [sys.executable, "-X", "importtime", "-m", "mllint", "--jobs", "2", "."]
    cold = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    warm = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert cold.returncode == warm.returncode == 1 and "ML101" in cold.stdout
    assert warm.stdout == cold.stdout
    assert {"libcst", "mllint.rules"} <= _imported(cold.stderr)
    assert not {"libcst", "mllint.rules", "yaml", "astroid", "concurrent.futures.process"} & _imported(warm.stderr)
    # nor what only linting, fixing or hashlib's OpenSSL backend need (each a few % of a warm run)
    assert not {"mllint.engine.suppression", "tempfile", "_hashlib"} & _imported(warm.stderr)
    heavy = ("libcst", "astroid", "yaml", "mllint.rules", "mllint.analysis", "mllint.engine.context", "mllint.formats")
    assert not [name for name in _imported(warm.stderr) if name.startswith(tuple(h + "." for h in heavy))]
    json_command = [*command, "--format", "json"]
    assert (subprocess.run(json_command, capture_output=True, text=True, cwd=tmp_path).stdout
            == subprocess.run([*json_command, "--no-cache"], capture_output=True, text=True, cwd=tmp_path).stdout)


def _tree(root: Path, count: int = 6) -> list[str]:
    (root / "pyproject.toml").write_text("[tool.mllint]\n")
    (root / "train.py").write_text(BAD)
    names = [f"clean_{i}.py" for i in range(count)]
    for i, name in enumerate(names):
        (root / name).write_text(f"x = {i}\n")
    return ["train.py", *names]


def test_a_partly_changed_tree_lints_only_the_changed_files(tmp_path, monkeypatch):
    """The main process answers the unchanged files; only the changed ones are linted, and the
    report is the one an uncached run gives, in the same order."""
    names = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(main, ["--jobs", "2", "."])
    (tmp_path / "clean_3.py").write_text(BAD)
    calls = _count_lints(monkeypatch)
    warm = CliRunner().invoke(main, ["--jobs", "2", "."])
    assert calls == ["clean_3.py"]
    uncached = CliRunner().invoke(main, ["--jobs", "2", "--no-cache", "."])
    assert warm.output == uncached.output and warm.exit_code == uncached.exit_code == 1
    assert warm.output.index("clean_3.py") < warm.output.index("train.py") and len(names) == 7


def test_fix_mode_does_not_trust_a_cached_fixable_result_looked_up_in_the_main_process(tmp_path, monkeypatch):
    """With several files and processes the cache is read before any worker starts: a cached
    result with a fix still sends its file to be fixed; the clean files are answered as they are."""
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(main, ["--jobs", "2", "."])
    calls = _count_lints(monkeypatch)
    out = CliRunner().invoke(main, ["--jobs", "2", "--fix", "."])
    assert out.exit_code == 0, out.output
    assert calls == ["train.py"]
    assert 'posinf=float("inf")' in (tmp_path / "train.py").read_text()


def test_a_project_file_change_relints_only_files_with_cross_file_evidence(tmp_path, monkeypatch):
    """Only results that a cross-file rule could have produced are keyed by the project's files."""
    _tree(tmp_path, count=3)
    (tmp_path / "launch.py").write_text("import subprocess\nsubprocess.run(['python', 'app.py'])\n")
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(main, ["--jobs", "1", "."])
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    calls = _count_lints(monkeypatch)
    CliRunner().invoke(main, ["--jobs", "1", "."])
    assert sorted(calls) == ["config.yaml", "launch.py"]


def test_the_code_fingerprint_follows_every_source_file(tmp_path):
    """An edited, added or removed module of a development install gives another fingerprint, so
    entries written by the old code are not used; other files do not count."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "cli.py").write_text("x = 1\n")
    (tmp_path / "rules" / "ml101.py").write_text("y = 1\n")
    fingerprints = [fingerprint.tree_fingerprint(str(tmp_path))]
    (tmp_path / "notes.md").write_text("not code\n")
    (tmp_path / "rules" / "__pycache__").mkdir()
    (tmp_path / "rules" / "__pycache__" / "ml101.cpython-311.pyc").write_bytes(b"\0")
    assert fingerprint.tree_fingerprint(str(tmp_path)) == fingerprints[0]
    rule = tmp_path / "rules" / "ml101.py"
    rule.write_text("y = 22\n")
    fingerprints.append(fingerprint.tree_fingerprint(str(tmp_path)))
    os.utime(rule, ns=(rule.stat().st_atime_ns, rule.stat().st_mtime_ns + 10**9))
    fingerprints.append(fingerprint.tree_fingerprint(str(tmp_path)))
    (tmp_path / "rules" / "ml102.py").write_text("")
    fingerprints.append(fingerprint.tree_fingerprint(str(tmp_path)))
    (tmp_path / "cli.py").unlink()
    fingerprints.append(fingerprint.tree_fingerprint(str(tmp_path)))
    assert len(set(fingerprints)) == len(fingerprints)
    assert versions.code_fingerprint() == f"{__version__}:" + fingerprint.tree_fingerprint(
        str(Path(fingerprint.__file__).parent)) + ":" + versions.dependency_versions()

"""Promises of the per-file cache and of run replay: mllint never writes, reads or deletes through a
symlink in `.mllint_cache/`; a cached or replayed answer is the answer a fresh run would give
(whatever the working directory, wherever the Hydra configs lie, wherever a symlink points); and
odd file names, terminals or working directories never turn a run into a traceback.

Each test runs the real `mllint` command (replay lives there) in a subprocess, bounded in time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mllint import __version__
from mllint.run import cachefs, replay
from mllint.run import versions

BAD = "import torch\n\n\ndef step(model):\n    for p in model.parameters():\n        p.grad = torch.nan_to_num(p.grad)\n"
APP = ("import hydra\n\n\n@hydra.main(config_path={path!r}, config_name='config', version_base=None)\n"
       "def main(cfg):\n    pass\n")
TIMEOUT = 120


def mllint(*args: str, cwd, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The `mllint` command (with replay), as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    if "stdout" not in kwargs:
        kwargs["capture_output"] = True
    try:
        jobs = [] if args[0] == "clean" else ["--jobs", "1"]
        return subprocess.run([sys.executable, "-m", "mllint", *jobs, *args], cwd=cwd, env=full_env,
                              timeout=TIMEOUT, **kwargs)
    except subprocess.TimeoutExpired as exc:  # a hang is a failure, not a slow pass
        pytest.fail(f"mllint {' '.join(args)} did not finish in {TIMEOUT}s: {exc}")


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode in (0, 1, 2), result


# ---- never through a symlink -----------------------------------------------------------------

def _victim(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    victim = tmp_path / "victim"
    victim.mkdir()
    for i in range(30):
        (victim / f"conf{i}.json").write_text(f'{{"important": {i}}}\n')
        os.utime(victim / f"conf{i}.json", (1_000_000 + i, 1_000_000 + i))
    return victim, {p.name: p.read_bytes() for p in victim.iterdir()}


@pytest.mark.parametrize("level", [".mllint_cache", f".mllint_cache/{__version__}", f".mllint_cache/{__version__}/runs",
                                   "entry dirs"])
def test_a_symlinked_cache_path_is_never_written_read_or_pruned_through(tmp_path, level):
    """An untrusted checkout can ship any level of .mllint_cache/ as a symlink (git stores them):
    linting it twice leaves the directory it points to exactly as it was, and the run still works."""
    victim, before = _victim(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[tool.mllint]\n")
    (repo / "train.py").write_text(BAD)
    if level == "entry dirs":  # every per-file entry directory (.mllint_cache/<version>/00 ... ff)
        base = repo / ".mllint_cache" / __version__
        base.mkdir(parents=True)
        for i in range(256):
            (base / f"{i:02x}").symlink_to(victim, target_is_directory=True)
    else:
        link = repo / level
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(victim, target_is_directory=True)
    for _ in range(2):
        result = mllint(".", cwd=repo)
        no_traceback(result)
        assert result.returncode == 1 and b"ML101" in result.stdout
    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before


def test_pruning_deletes_only_run_records_that_mllint_wrote(tmp_path):
    """Only files named like a record and starting with the record marker are pruned."""
    runs = tmp_path.joinpath(*replay.RUNS)
    runs.mkdir(parents=True)
    records = []
    for i in range(replay.KEEP + 5):
        name = f"{i:064x}.json"
        (runs / name).write_text(replay.MARKER + ', "output": []}')
        os.utime(runs / name, (2_000_000 + i, 2_000_000 + i))
        records.append(name)
    foreign = {f"{i + 100:064x}.json": b'{"important": 1}' for i in range(10)}  # a record's name, not its marker
    foreign["notes.json"] = replay.MARKER.encode()
    for name, data in foreign.items():
        (runs / name).write_bytes(data)
        os.utime(runs / name, (1, 1))  # the oldest of all
    cachefs.prune(tmp_path, replay.RUNS, replay.KEEP, replay._is_record)
    left = {p.name for p in runs.iterdir()}
    assert set(foreign) <= left
    assert left - set(foreign) == set(records[-replay.KEEP:])


def test_clean_never_follows_a_symlinked_cache_out_of_the_tree(tmp_path):
    victim, before = _victim(tmp_path)
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / "sub" / ".mllint_cache").symlink_to(victim, target_is_directory=True)
    (tmp_path / "repo" / ".mllint_cache" / __version__).mkdir(parents=True)
    result = mllint("clean", "repo", cwd=tmp_path)
    no_traceback(result)
    assert not (tmp_path / "repo" / ".mllint_cache").exists()
    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before


# ---- a cached or replayed answer is the fresh answer --------------------------------------------

def test_the_cache_key_includes_where_the_file_is_not_only_its_displayed_name(tmp_path):
    """tests/x.py and src/x.py, same content, both shown as x.py: per-file ignores differ."""
    (tmp_path / "pyproject.toml").write_text('[tool.mllint.per-file-ignores]\n"tests/*" = ["ML101"]\n')
    for d in ("tests", "src"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.py").write_text(BAD)
    for args in (["x.py"], ["."]):
        assert mllint(*args, cwd=tmp_path / "tests").returncode == 0
        result = mllint(*args, cwd=tmp_path / "src")
        assert result.returncode == 1 and b"x.py:6:18: ML101" in result.stdout, result


def test_a_hydra_launcher_is_not_answered_for_another_experiment_with_the_same_text(tmp_path):
    for exp, keys in (("exp1", "batch_size: 32\n"), ("exp2", "lr: 0.1\n")):
        (tmp_path / exp / "conf").mkdir(parents=True)
        (tmp_path / exp / "conf" / "config.yaml").write_text(keys)
        (tmp_path / exp / "train.py").write_text(APP.format(path="conf"))
        (tmp_path / exp / "run.sh").write_text("#!/bin/bash\npython train.py batch_size=64\n")
    assert mllint("run.sh", cwd=tmp_path / "exp1").returncode == 0
    result = mllint("run.sh", cwd=tmp_path / "exp2")
    assert result.returncode == 1 and b"ML502" in result.stdout, result


def _layout(tmp_path: Path, case: str) -> tuple[Path, Path, str]:
    """(directory to run in, the file to fix, its fixed text) for a Hydra config the rules read
    but a walk of the project root would miss."""
    if case == "config group named env":
        (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
        (tmp_path / "conf" / "env").mkdir(parents=True)
        (tmp_path / "conf" / "config.yaml").write_text("defaults:\n  - env: cartpole\n  - _self_\n")
        (tmp_path / "conf" / "env" / "cartpole.yaml").write_text("name: cartpole\n")
        (tmp_path / "train.py").write_text(APP.format(path="conf"))
        (tmp_path / "scripts").mkdir()
        (tmp_path / "scripts" / "run.sh").write_text("#!/bin/bash\npython train.py env=walker\n")
        return tmp_path, tmp_path / "conf" / "env" / "walker.yaml", "name: walker\n"
    if case == "excluded config dir":
        (tmp_path / "pyproject.toml").write_text('[tool.mllint]\nexclude = ["conf"]\n')
        root = tmp_path
    elif case == "config dir above a nested pyproject":
        (tmp_path / "proj").mkdir()
        (tmp_path / "proj" / "pyproject.toml").write_text("[tool.mllint]\n")
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "config.yaml").write_text("lr: 0.1\n")
        (tmp_path / "proj" / "train.py").write_text(APP.format(path="../conf"))
        (tmp_path / "proj" / "run.sh").write_text("#!/bin/bash\npython train.py batch_size=64\n")
        return tmp_path / "proj", tmp_path / "conf" / "config.yaml", "lr: 0.1\nbatch_size: 32\n"
    else:  # no pyproject at all, run from scripts/: the root is the working directory
        (tmp_path / "scripts").mkdir()
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "config.yaml").write_text("lr: 0.1\n")
        (tmp_path / "train.py").write_text(APP.format(path="conf"))
        (tmp_path / "scripts" / "run.sh").write_text("#!/bin/bash\npython train.py batch_size=64\n")
        return tmp_path / "scripts", tmp_path / "conf" / "config.yaml", "lr: 0.1\nbatch_size: 32\n"
    (root / "conf").mkdir()
    (root / "conf" / "config.yaml").write_text("lr: 0.1\n")
    (root / "train.py").write_text(APP.format(path="conf"))
    (root / "run.sh").write_text("#!/bin/bash\npython train.py batch_size=64\n")
    return root, root / "conf" / "config.yaml", "lr: 0.1\nbatch_size: 32\n"


@pytest.mark.parametrize("records", ["replayed", "per-file cache only"])
@pytest.mark.parametrize("case", ["config group named env", "excluded config dir", "config dir above a nested pyproject",
                                  "no pyproject, run from a subdirectory"])
def test_hydra_results_follow_every_config_the_rules_read(tmp_path, case, records):
    cwd, fixed, text = _layout(tmp_path, case)
    target = "scripts/run.sh" if case == "config group named env" else "run.sh"
    first = mllint(target, cwd=cwd)
    assert first.returncode == 1 and b"ML50" in first.stdout, first
    fixed.write_text(text)
    if records == "per-file cache only":
        for runs in tmp_path.rglob("runs"):
            shutil.rmtree(runs)
    second = mllint(target, cwd=cwd)  # the truth: `--no-cache` says the same (the repros check it)
    assert (second.returncode, second.stdout) == (0, b"All checks passed!\n"), second


def test_a_replay_follows_a_re_pointed_directory_symlink(tmp_path):
    (tmp_path / "p1" / "code").mkdir(parents=True)
    (tmp_path / "p1" / "code" / "amp.py").write_text(BAD)
    (tmp_path / "p2").mkdir()
    (tmp_path / "p2" / "pyproject.toml").write_text('[tool.mllint]\nignore = ["ML101"]\n')
    shutil.copytree(tmp_path / "p1" / "code", tmp_path / "p2" / "code")  # copy2: same sizes and times
    (tmp_path / "work").mkdir()
    link = tmp_path / "work" / "link"
    link.symlink_to("../p1/code", target_is_directory=True)
    assert mllint("link", cwd=tmp_path / "work").returncode == 1
    link.unlink()
    link.symlink_to("../p2/code", target_is_directory=True)
    result = mllint("link", cwd=tmp_path / "work")
    assert result.returncode == 0 and b"All checks passed!" in result.stdout, result


def test_dependency_versions_are_part_of_the_fingerprint(tmp_path, monkeypatch):
    """A LibCST (or YAML, Hydra, ...) upgrade must not be answered from what the old one gave."""
    site = tmp_path / "site-packages"
    (site / "libcst-1.9.0.dist-info").mkdir(parents=True)
    (site / "PyYAML-6.0.1.dist-info").mkdir()
    monkeypatch.setattr(sys, "path", [str(site)])
    old = versions.dependency_versions()
    assert "libcst=1.9.0" in old and "pyyaml=6.0.1" in old
    (site / "libcst-1.9.0.dist-info").rename(site / "libcst-1.10.0.dist-info")
    assert versions.dependency_versions() != old


# ---- never a traceback -------------------------------------------------------------------------

NAME = os.fsdecode(b"caf\xe9.py")


@pytest.mark.parametrize("args", [[], ["--fix"], ["--no-cache"], ["--format", "sarif"], ["--format", "json"],
                                  ["--format", "junit"], ["--format", "github"], ["--statistics"], ["--diff"]])
def test_a_file_name_that_is_not_utf8_never_crashes_a_run(tmp_path, args):
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / NAME).write_text(BAD)
    replayable = not {"--fix", "--diff", "--no-cache"} & set(args)
    results = [mllint(*args, ".", cwd=tmp_path) for _ in range(2 if replayable else 1)]
    for result in results:
        no_traceback(result)
        assert result.returncode in (0, 1)
    if args in ([], ["--no-cache"]):
        assert results[0].stdout.startswith(b"caf\\xe9.py:6:18: ML101")  # printable, and says which byte
    if replayable:
        assert results[1].stdout == results[0].stdout
    if args == ["--format", "junit"]:
        import xml.dom.minidom

        xml.dom.minidom.parseString(results[0].stdout)
    if args == ["--format", "sarif"]:
        assert b'"uri": "caf%E9.py"' in results[0].stdout  # the real bytes, percent-encoded


@pytest.mark.parametrize("encoding", ["ascii", "utf-8", "latin-1:replace"])
def test_a_replay_prints_exactly_what_the_real_run_printed(tmp_path, encoding):
    """Same bytes, same status: an encoding the first run could print in, ANSI escapes from an
    untrusted file stripped as click strips them off a terminal."""
    (tmp_path / "config.yaml").write_text("total_steps: 1000\noptimizer: adam\nwarmup_steps: 500\n")  # ML302: '→'
    (tmp_path / "a.py").write_text('import torch\n\n\ndef f(x):\n    return x / x["\x1b[2J\x1b[31mOK"].std()\n')
    env = {"PYTHONIOENCODING": encoding}
    first = mllint(".", cwd=tmp_path, env=env)
    second = mllint(".", cwd=tmp_path, env=env)
    no_traceback(second)
    assert (second.returncode, second.stdout, second.stderr) == (first.returncode, first.stdout, first.stderr)
    assert b"\x1b" not in first.stdout and first.returncode == 1


@pytest.mark.parametrize("run", ["cold", "replayed"])
def test_a_closed_pipe_ends_the_run_without_a_traceback(tmp_path, run):
    for i in range(30):
        (tmp_path / f"m{i}.py").write_text(BAD)
    if run == "replayed":
        assert mllint(".", cwd=tmp_path).returncode == 1
    else:
        (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line
    try:
        result = mllint(".", cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 1


# `python -m mllint` and the installed `mllint` script start with different sys.path entries
COMMANDS = [[sys.executable, "-m", "mllint"]] + (
    [[str(Path(sys.executable).parent / "mllint")]] if (Path(sys.executable).parent / "mllint").exists() else [])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(Path(c[0]).name for _ in c[:1]))
def test_a_deleted_working_directory_is_a_clear_error_not_a_traceback(tmp_path, command):
    (tmp_path / "x.py").write_text(BAD)
    gone = tmp_path / "gone"
    gone.mkdir()
    script = ("import os, subprocess, sys\nos.chdir(sys.argv[1]); os.rmdir(sys.argv[1])\n"
              "for args in (['--version'], ['--help'], ['--no-cache', sys.argv[2]], [sys.argv[2]], ['.']):\n"
              f"    r = subprocess.run({command!r} + args, capture_output=True, text=True, timeout=100)\n"
              "    print(repr((r.returncode, r.stderr.strip().splitlines()[-1:], 'Traceback' in r.stderr,\n"
              "                 'ML101' in r.stdout)))\n")
    out = subprocess.run([sys.executable, "-c", script, str(gone), str(tmp_path / "x.py")], capture_output=True,
                         text=True, timeout=5 * TIMEOUT // 2)
    assert out.returncode == 0, out.stderr
    version, help_, no_cache, cached, relative = [eval(line) for line in out.stdout.splitlines()]
    assert version[:3] == (0, [], False) and help_[:3] == (0, [], False)
    # the finding in the named file (exit 1 is also what a traceback gives: the finding must be shown)
    assert no_cache[2:] == (False, True) and no_cache[0] == 1
    assert cached[2:] == (False, True) and cached[0] == 1
    assert relative[0] == 2 and relative[1][0].startswith("mllint: error: the current directory no longer exists")
    assert not relative[2]


@pytest.mark.parametrize("records", ["replayed", "per-file cache only"])
def test_hydra_results_follow_a_re_pointed_config_dir_symlink(tmp_path, records):
    """conf -> conf_a, then conf -> conf_b whose config.yaml has the same size and time: the
    rules read conf_b now, and the answer must be conf_b's."""
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    for name, text in (("conf_a", "lr: 0.1000000\n"), ("conf_b", "batch_size: 3\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(text)
        os.utime(tmp_path / name / "config.yaml", (1_000_000, 1_000_000))
    (tmp_path / "conf").symlink_to("conf_a", target_is_directory=True)
    (tmp_path / "train.py").write_text(APP.format(path="conf"))
    (tmp_path / "run.sh").write_text("#!/bin/bash\npython train.py batch_size=64\n")
    first = mllint("run.sh", cwd=tmp_path)
    assert first.returncode == 1 and b"ML502" in first.stdout, first
    (tmp_path / "conf").unlink()
    (tmp_path / "conf").symlink_to("conf_b", target_is_directory=True)
    if records == "per-file cache only":
        shutil.rmtree(tmp_path.joinpath(*replay.RUNS))
    second = mllint("run.sh", cwd=tmp_path)
    assert (second.returncode, second.stdout) == (0, b"All checks passed!\n"), second

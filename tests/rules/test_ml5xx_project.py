"""The seed's project (fixtures/ML501/project, shared by ML502 and ML503): exact diagnostics for
the Python launcher and the shell script, clean near misses, and the fixed copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.testing import fix, lint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROJECT = FIXTURES / "ML501" / "project"
FIXED = FIXTURES / "ML501" / "fixed"
CODES = ["ML501", "ML502", "ML503"]

EXPECTED = {
    "train.py": [
        (17, 9, "ML503", ["config `cfg_multimodal` does not exist", "available: `cfg_pretrain`"]),
        (27, 16, "ML502", ["`data_path` is not a key of config `cfg_pretrain`", "did you mean `data_paths`?"]),
        (30, 9, "ML501", ["`+load_checkpoint` appends a key that config `cfg_pretrain` already has",
                          "drop the `+`"]),
    ],
    "scripts/launch.sh": [
        (6, 20, "ML503", ["config `cfg_multimodal` does not exist", "available: `cfg_pretrain`"]),
        (11, 5, "ML502", ["`data_path` is not a key of config `cfg_pretrain`", "did you mean `data_paths`?"]),
        (13, 5, "ML501", ["`+load_checkpoint` appends a key that config `cfg_pretrain` already has"]),
    ],
}


def _lint(path: Path, root: Path = PROJECT):
    return lint(path.read_text(), CODES, path=str(path), root=root)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_launchers_give_exactly_the_story_diagnostics(name):
    diags = _lint(PROJECT / name)
    assert [(d.start.row, d.start.column, d.code) for d in diags] == [e[:3] for e in EXPECTED[name]]
    for d, (_, _, _, parts) in zip(diags, EXPECTED[name]):
        for part in parts:
            assert part in d.message
    assert [d.fix is not None for d in diags] == [False, False, True]


@pytest.mark.parametrize("name", ["good.py", "scripts/good.sh", "pretrain.py"])
def test_near_misses_stay_clean(name):
    assert _lint(PROJECT / name) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixed_copy_is_exactly_what_fix_produces(name):
    source = (PROJECT / name).read_text()
    fixed = fix(source, CODES, path=str(PROJECT / name), root=PROJECT)
    assert fixed == (FIXED / name).read_text()
    # only the `+` is fixed automatically; ML502 and ML503 remain, with their suggestions
    assert [d.code for d in lint(fixed, CODES, path=str(PROJECT / name), root=PROJECT)] == ["ML503", "ML502"]


def test_cli_fix_on_a_copy_of_the_project(tmp_path, monkeypatch):
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    (dest / "pyproject.toml").write_text("[tool.mllint]\n")
    monkeypatch.chdir(dest)
    result = CliRunner().invoke(main, ["--select", "ML501,ML502,ML503", "--no-cache", "--fix", "."])
    assert result.exit_code == 1  # ML502 and ML503 have no fix and remain
    assert (dest / "train.py").read_text() == (FIXED / "train.py").read_text()
    assert (dest / "scripts" / "launch.sh").read_text() == (FIXED / "scripts" / "launch.sh").read_text()
    assert "ML501" not in result.output and result.output.count("ML502") == 2


def test_suppression_comment_in_shell_script():
    # a continued line cannot hold a comment: a file-wide disable, or a one-line command
    source = "# mllint: disable-file=ML501\n" + (PROJECT / "scripts" / "launch.sh").read_text()
    path = PROJECT / "scripts" / "launch.sh"
    assert [d.code for d in lint(source, CODES, path=str(path), root=PROJECT)] == ["ML503", "ML502"]
    one_line = "python pretrain.py +load_checkpoint=x  # mllint: disable=ML501\n"
    assert lint(one_line, CODES, path=str(path), root=PROJECT) == []
    assert [d.code for d in lint(one_line.split("  #")[0] + "\n", CODES, path=str(path), root=PROJECT)] == ["ML501"]

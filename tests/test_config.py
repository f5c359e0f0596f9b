"""[tool.mllint] in pyproject.toml: selection, preview, per-file ignores, rule options, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.cli import main
from mllint.config import ConfigError, ConfigResolver, SelectionLayer, Settings, load_pyproject, parse_table
from mllint.rule import all_rules

BAD = "import torch\np.grad = torch.nan_to_num(p.grad)\n"


def write(tmp_path: Path, toml: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(toml)
    return path


def enabled(settings: Settings) -> list[str]:
    return [c.code for c in settings.enabled_rules()]


def test_defaults_enable_every_stable_rule(tmp_path):
    settings = load_pyproject(write(tmp_path, "[project]\nname='x'\n"))
    stable = [c for c, cls in all_rules().items() if cls.stability == "stable"]
    assert enabled(settings) == stable


def test_preview_rules_need_preview_or_their_exact_code(tmp_path):
    preview = [c for c, cls in all_rules().items() if cls.stability == "preview"]
    if not preview:
        pytest.skip("no preview rule registered yet")
    code = preview[0]
    assert code not in enabled(load_pyproject(write(tmp_path, "[tool.mllint]\n")))
    assert code in enabled(load_pyproject(write(tmp_path, "[tool.mllint]\npreview = true\n")))
    assert code in enabled(load_pyproject(write(tmp_path, f"[tool.mllint]\nextend-select = ['{code}']\n")))
    assert code not in enabled(load_pyproject(write(tmp_path, f"[tool.mllint]\nselect = ['{code[:3]}']\n")))


def test_select_ignore_specificity(tmp_path):
    s = load_pyproject(write(tmp_path, "[tool.mllint]\nselect = ['ML1']\nignore = ['ML10']\nextend-select=['ML101']\n"))
    assert "ML101" in enabled(s)
    assert all(c.startswith("ML1") for c in enabled(s))


def test_command_line_layer_overrides_the_file(tmp_path):
    write(tmp_path, "[tool.mllint]\nignore = ['ML101']\n")
    resolver = ConfigResolver(SelectionLayer(extend_select=["ML101"]))
    assert "ML101" in enabled(resolver.for_path(tmp_path / "x.py"))


@pytest.mark.parametrize("toml, message", [
    ("[tool.mllint]\nselct = ['ML1']\n", "unknown key `tool.mllint.selct`"),
    ("[tool.mllint]\nselect = ['XX9']\n", "unknown rule code or prefix 'XX9'"),
    ("[tool.mllint]\nselect = 'ML1'\n", "`tool.mllint.select` must be an array"),
    ("[tool.mllint]\npreview = 'yes'\n", "`tool.mllint.preview` must be a boolean"),
    ("[tool.mllint.rules.ML999]\nx = 1\n", "unknown rule code in `tool.mllint.rules.ML999`"),
    ("[tool.mllint.rules.ML101]\nnames = ['x']\n", "unknown option `tool.mllint.rules.ML101.names`"),
    ("[tool.mllint.hydra]\nconfig_dir = 'conf'\n", "unknown key `tool.mllint.hydra.config_dir`"),
    ("[tool.mllint\n", "invalid TOML"),
])
def test_bad_configuration_names_key_and_file(tmp_path, toml, message):
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as exc:
        load_pyproject(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_bad_configuration_exits_2_from_the_cli(tmp_path, monkeypatch):
    write(tmp_path, "[tool.mllint]\nunknown = 1\n")
    (tmp_path / "t.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["t.py"])
    assert out.exit_code == 2
    assert "unknown key `tool.mllint.unknown`" in out.output


def test_per_file_ignores(tmp_path, monkeypatch):
    write(tmp_path, "[tool.mllint]\nper-file-ignores = { 'tests/*' = ['ML101'] }\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(BAD)
    (tmp_path / "train.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "."])
    assert "train.py:2" in out.output and "tests/t.py" not in out.output


def test_nearest_pyproject_wins(tmp_path, monkeypatch):
    write(tmp_path, "[tool.mllint]\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "[tool.mllint]\nignore = ['ML101']\n")
    (tmp_path / "a.py").write_text(BAD)
    (sub / "b.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "."])
    assert "a.py:2" in out.output and "b.py" not in out.output


def test_config_option_uses_that_file(tmp_path, monkeypatch):
    (tmp_path / "mllint.toml").write_text("ignore = ['ML101']\n")
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["--config", "mllint.toml", "a.py"]).exit_code == 0
    assert CliRunner().invoke(main, ["--config", "missing.toml", "a.py"]).exit_code == 2


def test_rule_options_reach_the_rule():
    ml201 = all_rules()["ML201"]
    s = parse_table({"rules": {"ML201": {"extra-names": ["rets"]}}}, Path("."), None)
    assert s.options_for(ml201)["extra-names"] == ["rets"]
    assert s.options_for(ml201)["names"] == ml201.options["names"].default
    with pytest.raises(ConfigError, match="must be an array"):
        parse_table({"rules": {"ML201": {"extra-names": "rets"}}}, Path("."), None)
    with pytest.raises(ConfigError, match="unknown option"):
        parse_table({"rules": {"ML101": {"extra-names": ["rets"]}}}, Path("."), None)

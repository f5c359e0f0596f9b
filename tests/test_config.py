"""[tool.mllint] in pyproject.toml: selection, preview, per-file ignores, rule options, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.run.config import ConfigError, ConfigResolver, SelectionLayer, Settings, load_pyproject, parse_table
from mllint.run.rules import all_rules

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


# F20: what used to be a traceback, an internal error at lint time, or every rule silently off.
@pytest.mark.parametrize("toml, message", [
    ("tool = 1\n", "`tool` must be a table, got int 1"),
    ("[tool.mllint]\nignore = ['']\n", "`tool.mllint.ignore`: empty rule selector ''"),
    ("[tool.mllint]\nignore = [' ']\n", "`tool.mllint.ignore`: empty rule selector ' '"),
    ("[tool.mllint]\nselect = ['ML1', '']\n", "`tool.mllint.select`: empty rule selector"),
    ("[tool.mllint]\nunfixable = ['XX1']\n", "`tool.mllint.unfixable`: unknown rule code or prefix 'XX1'"),
    ("[tool.mllint]\nper-file-ignores = { '*' = [' '] }\n", "`tool.mllint.per-file-ignores.\"*\"`: empty rule selector"),
    ("[tool.mllint]\nper-file-ignores = { ' ' = ['ML101'] }\n", "empty file pattern"),
    ("[tool.mllint]\nexclude = ['']\n", "`tool.mllint.exclude` holds an empty pattern"),
    ("[tool.mllint]\nrules = { ML201 = { extra-names = [1] } }\n",
     "`tool.mllint.rules.ML201.extra-names` must be an array of strings, got 1"),
    ("[tool.mllint]\nrules = { ML201 = { names = ['x', true] } }\n",
     "`tool.mllint.rules.ML201.names` must be an array of strings, got True"),
    ("[tool.mllint]\nhydra = { apps = { 'train.py' = { config-path = 1 } } }\n",
     "`tool.mllint.hydra.apps.\"train.py\".config-path` must be a string, got int 1"),
    ("[tool.mllint]\nhydra = { apps = { 'train.py' = 1 } }\n", "`tool.mllint.hydra.apps.\"train.py\"` must be a table"),
    ("[tool.mllint]\nhydra = { apps = { 'train.py' = { config-path = 'conf', bogus = 1 } } }\n",
     "unknown key `tool.mllint.hydra.apps.\"train.py\".bogus`"),
    ("[tool.mllint]\nhydra = { apps = { 'train.py' = { config-name = 'x' } } }\n",
     "`tool.mllint.hydra.apps.\"train.py\"` needs a `config-path`"),
    ("[tool.mllint]\nunsafe-fixes = 'yes'\n", "`tool.mllint.unsafe-fixes` must be a boolean"),
    ("[tool.mllint]\nrespect-gitignore = 1\n", "`tool.mllint.respect-gitignore` must be a boolean"),
    ("[tool.mllint]\nextend = 'missing.toml'\n", "`tool.mllint.extend`: no such file"),
])
def test_configuration_gaps_are_errors_naming_key_and_file(tmp_path, monkeypatch, toml, message):
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as exc:
        load_pyproject(path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--no-cache", "a.py"])
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_an_empty_selector_on_the_command_line_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["--no-cache", "--ignore", "", "a.py"]).exit_code == 1


def test_mllint_toml_files_are_found_and_take_precedence_as_ruffs(tmp_path, monkeypatch):
    write(tmp_path, "[tool.mllint]\n")
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    run = lambda: CliRunner().invoke(main, ["--no-cache", "a.py"]).exit_code  # noqa: E731
    assert run() == 1
    (tmp_path / "mllint.toml").write_text("ignore = ['ML101']\n")  # beats pyproject.toml
    assert run() == 0
    (tmp_path / ".mllint.toml").write_text("select = ['ML1']\n")  # beats mllint.toml
    assert run() == 1
    assert ConfigResolver().for_path(tmp_path / "a.py").source == tmp_path / ".mllint.toml"
    (tmp_path / ".mllint.toml").write_text("[tool.mllint]\nignore = ['ML1']\n")  # a [tool.mllint] table works too
    assert run() == 0
    (tmp_path / ".mllint.toml").write_text("ignroe = ['ML1']\n")
    out = CliRunner().invoke(main, ["--no-cache", "a.py"])
    assert out.exit_code == 2 and "unknown key `ignroe`" in out.output and ".mllint.toml" in out.output


def test_extend_inherits_and_the_extending_file_wins(tmp_path):
    write(tmp_path, "[tool.mllint]\nselect = ['ML1', 'ML2']\nexclude = ['gen/out']\nextend-exclude = ['a']\n"
                    "rules.ML201.extra-names = ['gae']\nper-file-ignores = { 'sub/tests/*' = ['ML201'] }\n"
                    "hydra = { config-path = 'conf', config-name = 'base' }\nunsafe-fixes = true\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "mid.toml").write_text("extend = '../pyproject.toml'\nignore = ['ML103']\nextend-exclude = ['b']\n")
    child = write(sub, "[tool.mllint]\nextend = 'mid.toml'\nignore = ['ML2']\nunsafe-fixes = false\n"
                       "hydra = { config-name = 'child' }\n")
    s = load_pyproject(child)
    codes = enabled(s)
    # selections stack as layers, as in Ruff: the base's select, then each file's ignore
    assert "ML101" in codes and "ML103" not in codes
    assert not any(c.startswith(("ML2", "ML3", "ML4")) for c in codes)
    assert s.sources == [child, sub / "mid.toml", tmp_path / "pyproject.toml"]
    assert s.root == sub and s.unsafe_fixes is False
    assert s.exclude == ["../gen/out", "a", "b"]  # paths relative to the file that names them
    assert s.per_file_ignores == {"tests/*": ["ML201"]}
    assert s.rule_options == {"ML201": {"extra-names": ["gae"]}}
    assert s.hydra == {"config-path": str(tmp_path / "conf"), "config-name": "child"}
    assert s.origins["unsafe-fixes"] == child and s.origins["per-file-ignores"] == tmp_path / "pyproject.toml"


def test_extend_cycles_are_errors(tmp_path):
    (tmp_path / "a.toml").write_text("extend = 'b.toml'\n")
    (tmp_path / "b.toml").write_text("extend = './a.toml'\n")
    with pytest.raises(ConfigError, match=r"circular `extend`: `.*a\.toml` extends `.*b\.toml` extends `.*a\.toml`"):
        ConfigResolver(config_file=tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text("extend = 'c.toml'\n")
    with pytest.raises(ConfigError, match="circular"):
        ConfigResolver(config_file=tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text("extend = 'e.toml'\n")
    (tmp_path / "e.toml").write_text("selct = []\n")
    with pytest.raises(ConfigError, match=r"e\.toml: unknown key `selct`"):
        ConfigResolver(config_file=tmp_path / "d.toml")


ML401_BAD = "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n" \
            "        super().__init__()\n        self.mus = nn.Parameter(torch.zeros(4, 3))\n"


@pytest.mark.parametrize("setting, args, fixed", [
    ("", [], True),
    ("unfixable = ['ML101']", [], False),
    ("unfixable = ['ML1']\nextend-fixable = ['ML101']", [], True),  # the most specific selector wins
    ("fixable = ['ML001']", [], False),
    ("fixable = ['ML1']\nunfixable = ['ML101']", [], False),
    ("", ["--unfixable", "ML101"], False),
    ("unfixable = ['ML101']", ["--fixable", "ML101"], True),  # the command line's layer comes last
])
def test_fixable_and_unfixable_limit_what_fix_applies(tmp_path, monkeypatch, setting, args, fixed):
    write(tmp_path, f"[tool.mllint]\n{setting}\n")
    (tmp_path / "a.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    report = CliRunner().invoke(main, ["--no-cache", *args, "a.py"]).output
    assert ("[*]" in report) == fixed  # an unfixable rule's diagnostic offers no fix, as in Ruff
    out = CliRunner().invoke(main, ["--no-cache", "--fix", *args, "a.py"])
    assert ((tmp_path / "a.py").read_text() != BAD) == fixed
    assert out.exit_code == (0 if fixed else 1)


@pytest.mark.parametrize("setting, args, fixed", [
    ("", [], False),
    ("unsafe-fixes = true", [], True),
    ("unsafe-fixes = true", ["--no-unsafe-fixes"], False),
    ("", ["--unsafe-fixes"], True),
])
def test_unsafe_fixes_setting_is_the_flag(tmp_path, monkeypatch, setting, args, fixed):
    write(tmp_path, f"[tool.mllint]\n{setting}\n")
    (tmp_path / "m.py").write_text(ML401_BAD)
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(main, ["--no-cache", "--fix", *args, "m.py"])
    assert ((tmp_path / "m.py").read_text() != ML401_BAD) == fixed


def test_settings_that_change_results_change_the_cache_key(tmp_path):
    base = load_pyproject(write(tmp_path, "[tool.mllint]\n")).fingerprint()
    for toml in ("unfixable = ['ML101']", "fixable = ['ML2']", "ignore = ['ML101']",
                 "rules.ML201.extra-names = ['x']", "hydra.config-name = 'x'"):
        assert load_pyproject(write(tmp_path, f"[tool.mllint]\n{toml}\n")).fingerprint() != base, toml

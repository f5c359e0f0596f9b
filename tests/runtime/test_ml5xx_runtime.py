"""Runtime proof for ML501-ML503 with real Hydra (hydra.compose), never running the linted app.

1. The seed's overrides: the original raises the error each rule names, the fixed list composes.
2. Agreement: for every command in every Hydra fixture, each flagged override alone makes real
   Hydra fail with that rule's error, and the unflagged overrides compose. So the rules cannot
   drift from Hydra's behaviour without a test failing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import libcst as cst
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

from mllint.run.config import Settings
from mllint.engine.context import FileContext
from mllint.analysis.hydra.check import PLACEHOLDER
from mllint.analysis.hydra.lint import call_commands, shell_apps
from mllint.testing import fix, lint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROJECT = FIXTURES / "ML501" / "project"
CODES = ["ML501", "ML502", "ML503"]
HYDRA_FILES = [PROJECT / "train.py", PROJECT / "good.py", PROJECT / "scripts" / "launch.sh",
               PROJECT / "scripts" / "good.sh", FIXTURES / "ML501" / "fixed" / "train.py",
               FIXTURES / "ML501" / "fixed" / "scripts" / "launch.sh"]


def hydra_error(config_dir: Path, config_name: str, overrides: list[str], multirun: bool = False):
    """The exception real Hydra raises composing this command (None if every job composes)."""
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        try:
            jobs = [overrides]
            if multirun:
                parsed = OverridesParser.create().parse_overrides(overrides)
                jobs = BasicSweeper.split_arguments(parsed, None)[0]
            for job in jobs:
                compose(config_name, overrides=list(job))
        except (ConfigCompositionException, MissingConfigException, OverrideParseException) as exc:
            return exc
    return None


def rule_of(exc) -> str:
    """Which of our rules names this Hydra error."""
    text = str(exc)
    if isinstance(exc, MissingConfigException) or "looks like a config group override" in text:
        return "ML503"
    if "Could not append" in text or "Multiple values for" in text:
        return "ML501"
    if isinstance(exc, OverrideParseException) or "Could not override" in text or "does not exist" in text:
        return "ML502"
    return f"unexpected: {type(exc).__name__}: {text}"


# ---- 1. the seed's commands ------------------------------------------------------------------

@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    return dest


def test_seed_append_existing_key_raises_and_fixed_composes(project):
    conf = project / "config"
    original = ["arch=multimodal_hesc", "checkpoint_path=ckpt", "+load_checkpoint=ckpt/latest.pt"]
    launcher = f"import subprocess\nsubprocess.run(['python', 'pretrain.py', {', '.join(map(repr, original))}])\n"
    assert [d.code for d in lint(launcher, CODES, path=str(project / "run.py"), root=project)] == ["ML501"]
    with pytest.raises(ConfigCompositionException, match="Could not append to config"):
        with initialize_config_dir(config_dir=str(conf), version_base=None):
            compose("cfg_pretrain", overrides=original)
    fixed_source = fix(launcher, CODES, path=str(project / "run.py"), root=project)
    fixed = [w.strip("'") for w in fixed_source.split("'pretrain.py', ")[1].split("])")[0].split(", ")]
    assert fixed == ["arch=multimodal_hesc", "checkpoint_path=ckpt", "load_checkpoint=ckpt/latest.pt"]
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose("cfg_pretrain", overrides=fixed)
    assert cfg.load_checkpoint == "ckpt/latest.pt" and cfg.arch.coconut is True


def test_seed_unknown_key_raises_and_suggestion_composes(project):
    conf = project / "config"
    diags = lint("python pretrain.py data_path=[datasets/vision_unified]\n", CODES,
                 path=str(project / "run.sh"), root=project)
    assert [d.code for d in diags] == ["ML502"] and "`data_paths`" in diags[0].message
    with pytest.raises(ConfigCompositionException, match="Could not override 'data_path'"):
        with initialize_config_dir(config_dir=str(conf), version_base=None):
            compose("cfg_pretrain", overrides=["data_path=[datasets/vision_unified]"])
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose("cfg_pretrain", overrides=["data_paths=[datasets/vision_unified]"])
    assert list(cfg.data_paths) == ["datasets/vision_unified"]


def test_seed_missing_config_raises_and_suggestion_composes(project):
    conf = project / "config"
    diags = lint("python pretrain.py --config-name=cfg_multimodal\n", CODES, path=str(project / "run.sh"),
                 root=project)
    assert [d.code for d in diags] == ["ML503"] and "`cfg_pretrain`" in diags[0].message
    with pytest.raises(MissingConfigException, match="Cannot find primary config 'cfg_multimodal'"):
        with initialize_config_dir(config_dir=str(conf), version_base=None):
            compose("cfg_multimodal")
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        assert compose("cfg_pretrain").arch.name.startswith("recursive_reasoning")


# ---- 2. agreement over every fixture command ---------------------------------------------------

def fixture_commands(path: Path):
    """(app, words) for each command in a fixture file, found the way the rules find them."""
    source = path.read_text()
    settings = Settings(root=PROJECT)
    if path.suffix == ".sh":
        return shell_apps(FileContext(str(path), source, kind="shell", project=settings)), None
    module = cst.parse_module(source)
    ctx = FileContext(str(path), source, module=module, project=settings)
    found = []

    class Walk(cst.CSTVisitor):
        def on_visit(self, node):
            ctx.stack.append(node)
            if isinstance(node, cst.Call):
                found.extend(call_commands(ctx, node))
            return True

        def on_leave(self, node):
            ctx.stack.pop()

    module.visit(Walk())
    return found, ctx


def start_of(arg, ctx):
    if isinstance(arg.anchor, tuple):
        return (arg.anchor[0].row, arg.anchor[0].column)
    start, _ = ctx.start_end(arg.anchor)
    return (start.row, start.column)


def concrete(app, words):
    """Config name, overrides and multirun flag as Hydra would see them ($VAR -> a value)."""
    name, overrides, multirun, i = app.config_name, [], False, 0
    while i < len(words):
        text = words[i].text
        i += 1
        if text is None:
            continue
        text = text.replace(PLACEHOLDER, "x")
        if text in ("--multirun", "-m"):
            multirun = True
        elif text.startswith("--config-name"):
            if "=" in text:
                name = text.split("=", 1)[1]
            else:
                name, i = words[i].text, i + 1
        else:
            overrides.append((words[i - 1], text))
    return name, overrides, multirun


@pytest.mark.parametrize("path", HYDRA_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_command_agrees_with_hydra(path):
    commands, ctx = fixture_commands(path)
    assert commands, f"{path}: no Hydra command found"
    diags = lint(path.read_text(), CODES, path=str(path), root=PROJECT)
    by_start = {(d.start.row, d.start.column): d.code for d in diags}
    matched = 0
    for app, words in commands:
        name, overrides, multirun = concrete(app, words)
        name_word = next((w for w in words if w.text and w.text.startswith("--config-name")), None)
        name_code = None
        if name_word is not None:
            anchor = name_word if "=" in name_word.text else words[words.index(name_word) + 1]
            name_code = by_start.get(start_of(anchor, ctx))
        flagged = [(w, t, by_start[start_of(w, ctx)]) for w, t in overrides if start_of(w, ctx) in by_start]
        clean = [t for w, t in overrides if start_of(w, ctx) not in by_start]
        matched += len(flagged) + (name_code is not None)
        if name_code is not None:
            assert name_code == "ML503"
            assert rule_of(hydra_error(app.config_dir, name, clean, multirun)) == "ML503"
            continue
        # Each flagged override alone makes Hydra fail with the flagged rule's error ...
        for word, text, code in flagged:
            alone = [t for w, t in overrides if w is word or start_of(w, ctx) not in by_start]
            exc = hydra_error(app.config_dir, name, alone, multirun)
            assert exc is not None and rule_of(exc) == code, (text, exc)
        # ... and what is left composes.
        assert hydra_error(app.config_dir, name, clean, multirun) is None, (path, clean)
    assert matched == len(diags)

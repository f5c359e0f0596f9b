"""Cached results of cross-file rules: an entry must never claim a project state newer than the
one its rules read."""

from __future__ import annotations

from click.testing import CliRunner

from mllint.run import runner
from mllint.frontends.cli import main


def test_a_config_edited_while_a_file_is_linted_is_not_hidden_by_the_cache(tmp_path, monkeypatch):
    """The project fingerprint stored with a cross-file result is taken before the rules read the
    project, so an edit made during the run (here: right after the lint) makes the next run lint
    the file again instead of answering with what the old config gave."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (conf / "config.yaml").write_text("lr: 0.1\nload_checkpoint: auto\n")
    (tmp_path / "app.py").write_text(
        "import hydra\n@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
        "def main(cfg):\n    pass\n")
    (tmp_path / "launch.py").write_text("import subprocess\nsubprocess.run(['python', 'app.py', '+lr=0.2'])\n")
    monkeypatch.chdir(tmp_path)
    original = runner.lint_source

    def lint_then_edit_the_config(*args, **kwargs):
        result = original(*args, **kwargs)
        (conf / "config.yaml").write_text("load_checkpoint: auto\n")  # `lr` is gone: `+lr` is right now
        return result

    monkeypatch.setattr(runner, "lint_source", lint_then_edit_the_config)
    first = CliRunner().invoke(main, ["--jobs", "1", "launch.py"])
    assert "ML501" in first.output  # what the config said when the rule read it
    monkeypatch.setattr(runner, "lint_source", original)
    second = CliRunner().invoke(main, ["--jobs", "1", "launch.py"])
    assert "ML501" not in second.output and second.exit_code == 0, second.output

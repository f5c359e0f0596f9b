"""Promise 2: a fix never corrupts. The result parses, fixing is idempotent, only the fixed spans
change, writes are atomic, and a file changed on disk meanwhile is not overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import libcst as cst
import pytest

from mllint.engine import lint as engine
from mllint.run import runner
from mllint.run.config import Settings

BAD = "import torch\n\n# a comment that must survive  \t\nx = 1;  y = 2\np.grad = torch.nan_to_num(p.grad)\nz = 3\n"


def _task(path: Path, **kw) -> runner.Task:
    settings = Settings(root=path.parent)
    return runner.Task(path, path.name, settings, fix=True, unsafe=True, cache=False, **kw)


def test_only_the_fixed_span_changes(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD)
    result = runner.process(_task(path))
    after = path.read_text()
    assert result.fixed == 1
    prefix, suffix = BAD.split("torch.nan_to_num(p.grad)")
    assert after.startswith(prefix) and after.endswith(suffix)
    cst.parse_module(after)


def test_no_temporary_files_are_left_behind(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD)
    runner.process(_task(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.py"]


def test_a_file_changed_on_disk_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    path = tmp_path / "t.py"
    path.write_text(BAD)
    original = runner.lint_source

    def edit_during_lint(*args, **kwargs):
        result = original(*args, **kwargs)
        path.write_text("# the user saved a new version\n")
        os.utime(path, ns=(1, 1))  # make sure the modification time differs
        return result

    monkeypatch.setattr(runner, "lint_source", edit_during_lint)
    result = runner.process(_task(path))
    assert path.read_text() == "# the user saved a new version\n"
    assert any("changed on disk" in e for e in result.errors)


def test_write_failure_leaves_the_original(tmp_path, monkeypatch):
    path = tmp_path / "t.py"
    path.write_text(BAD)

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    result = runner.process(_task(path))
    assert path.read_text() == BAD
    assert any("not written" in e for e in result.errors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.py"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fixing_is_idempotent(tmp_path, newline):
    path = tmp_path / "t.py"
    path.write_bytes(BAD.replace("\n", newline).encode())
    runner.process(_task(path))
    once = path.read_bytes()
    second = runner.process(_task(path))
    assert second.fixed == 0 and path.read_bytes() == once
    assert newline.encode() + b"z = 3" in once


def test_fix_loop_is_bounded(monkeypatch):
    """A rule whose fix always re-triggers stops after MAX_FIX_PASSES and says so."""
    from mllint.diagnostics import Applicability, Fix
    from mllint.engine.rule import Rule

    class Grows(Rule):
        code = "ML997"
        name = "grows"
        summary = "test"

        def visit_Module(self, node):
            end = self.ctx.start_end(node.body[-1])[1]
            self.report(node.body[-1], "m", Fix(Applicability.SAFE, "f", (engine.Edit(end, end, " + 1"),)))

    result = engine.lint_text("x = 1\n", "t.py", "python", [(Grows, {})], fix=True)
    assert result.fixed == engine.MAX_FIX_PASSES
    assert any("did not converge" in e for e in result.errors)

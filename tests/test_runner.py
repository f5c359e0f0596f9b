"""The runner's handling of one file: what it does around the lint itself."""

from __future__ import annotations

import platform

import pytest

from mllint.run import runner
from mllint.run.config import ConfigResolver


def _task(path):
    found, _ = runner.discover([str(path)], ConfigResolver(None))
    (path, display, settings), = found
    return runner.Task(path, display, settings, cache=False)


@pytest.mark.parametrize("lines, released", [(10, False), (4000, True)])
def test_the_heap_is_trimmed_after_a_large_file_only(tmp_path, monkeypatch, lines, released):
    """A large file's syntax trees leave the heap grown; the next large file in the same worker
    would grow it further (PyTorch's largest test file then peaked 20% above the parse floor)."""
    calls = []
    monkeypatch.setattr(runner, "_release_freed_memory", lambda: calls.append(1))
    source = tmp_path / "train.py"
    source.write_text("import torch\n" + "x = torch.zeros(3)  # padding to make the file large\n" * lines)
    assert (source.stat().st_size >= runner._LARGE_FILE_BYTES) is released
    result = runner.process(_task(source))
    assert result.errors == [] and calls == ([1] if released else [])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_trim_is_found_and_runs():
    assert runner._malloc_trim() is not None
    runner._release_freed_memory()

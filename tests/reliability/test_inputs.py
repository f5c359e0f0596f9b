"""Promise 1: any input gives diagnostics or a clear message, never a traceback, and the other
files are still linted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BAD = b"import torch\np.grad = torch.nan_to_num(p.grad)\n"


def mllint(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mllint", "--no-cache", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


HOSTILE = {
    "syntax_error.py": (b"def f(:\n", "ML000 SyntaxError"),
    "latin1_no_cookie.py": (b"x = '\xe9'\n", "ML000 cannot decode file"),
    "unknown_cookie.py": (b"# -*- coding: klingon -*-\nx = 1\n", "ML000 cannot decode file: unknown encoding"),
    "nul_byte.py": (b"x = 1\x00\n", "ML000 SyntaxError: source code string cannot contain null bytes"),
    "deep_parens.py": (b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n", "ML000 SyntaxError: too many nested"),
    "long_chain.py": (b"x = " + b"+".join([b"1"] * 20000) + b"\n", "ML000 SyntaxError: nesting too deep"),
}

CLEAN_BUT_ODD = {
    "latin1_cookie.py": b"# -*- coding: latin-1 -*-\nimport torch\nx = '\xe9'\np.grad = torch.nan_to_num(p.grad)\n",
    "bom.py": b"\xef\xbb\xbf" + BAD,
    "crlf.py": BAD.replace(b"\n", b"\r\n"),
    "mixed_endings.py": b"import torch\r\nx = 1\ny = 2\r\np.grad = torch.nan_to_num(p.grad)\n",
    "tabs_formfeed.py": b"import torch\nif x:\n\tp.grad = torch.nan_to_num(p.grad)\n\x0c\ndef f():\n\treturn 1\n",
    "deep_calls.py": b"import torch\nx = " + b"f(" * 180 + b")" * 180 + b"\np.grad = torch.nan_to_num(p.grad)\n",
    "deep_ifs.py": b"import torch\n" + b"".join(b" " * i + b"if x:\n" for i in range(95))
    + b" " * 95 + b"p.grad = torch.nan_to_num(p.grad)\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    for name, (data, _) in HOSTILE.items():
        _write(tmp_path / name, data)
    for name, data in CLEAN_BUT_ODD.items():
        _write(tmp_path / name, data)
    _write(tmp_path / "empty.py", b"")
    _write(tmp_path / "sentinel.py", BAD)
    (tmp_path / "dir.py").mkdir()
    _write(tmp_path / "dir.py" / "inner.py", BAD)
    os.symlink("missing.py", tmp_path / "broken_link.py")
    os.symlink("loop_b.py", tmp_path / "loop_a.py")
    os.symlink("loop_a.py", tmp_path / "loop_b.py")
    return tmp_path


def test_every_hostile_input_is_reported_and_the_rest_is_linted(tree):
    proc = mllint("--jobs", "2", ".", cwd=tree)
    assert "Traceback" not in proc.stderr + proc.stdout
    for name, (_, expected) in HOSTILE.items():
        assert any(line.startswith(name) and expected in line for line in proc.stdout.splitlines()), name
    for name in (*CLEAN_BUT_ODD, "sentinel.py", "dir.py/inner.py"):
        assert any(line.startswith(f"{name}:") and " ML101 " in line for line in proc.stdout.splitlines()), name
    assert "broken_link.py: cannot read" in proc.stderr
    assert "loop_a.py: cannot read" in proc.stderr
    assert proc.returncode == 2  # unreadable files are errors, reported after the diagnostics


def test_positions_survive_odd_files(tree):
    proc = mllint("--select", "ML101", "--format", "json", "crlf.py", "bom.py", "tabs_formfeed.py", cwd=tree)
    import json

    rows = {(d["filename"], d["location"]["row"], d["location"]["column"]) for d in json.loads(proc.stdout)}
    assert rows == {("crlf.py", 2, 10), ("bom.py", 2, 10), ("tabs_formfeed.py", 3, 11)}


def test_fix_on_odd_files_keeps_their_bytes(tree):
    proc = mllint("--fix", "--select", "ML101", *CLEAN_BUT_ODD, cwd=tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, data in CLEAN_BUT_ODD.items():
        after = (tree / name).read_bytes()
        expected = data.replace(b"torch.nan_to_num(p.grad)",
                                b'torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))')
        assert after == expected, name


def test_unreadable_file(tmp_path, monkeypatch):
    """Permission denied is a one-line error (exit 2) and the other files are still linted. The
    tests run as root in CI, where mode 000 does not stop reading, so the denial is simulated."""
    import builtins

    from click.testing import CliRunner

    from mllint.run import runner
    from mllint.frontends.cli import main

    (tmp_path / "secret.py").write_bytes(BAD)
    (tmp_path / "other.py").write_bytes(BAD)

    def deny(path, *args, **kwargs):
        if str(path).endswith("secret.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(runner, "open", deny, raising=False)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "."])
    assert out.exit_code == 2
    assert "secret.py: cannot read: Permission denied" in out.output
    assert "other.py:2:10: ML101" in out.output


def test_very_large_file(tmp_path, monkeypatch):
    """Over the size limit a file is checked for syntax only, in pieces, and never parsed whole by
    LibCST (not even to see whether a syntax error is newer Python). The limits are lowered here
    so that the files stay small: ~10 KB is analysed in full, ~50 KB checked for syntax only."""
    from click.testing import CliRunner

    from mllint.engine import lint as engine
    from mllint.frontends.cli import main

    monkeypatch.setattr(engine, "MAX_ANALYSED_CHARS", 20_000)
    monkeypatch.setattr(engine, "SYNTAX_CHUNK_CHARS", 2048)
    parsed = []
    real_newer = engine._newer_python_syntax
    monkeypatch.setattr(engine, "_newer_python_syntax", lambda source: parsed.append(len(source)) or real_newer(source))
    unit = b"def f%d(x):\n    return x * %d + 1\n"
    _write(tmp_path / "big.py", b"".join(unit % (i, i) for i in range(300)) + BAD)
    _write(tmp_path / "huge.py", b"".join(unit % (i, i) for i in range(1_500)) + BAD + b"def g(:\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "big.py", "huge.py"])
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert [line.split(":")[0] for line in out.stdout.splitlines() if " ML101 " in line] == ["big.py"]
    assert "huge.py:3003:7: ML000 SyntaxError: invalid syntax" in out.stdout.splitlines()
    assert re.search(r"huge\.py: 0\.1 MB, over the 0\.02 MB limit for analysis by rules; checked for syntax only",
                     out.stderr)
    assert parsed and max(parsed) < 3 * 2048  # LibCST saw only the piece with the error
    assert out.exit_code == 1


def test_a_crashing_rule_is_reported_with_how_to_report_it(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mllint.frontends.cli import main
    from mllint.rules.precision import ml101_nan_to_num_masks_overflow as ml101

    def boom(self, node):
        raise KeyError("unexpected")

    monkeypatch.setattr(ml101.NanToNumMasksOverflow, "visit_Call", boom)
    _write(tmp_path / "a.py", BAD)
    _write(tmp_path / "b.py", b"def f(:\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "."])
    assert out.exit_code == 2
    text = out.output  # stdout and stderr
    assert "internal error in ML101 (nan-to-num-masks-overflow): KeyError" in text
    assert "report it" in text
    assert "b.py:1:7: ML000" in text  # the other file was still linted

"""Real ML code: lint and fix (unsafe fixes included) the sources of transformers, timm,
stable-baselines3 and PyTorch's own Python files, downloaded at test time with
`pip download --no-deps` into a temporary directory (never committed).

Checks: no crash, every fixed file compiles, a second fix pass changes nothing. The numbers
(files, lines, diagnostics per rule, seconds) are printed with the test output.
Left out of a plain `pytest` (tests/conftest.py): select it alone with `pytest -m corpus`, or add
`--run-corpus`. CI runs it after the default suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

PACKAGES = ["transformers", "timm", "stable-baselines3", "torch==2.13.0"]

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    downloads = root / "downloads"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(downloads), *PACKAGES],
                   check=True, capture_output=True, timeout=1800)
    src = root / "src"
    for wheel in downloads.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.endswith(".py") and ".dist-info/" not in member:
                    zf.extract(member, src / wheel.name.split("-")[0])
    (src / "pyproject.toml").write_text("[tool.mllint]\n")
    return src


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mllint(corpus: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mllint", "--preview", "--select", "ALL", "--jobs",
                           str(os.cpu_count() or 1), *args, "."], cwd=corpus, capture_output=True, text=True,
                          timeout=3600)


def test_lint_and_fix_real_ml_code(corpus, capsys):
    files = sorted(corpus.rglob("*.py"))
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    t0 = time.perf_counter()
    lint = _mllint(corpus, "--no-cache", "--format", "json")
    t_lint = time.perf_counter() - t0
    assert "internal error" not in lint.stderr and "Traceback" not in lint.stderr, lint.stderr[-3000:]
    diags = json.loads(lint.stdout)
    per_rule = Counter(d["code"] for d in diags)

    before = {p: _digest(p) for p in files}
    t0 = time.perf_counter()
    fixed = _mllint(corpus, "--fix", "--unsafe-fixes", "--format", "json")
    t_fix = time.perf_counter() - t0
    assert "internal error" not in fixed.stderr and "invalid code" not in fixed.stderr, fixed.stderr[-3000:]
    changed = [p for p in files if _digest(p) != before[p]]
    for path in changed:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)  # every fixed file compiles

    after_first = {p: _digest(p) for p in files}
    again = _mllint(corpus, "--fix", "--unsafe-fixes", "--format", "json")
    assert "internal error" not in again.stderr
    assert [p for p in files if _digest(p) != after_first[p]] == [], "a second fix pass changed files"

    with capsys.disabled():
        print(f"\n[corpus] {len(files)} files, {lines:,} lines; lint {t_lint:.1f}s, fix {t_fix:.1f}s; "
              f"{len(diags)} diagnostics: " + ", ".join(f"{c} {n}" for c, n in sorted(per_rule.items()))
              + f"; {len(changed)} files fixed")

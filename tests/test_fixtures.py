"""fixtures/<CODE>/: bad.* triggers the rule at the lines listed in bad.expected, fixed.* is exactly
what the fix makes of bad.*, good.* (the catalog's near misses) stays clean.

Fixture directories holding a whole project (a `project/` folder, e.g. the Hydra rules) are tested
by their rule's own tests instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mllint.diagnostics import Applicability
from mllint.run.rules import all_rules
from mllint.testing import fix, lint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RULES = all_rules()
# Fixture directories holding a whole project (fixtures/<CODE>/project/) are tested by the rule's own tests.
CODES = sorted(p.name for p in FIXTURES.iterdir()
               if p.is_dir() and p.name in RULES and not (p / "project").is_dir())


def selection(code: str) -> str:
    """ML001 (unused suppression) needs the rules whose suppressions it checks to run too."""
    return "ALL" if code == "ML001" else code


def _one(directory: Path, stem: str) -> Path | None:
    found = [p for p in directory.glob(f"{stem}.*") if p.suffix != ".expected"]
    assert len(found) <= 1, f"several {stem}.* files in {directory}"
    return found[0] if found else None


def _expected(directory: Path) -> list[tuple[int, int, str]]:
    out = []
    for line in (directory / "bad.expected").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pos, code = line.split()
            row, col = pos.split(":")
            out.append((int(row), int(col), code))
    return out


def test_every_rule_has_fixtures():
    missing = [code for code in RULES if code != "ML000" and not (FIXTURES / code).is_dir()]
    assert missing == []


@pytest.mark.parametrize("code", CODES)
def test_bad_triggers_at_expected_positions(code):
    directory = FIXTURES / code
    bad = _one(directory, "bad")
    diags = lint(bad.read_text(), selection(code), path=bad.name)
    got = [(d.start.row, d.start.column, d.code) for d in diags]
    assert got == _expected(directory)


@pytest.mark.parametrize("code", CODES)
def test_fixed_is_exactly_what_the_fix_produces(code):
    directory = FIXTURES / code
    bad, fixed = _one(directory, "bad"), _one(directory, "fixed")
    if fixed is None:
        assert RULES[code].fix_applicability == Applicability.NONE, f"{code} has a fix but no fixed.* fixture"
        return
    unsafe = RULES[code].fix_applicability == Applicability.UNSAFE
    assert fix(bad.read_text(), selection(code), unsafe=unsafe, path=bad.name) == fixed.read_text()


@pytest.mark.parametrize("code", CODES)
def test_fixed_is_clean_and_fixing_is_idempotent(code):
    directory = FIXTURES / code
    fixed = _one(directory, "fixed")
    if fixed is None:
        pytest.skip("no fix for this rule")
    text = fixed.read_text()
    assert [d for d in lint(text, selection(code), path=fixed.name) if d.code == code] == []
    assert fix(text, selection(code), unsafe=True, path=fixed.name) == text


@pytest.mark.parametrize("code", CODES)
def test_good_stays_clean(code):
    directory = FIXTURES / code
    good = _one(directory, "good")
    assert good is not None, f"fixtures/{code}/good.* is missing"
    assert lint(good.read_text(), selection(code), path=good.name) == []

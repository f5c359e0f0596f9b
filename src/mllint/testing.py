"""Helpers for testing rules, mllint's own and rule packs' (docs/rule-packs.md): lint or fix a
source string with chosen rules, no files needed. This module is public and stable: `lint`, `fix`,
`codes`, `rows`, `run` and the `assert_*` functions below.

`select` (or `rule`) is a rule class, a list of them, or codes and prefixes as on the command line
("ML101", ["ACME"]). A class is run as given, whether or not its pack is installed.

    >>> from mllint.testing import lint, fix
    >>> [d.code for d in lint("import torch\\ntorch.nan_to_num(p.grad)\\n", select="ML101")]
    ['ML101']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from mllint.diagnostics import Applicability, Diagnostic
from mllint.engine.api import lint_source
from mllint.engine.files import kind_of
from mllint.engine.lint import FileResult
from mllint.engine.rule import Rule
from mllint.run.config import SelectionLayer, Settings


def _classes(select) -> list[type[Rule]] | None:
    """The rule classes `select` names directly, or None for codes and prefixes."""
    if isinstance(select, type):
        return [select]
    if isinstance(select, (list, tuple)) and select and all(isinstance(s, type) for s in select):
        return list(select)
    return None


def _settings(select: str | Iterable[str] | None, options: dict[str, dict[str, Any]] | None,
              preview: bool, root: Path | None, hydra: dict | None) -> Settings:
    if _classes(select) is not None:
        select = None
    if isinstance(select, str):
        select = [select]
    settings = Settings(root=root or Path.cwd(), preview=preview)
    settings.layers.append(SelectionLayer(select=list(select) if select is not None else None))
    settings.rule_options = dict(options or {})
    settings.hydra = dict(hydra or {})
    return settings


def run(source: str, select=None, *, path: str = "example.py", options=None, preview: bool = True,
        fix: bool = False, unsafe: bool = False, root: Path | None = None, hydra: dict | None = None,
        prescreen: bool | None = None) -> FileResult:
    """Lint (or fix) `source`. By default it is done twice, with the candidate prescreen and
    without it, and the two results must agree: every rule test also proves that the prescreen
    (mllint.engine.candidates and the text evidence) never hides a finding or changes a fix."""
    settings = _settings(select, options, preview, root, hydra)
    classes = _classes(select)
    rules = [(cls, settings.options_for(cls)) for cls in (classes if classes is not None else settings.enabled_rules())]
    kind = kind_of(Path(path)) or "python"

    def once(screen: bool) -> FileResult:
        return lint_source(source, path, kind, rules, project=settings, fix=fix, unsafe=unsafe, prescreen=screen)

    if prescreen is not None:
        return once(prescreen)
    screened, plain = once(True), once(False)
    if (screened.diagnostics, screened.new_source) != (plain.diagnostics, plain.new_source):
        got = sorted({d.code for d in screened.diagnostics})
        want = sorted({d.code for d in plain.diagnostics})
        raise AssertionError(f"the prescreen changed the result: {got} with it, {want} without it "
                             "(a rule's `candidates` or `evidence` is missing something its check accepts)")
    return screened


def lint(source: str, select=None, **kwargs) -> list[Diagnostic]:
    """Diagnostics for `source`; raises if a rule crashed (tests should see internal errors)."""
    result = run(source, select, **kwargs)
    if result.errors:
        raise AssertionError("\n".join(result.errors))
    return result.diagnostics


def fix(source: str, select=None, *, unsafe: bool = False, **kwargs) -> str:
    """The source after applying fixes (safe ones, and unsafe ones too if `unsafe`)."""
    result = run(source, select, fix=True, unsafe=unsafe, **kwargs)
    if result.errors:
        raise AssertionError("\n".join(result.errors))
    return result.new_source if result.new_source is not None else source


def codes(source: str, select=None, **kwargs) -> list[str]:
    return [d.code for d in lint(source, select, **kwargs)]


def rows(source: str, select=None, **kwargs) -> list[int]:
    return [d.start.row for d in lint(source, select, **kwargs)]


# ---- assertions for a rule's tests (Fixit's VALID/INVALID cases, as functions) ------------------

def _code(rule) -> str:
    return rule if isinstance(rule, str) else rule.code


def assert_flags(rule, source: str, *, rows: list[int] | None = None, **kwargs) -> list[Diagnostic]:
    """`rule` (a class or a code) reports on `source`; at exactly these `rows` if given. Returns
    its diagnostics (to check messages)."""
    code = _code(rule)
    found = [d for d in lint(source, rule, **kwargs) if d.code == code]
    assert found, f"{code} does not report on:\n{source}"
    if rows is not None:
        got = [d.start.row for d in found]
        assert got == rows, f"{code} reports at rows {got}, expected {rows}, on:\n{source}"
    return found


def assert_clean(rule, source: str, **kwargs) -> None:
    """`rule` reports nothing on `source` (a near miss the rule must accept)."""
    code = _code(rule)
    found = [f"{d.start.row}:{d.start.column} {d.message}" for d in lint(source, rule, **kwargs) if d.code == code]
    assert not found, f"{code} reports on accepted code: {found}\n{source}"


def assert_fix(rule, bad: str, fixed: str, *, unsafe: bool = False, **kwargs) -> None:
    """Fixing `bad` gives exactly `fixed`, which parses and on which the rule has nothing left to
    fix. A fix that needs `unsafe=True` must leave `bad` unchanged without it (`--fix` alone)."""
    code = _code(rule)
    got = fix(bad, rule, unsafe=unsafe, **kwargs)
    assert got == fixed, f"{code}'s fix gives:\n{got}\nexpected:\n{fixed}"
    if kind_of(kwargs.get("path", "example.py")) in (None, "python"):
        compile(got, "<fixed>", "exec")
    left = [d for d in lint(got, rule, **kwargs) if d.code == code and d.fix is not None]
    assert not left, f"{code} still offers a fix after fixing: {[d.message for d in left]}"
    if unsafe and getattr(rule, "fix_applicability", None) == Applicability.UNSAFE:
        assert fix(bad, rule, unsafe=False, **kwargs) == bad, f"{code}: an unsafe fix was applied without unsafe=True"


def assert_fixtures(rule, directory: str | Path, **kwargs) -> None:
    """A fixture directory, laid out as mllint's own fixtures/<CODE>/: `bad.*` is flagged at the
    `row:col CODE` lines of `bad.expected`, `fixed.*` (if any) is what the fixes (unsafe ones too)
    make of `bad.*`, and `good.*` (if any) stays clean."""
    directory = Path(directory)

    def one(stem: str) -> Path | None:
        found = sorted(p for p in directory.glob(f"{stem}.*") if p.suffix != ".expected")
        assert len(found) <= 1, f"several {stem}.* files in {directory}"
        return found[0] if found else None

    bad, fixed, good = one("bad"), one("fixed"), one("good")
    assert bad is not None, f"no bad.* fixture in {directory}"
    expected = []
    for line in (directory / "bad.expected").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            pos, code = line.split()
            row, col = pos.split(":")
            expected.append((int(row), int(col), code))
    got = [(d.start.row, d.start.column, d.code) for d in lint(bad.read_text(encoding="utf-8"), rule, path=bad.name,
                                                                 **kwargs)]
    assert got == expected, f"{bad}: reported {got}, bad.expected says {expected}"
    if fixed is not None:
        result = fix(bad.read_text(encoding="utf-8"), rule, unsafe=True, path=bad.name, **kwargs)
        assert result == fixed.read_text(encoding="utf-8"), f"fixing {bad} does not give {fixed}"
    if good is not None:
        assert lint(good.read_text(encoding="utf-8"), rule, path=good.name, **kwargs) == [], f"{good} is flagged"

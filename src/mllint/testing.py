"""Helpers for testing rules: lint or fix a source string with chosen rules, no files needed.

    >>> from mllint.testing import lint, fix
    >>> [d.code for d in lint("import torch\\ntorch.nan_to_num(p.grad)\\n", select="ML101")]
    ['ML101']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from mllint.config import SelectionLayer, Settings
from mllint.diagnostics import Diagnostic
from mllint.engine import FileResult, kind_of, lint_text


def _settings(select: str | Iterable[str] | None, options: dict[str, dict[str, Any]] | None,
              preview: bool, root: Path | None, hydra: dict | None) -> Settings:
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
    (mllint.candidates and the text evidence) never hides a finding or changes a fix."""
    settings = _settings(select, options, preview, root, hydra)
    rules = [(cls, settings.options_for(cls)) for cls in settings.enabled_rules()]
    kind = kind_of(Path(path)) or "python"

    def once(screen: bool) -> FileResult:
        return lint_text(source, path, kind, rules, project=settings, fix=fix, unsafe=unsafe, prescreen=screen)

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

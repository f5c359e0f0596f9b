"""The Rule base class, the registry of mllint's own rules (`register`), and the rules' metadata
(`Option`, `RuleInfo`). Import-light: LibCST only for type checking, so that configuration and
cached runs can use the metadata types (the rule classes are found by mllint.run.rules).

A rule is a small class. Python rules define LibCST-style `visit_<Node>` / `leave_<Node>` methods;
the engine calls them all from one traversal of the file. Rules for other file kinds (YAML
configs, shell launch scripts) define `check_file(ctx)` and declare those kinds in `file_kinds`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from mllint.diagnostics import Applicability, Fix

if TYPE_CHECKING:
    import libcst as cst

    from mllint.engine.candidates import Pattern
    from mllint.engine.context import FileContext


@dataclass(frozen=True)
class Option:
    """A per-rule option, set under [tool.mllint.rules.<CODE>] in pyproject.toml."""

    type: type | tuple[type, ...]
    default: Any
    help: str
    items: type | None = None  # for a list: the type of each element (checked when the file is read)


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for `mllint rules` and SARIF short descriptions
    stability: ClassVar[str] = "stable"  # or "preview"
    fix_applicability: ClassVar[Applicability] = Applicability.NONE
    # Cheap evidence: a file whose text contains none of these (substrings, or compiled regexes
    # for "all of" or word-boundary conditions) cannot trigger the rule and is not parsed for it.
    # Empty means "always run". Every rule test runs with and without the prescreen and must get
    # the same result (mllint.testing), and so do the fixtures (tests/test_cache.py).
    # A dict {kind: items} gives different evidence per file kind (e.g. launchers vs YAML configs).
    evidence: ClassVar[tuple[str | re.Pattern, ...] | dict[str, tuple[str | re.Pattern, ...]]] = ()
    # For Python files: what the file's CPython AST must contain for the rule to report anything
    # (a necessary condition, see mllint.engine.candidates). None means "always run".
    candidates: ClassVar[Pattern | None] = None
    file_kinds: ClassVar[tuple[str, ...]] = ("python",)
    # True for rules whose result also depends on other files (e.g. Hydra configs), or the file kinds
    # for which it does (("yaml",)): their results are cached against what they read (mllint.engine.reads).
    cross_file: ClassVar[bool | tuple[str, ...]] = False
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, ctx: FileContext, options: dict[str, Any]):
        self.ctx = ctx
        self.opts = options

    def report(self, node: cst.CSTNode | None, message: str, fix: Fix | None = None, *, start=None, end=None) -> None:
        """Report a diagnostic at `node` (or at explicit start/end Locations)."""
        self.ctx.report(self, node, message, fix, start=start, end=end)

    def check_file(self, ctx: FileContext) -> None:  # pragma: no cover - overridden by non-Python rules
        """Entry point for non-Python file kinds (yaml, shell)."""


REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the registry (codes are unique)."""
    if cls.code in REGISTRY and REGISTRY[cls.code] is not cls:
        raise ValueError(f"duplicate rule code {cls.code}")
    for key, opt in cls.options.items():
        if "_" in key:
            raise ValueError(f"{cls.code}: option names are kebab-case ({key!r})")
    REGISTRY[cls.code] = cls
    return cls


# ---- what configuration, selection and the cache need, without the implementations ------------

@dataclass(frozen=True)
class RuleInfo:
    """A rule's metadata: enough to validate configuration, select rules, key the cache and decide
    which files to read, without importing the rule modules (and LibCST with them). A run that
    the cache answers entirely needs nothing else. Read from mllint/engine/manifest.py, which is
    generated from the rule classes (`python -m mllint.run.rules`); a test fails when it is stale."""

    code: str
    name: str
    summary: str
    stability: str
    fix_applicability: Applicability
    file_kinds: tuple[str, ...]
    cross_file: bool | tuple[str, ...]
    evidence: Any
    options: dict[str, Option]


INFO_FIELDS = ("code", "name", "summary", "stability", "fix_applicability", "file_kinds", "cross_file", "evidence",
                "options")


def info_of(cls: type[Rule]) -> RuleInfo:
    return RuleInfo(**{f: getattr(cls, f) for f in INFO_FIELDS})

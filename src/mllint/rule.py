"""The Rule base class and the registry that the CLI, the docs and the tests all read.

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

    from mllint.candidates import Pattern
    from mllint.context import FileContext


@dataclass(frozen=True)
class Option:
    """A per-rule option, set under [tool.mllint.rules.<CODE>] in pyproject.toml."""

    type: type | tuple[type, ...]
    default: Any
    help: str


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
    # (a necessary condition, see mllint.candidates). None means "always run".
    candidates: ClassVar[Pattern | None] = None
    file_kinds: ClassVar[tuple[str, ...]] = ("python",)
    # True for rules whose result also depends on other files (e.g. Hydra configs): never cached.
    cross_file: ClassVar[bool] = False
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


def all_rules() -> dict[str, type[Rule]]:
    """Every registered rule, sorted by code (importing the rules package registers them)."""
    import mllint.rules  # noqa: F401  (side effect: registration)

    return dict(sorted(REGISTRY.items()))

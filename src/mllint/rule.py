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
    # (a necessary condition, see mllint.candidates). None means "always run".
    candidates: ClassVar[Pattern | None] = None
    file_kinds: ClassVar[tuple[str, ...]] = ("python",)
    # True for rules whose result also depends on other files (e.g. Hydra configs), or the file kinds
    # for which it does (("yaml",)): their results are cached against what they read (mllint.reads).
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


def builtin_rules() -> dict[str, type[Rule]]:
    """mllint's own rules, sorted by code (importing the rules package registers them)."""
    import mllint.rules  # noqa: F401  (side effect: registration)

    return dict(sorted((code, cls) for code, cls in REGISTRY.items() if cls.__module__.startswith("mllint.")))


def all_rules() -> dict[str, type[Rule]]:
    """Every rule, mllint's own and the installed rule packs' (mllint.packs), sorted by code."""
    from mllint import packs

    rules = builtin_rules()
    if not packs.found():
        return rules
    return dict(sorted({**rules, **{code: cls for code, (cls, _) in packs.load().items()}}.items()))


# ---- what configuration, selection and the cache need, without the implementations ------------

@dataclass(frozen=True)
class RuleInfo:
    """A rule's metadata: enough to validate configuration, select rules, key the cache and decide
    which files to read, without importing the rule modules (and LibCST with them). A run that
    the cache answers entirely needs nothing else. Read from mllint/rules_manifest.py, which is
    generated from the rule classes (`python -m mllint.rule`); a test fails when it is stale."""

    code: str
    name: str
    summary: str
    stability: str
    fix_applicability: Applicability
    file_kinds: tuple[str, ...]
    cross_file: bool | tuple[str, ...]
    evidence: Any
    options: dict[str, Option]


_INFO_FIELDS = ("code", "name", "summary", "stability", "fix_applicability", "file_kinds", "cross_file", "evidence",
                "options")


def info_of(cls: type[Rule]) -> RuleInfo:
    return RuleInfo(**{f: getattr(cls, f) for f in _INFO_FIELDS})


def rule_infos() -> dict[str, RuleInfo]:
    """Every rule's metadata, sorted by code: mllint's own from the generated manifest, and the
    installed rule packs' from their classes (which imports the packs, only when there are any)."""
    from mllint import packs
    from mllint.rules_manifest import RULES

    global _MERGED
    if not packs.found():
        return RULES
    loaded = packs.load()
    if _MERGED is None or _MERGED[0] is not loaded:  # asked for every selector and file: merged once
        _MERGED = (loaded, dict(sorted({**RULES, **{code: info_of(cls) for code, (cls, _) in loaded.items()}}.items())))
    return _MERGED[1]


_MERGED: tuple[dict, dict[str, RuleInfo]] | None = None


def _literal(value: Any) -> str:
    """Python source for a metadata value (strings, numbers, tuples, lists, dicts, types, regexes)."""
    if isinstance(value, re.Pattern):
        return f"re.compile({value.pattern!r}, {value.flags & ~re.UNICODE})"
    if isinstance(value, Applicability):
        return f"Applicability.{value.name}"
    if isinstance(value, Option):
        items = "" if value.items is None else f", items={_literal(value.items)}"
        return f"Option({_literal(value.type)}, {_literal(value.default)}, {value.help!r}{items})"
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, tuple):
        return "(" + "".join(f"{_literal(v)}, " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    raise TypeError(f"rule metadata cannot hold {value!r}")


def manifest_source() -> str:
    """The text of mllint/rules_manifest.py for the registered rules."""
    lines = ['"""Generated by `python -m mllint.rule` from the rule classes; do not edit.',
             "",
             "The rules' metadata (see mllint.rule.RuleInfo), so that configuration, selection and the",
             'cache work without importing the rules and LibCST. tests/test_rule_manifest.py fails when stale."""',
             "",
             "import re",
             "",
             "from mllint.diagnostics import Applicability",
             "from mllint.rule import Option, RuleInfo",
             "",
             "RULES = {"]
    for code, cls in builtin_rules().items():
        info = info_of(cls)
        lines.append(f"    {code!r}: RuleInfo(")
        lines += [f"        {f}={_literal(getattr(info, f))}," for f in _INFO_FIELDS]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m mllint.rule: regenerate the manifest
    from pathlib import Path

    from mllint import rule  # the registry lives in the imported module, not in __main__

    Path(rule.__file__).with_name("rules_manifest.py").write_text(rule.manifest_source())

"""Which values a scope tests against zero or repairs: `if std == 0`, `(std == 0).any()`,
`torch.where(std > 0, ...)`, `std.clamp_(min=eps)`, `std[std == 0] = 1`. A value is named by a key
(`key_of`: its name, or the flat code of a call or attribute); the keys each scope's subtree
tests are indexed once per file, so a rule asks its scope instead of walking it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.astutil import SAME_VALUE_METHODS, peel
from mllint.analysis.names import flat_code
from mllint.analysis.scopes import KeyIndex, subtree_keys

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

# Wrappers that a guard may put around the value it tests: `(std == 0).any()`, `std.min() > 0`, `abs(std)`.
GUARD_PEEL_METHODS = SAME_VALUE_METHODS | {"min", "max", "abs", "all", "any", "amin", "sum", "mean"}
GUARD_FUNCTIONS = ("isclose", "allclose", "isfinite", "isnan", "isinf", "nonzero", "count_nonzero", "all", "any",
                   "where")


def key_of(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, (cst.Call, cst.Attribute)):
        return flat_code(expr)
    return None


def _tested_keys(expr: cst.BaseExpression | None, ctx: FileContext) -> list[str]:
    """The keys of what a test on `expr` tests: `std`, `(std == 0).any()`, `std.min() > 0`,
    `abs(std)`, `torch.abs(std)`."""
    if expr is None:
        return []
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    if isinstance(expr, cst.Call) and expr.args and not isinstance(expr.func, cst.Attribute):
        if ctx.qualified_name(expr.func) in ("abs", "float", "bool"):
            expr = expr.args[0].value
    expr = peel(expr, GUARD_PEEL_METHODS)
    keys = []
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in (
            "abs", "min", "all", "any", "amin"):
        if expr.args:  # torch.abs(std), torch.min(std)
            keys.extend(_tested_keys(expr.args[0].value, ctx))
    key = key_of(expr)
    if key is not None:
        keys.append(key)
    return keys


def _guard_keys(node: cst.CSTNode, ctx: FileContext) -> list[str]:
    """The values that `node` tests or repairs: comparisons and tests that mention one, guard
    functions (isclose, where, ...) called on one, in-place updates of one."""
    if isinstance(node, cst.Comparison):
        keys = _tested_keys(node.left, ctx)
        for c in node.comparisons:
            keys.extend(_tested_keys(c.comparator, ctx))
        return keys
    if isinstance(node, (cst.If, cst.While, cst.IfExp, cst.Assert)):
        return _tested_keys(node.test, ctx)  # `if std:`
    if isinstance(node, cst.Call):
        func = node.func
        keys = []
        if isinstance(func, cst.Attribute):
            last = func.attr.value
            # std.clamp_(min=eps), std.add_(eps), std.masked_fill_(...): repaired in place
            if last.endswith("_") and not last.startswith("_"):
                key = key_of(peel(func.value))
                if key is not None:
                    keys.append(key)
        else:
            last = func.value if isinstance(func, cst.Name) else ""
        if last in GUARD_FUNCTIONS:
            for a in node.args:
                keys.extend(_tested_keys(a.value, ctx))
        return keys
    if isinstance(node, cst.Assign):
        keys = []
        for t in node.targets:  # std[std == 0] = 1.0
            if isinstance(t.target, cst.Subscript):
                key = key_of(peel(t.target.value))
                if key is not None:
                    keys.append(key)
        return keys
    return []


GUARDS = KeyIndex(frozenset({cst.Comparison, cst.If, cst.While, cst.IfExp, cst.Assert, cst.Call, cst.Assign}),
                  _guard_keys)


def guarded(ctx: FileContext, key: str, scopes: list[cst.CSTNode]) -> bool:
    """Is the value `key` tested against zero or repaired anywhere in one of `scopes`?"""
    return any(key in subtree_keys(ctx, GUARDS, scope) for scope in scopes)

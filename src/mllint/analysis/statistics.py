"""Batch statistics of a value: is an expression `x`'s own mean, standard deviation (also
`var ** 0.5`, `sqrt(var + eps)`, `torch.std_mean`), or that std with an epsilon, clamp or floor?
Names bound once in the current scope are followed (`std = x.std()` ... `/ std`). The questions are
asked about the node being visited (bindings of its scope), so nothing is cached."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.names import flat_code
from mllint.analysis.astutil import SAME_VALUE_METHODS, find_arg, number
from mllint.engine.context import Visitor
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

MEAN_FUNCS = frozenset({"torch.mean", "numpy.mean", "numpy.nanmean", "torch.nanmean"})
# Functions that compute a standard deviation; method forms `.std(...)`, `.nanstd(...)`.
STD_FUNCS = frozenset({"torch.std", "torch.Tensor.std", "numpy.std", "numpy.nanstd", "jax.numpy.std",
                       "jax.numpy.nanstd"})
STD_METHODS = ("std", "nanstd")
STD_MEAN_FUNCS = frozenset({"torch.std_mean"})  # `std, mean = torch.std_mean(x)`: element 0 is the std
VAR_FUNCS = frozenset({"torch.var", "numpy.var", "numpy.nanvar"})
SQRT_FUNCS = frozenset({"torch.sqrt", "numpy.sqrt", "math.sqrt"})
FLOOR_FUNCS = frozenset({"max", "builtins.max", "torch.maximum", "torch.max", "torch.clamp", "torch.clip",
                         "numpy.maximum", "numpy.clip", "numpy.fmax", "torch.clamp_min"})
_FUNCS = {"mean": MEAN_FUNCS, "std": STD_FUNCS, "var": VAR_FUNCS}
MAX_DEPTH = 3  # names followed


def strip(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`x.detach()`, `x.item()`, `float(x)` -> x: they do not change which statistics are used."""
    while True:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in SAME_VALUE_METHODS and not expr.args:
            expr = expr.func.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "float" \
                and len(expr.args) == 1:
            expr = expr.args[0].value
        else:
            return expr


def same_value(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    """The same expression, up to whitespace and value-keeping calls (`x.detach()` is `x`)."""
    return flat_code(strip(a)) == flat_code(strip(b))


def single_value(ctx: FileContext, name: cst.Name) -> cst.BaseExpression | None:
    """The value of a local name bound once in the current scope (`ret_std = returns.std()`, also
    one element of a tuple unpacking and of `std, mean = torch.std_mean(x)`)."""
    found = ctx.bindings().get(name.value, [])
    if len(found) != 1:
        return None
    b = found[0]
    if b.kind in ("assign", "annassign"):
        return b.value
    if b.kind == "unpack" and isinstance(b.value, cst.Tuple) and b.index is not None \
            and b.index < len(b.value.elements):
        return b.value.elements[b.index].value
    if b.kind == "unpack" and isinstance(b.value, cst.Call) and b.index in (0, 1) \
            and ctx.call_name(b.value) == "torch.std_mean":
        return cst.Call(cst.Attribute(cst.Name("torch"), cst.Name("std" if b.index == 0 else "mean")), b.value.args)
    return None


def is_batch_stat(ctx: FileContext, expr: cst.BaseExpression, subject: cst.BaseExpression, kind: str,
                  depth: int = 0) -> bool:
    """`expr` is `subject`'s own batch mean (kind "mean"), std ("std") or variance ("var")."""
    expr = strip(expr)
    if isinstance(expr, cst.Name) and depth < MAX_DEPTH and not same_value(expr, subject):
        value = single_value(ctx, expr)
        return value is not None and is_batch_stat(ctx, value, subject, kind, depth + 1)
    if kind == "std":
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Power) \
                and number(expr.right) == 0.5:
            return is_batch_stat(ctx, expr.left, subject, "var", depth)
        if isinstance(expr, cst.Call) and ctx.call_name(expr) in SQRT_FUNCS and expr.args:
            inner = strip(expr.args[0].value)
            if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add):
                return is_batch_stat(ctx, inner.left, subject, "var", depth) or \
                    is_batch_stat(ctx, inner.right, subject, "var", depth)
            return is_batch_stat(ctx, inner, subject, "var", depth)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in ("sqrt", "sqrt_") and not expr.args:
            return is_batch_stat(ctx, expr.func.value, subject, "var", depth)
    if not isinstance(expr, cst.Call):
        return False
    if ctx.call_name(expr) in _FUNCS[kind]:
        first = find_arg(expr, "input", 0) or find_arg(expr, "a", 0)
        return first is not None and same_value(first.value, subject)
    func = expr.func
    return isinstance(func, cst.Attribute) and func.attr.value == kind and same_value(func.value, subject)


def is_std_call(ctx: FileContext, expr: cst.BaseExpression) -> bool:
    """`torch.std(x)`, `np.nanstd(x)`, `x.std()` on a tensor, array or Series (not `statistics.stdev`)."""
    if not isinstance(expr, cst.Call):
        return False
    name = ctx.call_name(expr)
    if name in STD_FUNCS:
        return True
    func = expr.func
    return isinstance(func, cst.Attribute) and func.attr.value in STD_METHODS and (
        name is None or not name.startswith(("statistics.", "math.")))


def is_batch_scale(ctx: FileContext, expr: cst.BaseExpression, subject: cst.BaseExpression, depth: int = 0) -> bool:
    """`expr` is `subject`'s batch std, possibly with an epsilon, clamp or floor."""
    expr = strip(expr)
    if is_batch_stat(ctx, expr, subject, "std", depth):
        return True
    if isinstance(expr, cst.Name) and depth < MAX_DEPTH:
        value = single_value(ctx, expr)
        return value is not None and is_batch_scale(ctx, value, subject, depth + 1)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        return is_batch_scale(ctx, expr.left, subject, depth) or is_batch_scale(ctx, expr.right, subject, depth)
    if isinstance(expr, cst.Call):
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("clamp", "clamp_min", "clip",
                                                                             "clamp_", "clamp_min_"):
            return is_batch_scale(ctx, expr.func.value, subject, depth)
        if ctx.call_name(expr) in FLOOR_FUNCS:
            return any(is_batch_scale(ctx, arg.value, subject, depth) for arg in expr.args if not arg.star)
    return False


class _StatCalls(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.per_dimension = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if self.ctx.call_name(node) in MEAN_FUNCS | STD_FUNCS | VAR_FUNCS:  # np.std(x, axis=0)
            self.per_dimension |= len(node.args) > 1
        elif isinstance(func, cst.Attribute) and func.attr.value in ("mean", "std", "var") and node.args:
            self.per_dimension = True  # x.std(0)


def per_dimension(ctx: FileContext, node: cst.CSTNode) -> bool:
    """Are the statistics in `node` taken over a dimension (`x.mean(dim=0)`, `np.std(x, axis=0)`)?"""
    stats = _StatCalls(ctx)
    walk(node, stats)
    return stats.per_dimension

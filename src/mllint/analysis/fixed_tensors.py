"""Tensors whose values the code fixes: built from shapes by constructors and elementwise math (a
sinusoidal position table: `torch.zeros(n, d)` filled with `torch.sin(torch.arange(n) * freq)`).
They hold the same values on every run, so a statistic of one is a constant of the code, not of a
batch: a zero would show on the first run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.astutil import peel
from mllint.analysis.bindings import binding_scope, last_binding
from mllint.engine.context import Visitor
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

_PREFIXES = ("torch.", "numpy.", "jax.numpy.")
CONSTRUCTORS = {p + name for p in _PREFIXES for name in (
    "zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye")}  # not tensor(data)
ELEMENTWISE = {p + name for p in _PREFIXES for name in (
    "sin", "cos", "tan", "exp", "log", "log2", "log10", "sqrt", "pow", "power", "tanh", "sigmoid", "outer",
    "meshgrid", "stack", "cat", "concatenate")}
SCALAR_MODULES = ("math.", "numpy.", "torch.")
REDUCTIONS = ("mean", "sum", "std", "max", "min")


class _SubscriptWrites(Visitor):
    def __init__(self, scope: cst.CSTNode):
        self.scope = scope
        self.out: dict[str, list[cst.BaseExpression]] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.scope

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            if isinstance(t.target, cst.Subscript) and isinstance(t.target.value, cst.Name):
                self.out.setdefault(t.target.value.value, []).append(node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Subscript) and isinstance(node.target.value, cst.Name):
            self.out.setdefault(node.target.value.value, []).append(node.value)


def _subscript_writes(ctx: FileContext, scope: cst.CSTNode) -> dict[str, list[cst.BaseExpression]]:
    """`name[...] = value` in `scope` (nested functions excluded): name -> the values written."""
    writes = _SubscriptWrites(scope)
    walk(scope, writes)
    return writes.out


def fixed_by_code(ctx: FileContext, expr: cst.BaseExpression, needs_tensor: bool = True,
                  seen: frozenset[int] = frozenset()) -> bool:
    """`expr` holds values fixed by the code: constructors, elementwise math on them, numbers and
    (next to a built tensor) plain scalars such as `config.d_model`. With `needs_tensor`, a
    constructor must be part of it (`self.returns - self.baseline` is data). Names are followed
    to their last binding in the function (`t = t - t.mean()` reads the previous `t`)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return not needs_tensor
    if isinstance(expr, cst.UnaryOperation):
        return fixed_by_code(ctx, expr.expression, needs_tensor, seen)
    if isinstance(expr, cst.BinaryOperation):
        left, right = peel(expr.left), peel(expr.right)
        return (fixed_by_code(ctx, left, needs_tensor, seen) and fixed_by_code(ctx, right, False, seen)) or \
            (fixed_by_code(ctx, right, needs_tensor, seen) and fixed_by_code(ctx, left, False, seen))
    if isinstance(expr, cst.Attribute):
        return not needs_tensor  # a scalar setting next to a built tensor
    if isinstance(expr, cst.Call):
        name = ctx.call_name(expr)
        if name in CONSTRUCTORS:
            return True
        args = [peel(a.value) for a in expr.args]
        if name in ELEMENTWISE:
            return all(fixed_by_code(ctx, a, False, seen) for a in args) and \
                any(fixed_by_code(ctx, a, needs_tensor, seen) for a in args)
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in REDUCTIONS and not expr.args:
            return fixed_by_code(ctx, peel(expr.func.value), needs_tensor, seen)
        return not needs_tensor and name is not None and name.startswith(SCALAR_MODULES) and \
            all(fixed_by_code(ctx, a, False, seen) for a in args)
    if isinstance(expr, cst.Name):
        scope = binding_scope(ctx, expr.value)
        if scope is None or scope is ctx.module:
            return False
        binding = last_binding(ctx, scope, expr)
        if binding is None or binding.kind not in ("assign", "annassign") or binding.index is not None or \
                binding.value is None or id(binding.node) in seen:
            return False
        seen = seen | {id(binding.node)}
        if not fixed_by_code(ctx, peel(binding.value), needs_tensor, seen):
            return False
        writes = ctx.memo.get(_subscript_writes, ctx, scope).get(expr.value, [])
        return all(fixed_by_code(ctx, peel(v), False, seen) for v in writes)  # `t[:] = returns` holds data
    return False


def of_fixed_tensor(ctx: FileContext, reduction: cst.Call, functions: frozenset[str]) -> bool:
    """`t.std()` / `torch.std(t)` (a call of one of `functions`, or a method) where `t` is built in
    this function from constructors only."""
    if ctx.call_name(reduction) in functions:
        if not reduction.args:
            return False
        tensor = reduction.args[0].value
    elif isinstance(reduction.func, cst.Attribute):
        tensor = reduction.func.value
    else:
        return False
    return fixed_by_code(ctx, peel(tensor))

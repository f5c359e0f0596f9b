"""Bindings: what a name or `self.<attr>` is bound to where it is used, and which class an
instance is of (a class of this file, a `torch.nn` class, or a class imported from the user's own
project, read through `analysis.project`).

A `Frame` is where an expression is read: the file's context, the function around it and the
class around that. `value_of` follows a name to the value it was last given before the use in
that function (else at module level), and `self.<attr>` to its one assignment in the class; it
never executes anything and gives up (None) when the binding is not a plain assignment.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.classes import first_param, self_assignments

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

MAX_DEPTH = 8  # name -> name -> ... chains followed at most this far


@dataclass(frozen=True)
class Frame:
    ctx: FileContext
    func: cst.FunctionDef | None
    cls: cst.ClassDef | None

    def is_self(self, expr: cst.BaseExpression) -> bool:
        """`self` (the method's first parameter) of a method of `cls`."""
        return self.cls is not None and isinstance(expr, cst.Name) and expr.value == first_param(self.func)


def _offset(ctx: FileContext, node: cst.CSTNode) -> int:
    return ctx.order(node)[0]


def _binding_offsets(ctx: FileContext, key: tuple[cst.CSTNode, str]) -> list[int]:
    """Where each binding of the name takes effect, in the order of `ctx.order`: after its value
    for an assignment (`out = f(out)` reads the previous `out`), at its start for a loop or
    `with` target."""
    scope, name = key
    return [ctx.order(b.node)[1] if b.kind in ("assign", "annassign", "augassign", "walrus") else
            ctx.order(b.node)[0] for b in ctx.bindings(scope).get(name, ())]


def _element(binding) -> cst.BaseExpression | None:
    """The value a flat tuple assignment gives one name: `b` in `a, b = Net(), Head()` is
    `Head()`; None for anything else (a starred or nested target, a value that is not a tuple or
    list literal of the same length, a chained assignment)."""
    node, index = binding.node, binding.index
    if not isinstance(node, cst.Assign) or len(node.targets) != 1 or index is None:
        return None
    target, value = node.targets[0].target, node.value
    if not isinstance(target, (cst.Tuple, cst.List)) or not isinstance(value, (cst.Tuple, cst.List)):
        return None
    names, values = target.elements, value.elements
    if len(names) != len(values) or any(isinstance(e, cst.StarredElement) for e in (*names, *values)):
        return None
    named = names[index].value
    if not isinstance(named, cst.Name) or named.value != binding.name:
        return None  # a nested target: the index is the outer element's
    return values[index].value


def value_of(frame: Frame, expr: cst.BaseExpression, depth: int = 0) -> tuple[Frame, cst.BaseExpression]:
    """The expression `expr` stands for: through names (the last plain assignment before the use,
    in the function, else the module) and `self.<attr>` (its one assignment in the class)."""
    ctx = frame.ctx
    while depth < MAX_DEPTH:
        depth += 1
        if isinstance(expr, cst.Name):
            found = None
            for scope in ((frame.func,) if frame.func is not None else ()) + (ctx.module,):
                bindings = ctx.bindings(scope).get(expr.value)
                if not bindings:
                    continue
                use = _offset(ctx, expr)
                # bindings come in source order: the last one before the use (a binary search)
                count = bisect_left(ctx.memo.get(_binding_offsets, ctx, (scope, expr.value)), use) \
                    if scope is frame.func else len(bindings)
                if not count:
                    break
                last = bindings[count - 1]
                found = _element(last) if last.kind == "unpack" else last.value
                if last.kind not in ("assign", "annassign", "unpack") or found is None:
                    return frame, expr  # a parameter, a loop variable, an opaque unpacking: unknown
                if scope is not frame.func:
                    frame = Frame(ctx, None, None)
                break
            if found is None:
                return frame, expr
            expr = found
        elif isinstance(expr, cst.Attribute) and frame.cls is not None and frame.is_self(expr.value):
            assignments = self_assignments(ctx, frame.cls).get(expr.attr.value, [])
            values = [a.value for a in assignments if a.value is not None]
            if len(values) != 1:
                return frame, expr
            method = assignments[0].method
            frame = Frame(ctx, method, frame.cls)
            expr = values[0]
        else:
            return frame, expr
    return frame, expr


def last_binding(ctx: FileContext, scope: cst.CSTNode, name: cst.Name):
    """The binding of `name` in `scope` that a read of it at its place sees in straight-line code:
    the last one that takes effect before it (None if there is none)."""
    bindings = ctx.bindings(scope).get(name.value)
    if not bindings:
        return None
    count = bisect_left(ctx.memo.get(_binding_offsets, ctx, (scope, name.value)), _offset(ctx, name))
    return bindings[count - 1] if count else None


def binding_scope(ctx: FileContext, name: str) -> cst.CSTNode | None:
    """The innermost function (or lambda, or the module) around the current node that binds `name`."""
    for node in ctx.ancestors():
        if isinstance(node, (cst.FunctionDef, cst.Lambda)) and name in ctx.bindings(node):
            return node
    if ctx.module is not None and name in ctx.bindings(ctx.module):
        return ctx.module
    return None

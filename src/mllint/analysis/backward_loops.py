"""Loops that run backward over time, where discounted recursions (`recursions`) are computed:
`reversed(...)`, a negative step, a flip, a `while` loop counting down, or a forward
`for t in range(T)` that reads positions from the end; and what a loop's body assigns
(`LoopAssignments`, read from one walk of the body), with what its `if`s about episode ends reset.
The `maybe_*` tests accept the same shapes on CPython's AST, for candidate patterns.
"""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.astutil import number
from mllint.analysis.recursions import flat, last, mentions_boundary
from mllint.engine.candidates import callee
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk


def backward(it: cst.BaseExpression, ctx) -> bool:
    """reversed(...), range(a, b, -1), x[::-1], or zip/enumerate over one of those."""
    if isinstance(it, cst.Call):
        name = ctx.call_name(it)
        if name in ("reversed", "builtins.reversed"):
            return True
        if name in ("range", "builtins.range") and len(it.args) == 3:
            step = number(it.args[2].value)
            return step is not None and step < 0
        if name in ("zip", "builtins.zip", "enumerate", "builtins.enumerate") and it.args:
            return any(backward(a.value, ctx) for a in it.args if not a.star)
        if flipped(it) is not None:
            return True
    if isinstance(it, cst.Subscript) and len(it.slice) == 1 and isinstance(it.slice[0].slice, cst.Slice):
        step = it.slice[0].slice.step
        return step is not None and (number(step) or 0) < 0
    return False


def maybe_backward(it: ast.expr) -> bool:
    """What `backward` accepts, on CPython's AST (any explicit step counts: its sign is not read)."""
    if isinstance(it, ast.Call):
        name = callee(it)
        if name == "reversed" or name == "range" and len(it.args) == 3 or name in FLIPS:
            return True
        return name in ("zip", "enumerate") and any(maybe_backward(arg) for arg in it.args)
    return isinstance(it, ast.Subscript) and isinstance(it.slice, ast.Slice) and it.slice.step is not None


def while_counter(loop: cst.While) -> str | None:
    """`while t >= 0: ...; t -= 1`: the name a `while` loop counts down with (a backward loop)."""
    for stmt in loop.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.SubtractAssign) \
                    and isinstance(small.target, cst.Name) and number(small.value) == 1:
                return small.target.value
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) \
                    and isinstance(small.value, cst.BinaryOperation) and isinstance(small.value.operator, cst.Subtract) \
                    and isinstance(small.value.left, cst.Name) and small.value.left.value == small.targets[0].target.value \
                    and number(small.value.right) == 1:
                return small.value.left.value
    return None


def maybe_counting_down(loop: ast.While) -> bool:
    """What `while_counter` accepts, on CPython's AST."""
    return any(isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Sub) and isinstance(stmt.target, ast.Name)
               or isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Sub)
               for stmt in loop.body)


FLIPS = ("flip", "flipud")


def flipped(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """`x` of `torch.flip(x, [0])`, `np.flip(x)`, `np.flipud(x)`, `x.flip(0)`, else None."""
    if not (isinstance(expr, cst.Call) and last(expr.func) in FLIPS):
        return None
    func = expr.func
    if isinstance(func, cst.Attribute) and dotted_name(func.value) not in ("torch", "np", "numpy", "jnp"):
        return func.value  # x.flip(0)
    return expr.args[0].value if expr.args else None


def reversed_in(expr: cst.BaseExpression) -> bool:
    """Does `expr` reverse a sequence (`flip`, `[::-1]`) somewhere inside?"""
    found = []

    class _Find(Visitor):
        def visit_Call(self, node: cst.Call) -> None:
            if flipped(node) is not None:
                found.append(node)

        def visit_Subscript(self, node: cst.Subscript) -> None:
            part = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(part, cst.Slice) and part.step is not None and (number(part.step) or 0) < 0:
                found.append(node)

    walk(expr, _Find())
    return bool(found)


def reversed_position(expr: cst.BaseExpression, counter: str) -> bool:
    """`T - 1 - t`, `T - t - 1`, `len(x) - t - 1`, `-t - 1`, `-(t + 1)`: position `t` from the end."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = expr.expression
        return isinstance(inner, cst.Name) and inner.value == counter or isinstance(inner, cst.BinaryOperation) \
            and isinstance(inner.operator, cst.Add) and isinstance(inner.left, cst.Name) and inner.left.value == counter
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract):
        return isinstance(expr.right, cst.Name) and expr.right.value == counter or \
            reversed_position(expr.left, counter)
    return False


def _ast_reversed_position(expr: ast.expr, counter: str) -> bool:
    """What `reversed_position` accepts, on CPython's AST."""
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = expr.operand
        return isinstance(inner, ast.Name) and inner.id == counter or isinstance(inner, ast.BinOp) \
            and isinstance(inner.op, ast.Add) and isinstance(inner.left, ast.Name) and inner.left.id == counter
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub):
        return isinstance(expr.right, ast.Name) and expr.right.id == counter or \
            _ast_reversed_position(expr.left, counter)
    return False


def maybe_reversed_position(loop: ast.For) -> bool:
    """On CPython's AST: `for t in range(T)` whose body reads a position from the end with `t`."""
    if not (isinstance(loop.target, ast.Name) and isinstance(loop.iter, ast.Call) and callee(loop.iter) == "range"):
        return False
    counter = loop.target.id
    return any(isinstance(node, (ast.BinOp, ast.UnaryOp)) and _ast_reversed_position(node, counter)
               for stmt in loop.body for node in ast.walk(stmt))


def iterated(it: cst.BaseExpression) -> cst.BaseExpression:
    """The sequence behind reversed(x) / x[::-1] / torch.flip(x, [0])."""
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "reversed" and it.args:
        return iterated(it.args[0].value)
    if flipped(it) is not None:
        return flipped(it)
    if isinstance(it, cst.Subscript) and isinstance(it.slice[0].slice, cst.Slice):
        return it.value
    return it


class LoopAssignments(Visitor):
    """Assignments inside a loop body, not entering nested scopes or nested backward loops; what
    the `if` statements about episode ends (`if dones[t]: R = 0`) reset; and, for a forward
    `for t in range(T)`, whether it reads positions from the end (`i = T - 1 - t`, `rewards[-t - 1]`)."""

    def __init__(self, ctx, root: cst.For | cst.While, aliases: frozenset[str]):
        self.ctx = ctx
        self.root = root
        self.aliases = aliases
        self.counter = root.target.value if isinstance(root, cst.For) and isinstance(root.target, cst.Name) else None
        self.found: list[cst.Assign] = []
        self.augmented: list[cst.AugAssign] = []
        self.boundary_ifs: list[cst.If] = []  # the open ifs that test an episode end
        self.reset: set[str] = set()  # targets assigned under such an if (their recursion restarts there)
        self.stops = False  # such an if leaves the loop (`if done: break`): one episode only
        self.reversed_index: str | None = None  # the name bound to a position from the end, or the counter

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)  # exact types: isinstance against LibCST's ABCs is slow at every node
        if kind is cst.FunctionDef or kind is cst.ClassDef or kind is cst.Lambda:
            return False
        if kind is cst.For and node is not self.root and backward(node.iter, self.ctx):
            return False
        if kind is cst.While and node is not self.root and while_counter(node) is not None:
            return False
        if kind is cst.Assign:
            self.found.append(node)
            self._reset(t.target for t in node.targets)
            if self.counter and reversed_position(node.value, self.counter) and len(node.targets) == 1 \
                    and isinstance(node.targets[0].target, cst.Name):
                self.reversed_index = node.targets[0].target.value
        elif kind is cst.AugAssign:
            self.augmented.append(node)
            self._reset([node.target])
        elif kind is cst.If and mentions_boundary(node.test, self.aliases):
            self.boundary_ifs.append(node)
        elif (kind is cst.Break or kind is cst.Return) and self.boundary_ifs:
            self.stops = True
        elif kind is cst.Subscript and self.counter and self.reversed_index is None and any(
                isinstance(part.slice, cst.Index) and reversed_position(part.slice.value, self.counter)
                for part in node.slice):
            self.reversed_index = self.counter
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.boundary_ifs and original_node is self.boundary_ifs[-1]:
            self.boundary_ifs.pop()

    def _reset(self, targets) -> None:
        if self.boundary_ifs:
            for target in targets:
                self.reset.add(flat(target))
                if isinstance(target, cst.Subscript):
                    self.reset.add(flat(target.value))  # returns[t] = 0 restarts `returns[t + 1]`

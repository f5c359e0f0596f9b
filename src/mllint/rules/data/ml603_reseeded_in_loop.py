"""ML603 reseeded-in-loop: docs in rules/ML603-reseeded-in-loop.md."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.rng import GLOBAL_SEEDING, global_seeding
from mllint.analysis.timeline import timeline
from mllint.engine.candidates import Calls, Nodes, callee, leaves
from mllint.engine.context import Binding, dotted_name
from mllint.engine.rule import Rule, register

# Loops that are training loops by what they iterate (an epoch loop steps in an inner loop).
TRAINING_LOOP = re.compile(r"epoch|step|iter|episode|update|batch|loader|(^|_)it$", re.I)
TRAINING_EVENTS = {"step"}  # an optimizer step: a backward alone is also how gradient tests compare runs
_LITERALS = (cst.Integer, cst.Float, cst.SimpleString)
_SEEDING_LEAVES = frozenset(leaves(GLOBAL_SEEDING))


def _seeds_inside(loop: ast.AST) -> bool:
    """The candidates' side: a seeding call in the loop's body (a file that seeds only once, before
    its loops, is not parsed for this rule)."""
    return any(type(node) is ast.Call and callee(node) in _SEEDING_LEAVES
               for stmt in loop.body for node in ast.walk(stmt))


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.calls = False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls = True


def _loop_names(loop: cst.CSTNode) -> str:
    """The words a loop header is written with (`for epoch in range(args.epochs)` -> its code)."""
    if isinstance(loop, cst.For):
        return " ".join(filter(None, (dotted_name(n) for n in _atoms(loop.target) + _atoms(loop.iter))))
    return ""


def _atoms(expr: cst.CSTNode) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            out.append(node)
        else:
            stack.extend(node.children)
    return out


@register
class ReseededInLoop(Rule):
    code = "ML603"
    name = "reseeded-in-loop"
    summary = "A global random seed is reset to the same value on every training iteration or every sample."
    stability = "preview"
    candidates = Calls(*_SEEDING_LEAVES) & (Nodes(ast.For, ast.While, where=_seeds_inside)
                                            | Nodes(ast.FunctionDef, where=lambda f: f.name == "__getitem__"))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        leaf = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if leaf not in ("manual_seed", "manual_seed_all", "seed"):
            return
        seeding = global_seeding(self.ctx.imports, node)
        if seeding is None or not node.args:
            return
        function, loop, child = None, None, node
        for ancestor in self.ctx.ancestors():
            if isinstance(ancestor, (cst.For, cst.While)) and loop is None and child is ancestor.body:
                loop = ancestor  # a call in the loop's body (not its header or `else:`)
            child = ancestor
            if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
                function = ancestor
                break
        call_code = self.ctx.code(node)
        if isinstance(function, cst.FunctionDef) and function.name.value == "__getitem__" \
                and self.ctx.enclosing(cst.ClassDef) is not None:
            params = [p.name.value for p in function.params.params[1:]]
            if self._constant(node.args[0].value, function, varying=set(params)):
                self.report(node, f"`{call_code}` reseeds with the same value for every sample: every sample draws "
                                  "the same random numbers (identical augmentations and noise); seed once per worker "
                                  "(`worker_init_fn`), or derive the seed from the index on purpose")
            return
        if loop is None or not self._training_loop(loop, function):
            return
        if self._constant(node.args[0].value, function, loop=loop):
            self.report(node, f"`{call_code}` reseeds with the same value on every iteration of the training loop: "
                              "every iteration draws the same random numbers (identical dropout masks, shuffles, "
                              "augmentations, noise); seed once before the loop, or derive the seed from the "
                              "epoch or step")

    def _training_loop(self, loop: cst.CSTNode, function: cst.CSTNode | None) -> bool:
        """A loop that runs training steps: an optimizer step in its own body (also
        through helpers of the file), or in an inner loop when it is an epoch/step loop. A loop over
        a literal collection (`for amp in (False, True):`) compares configurations: not one."""
        if isinstance(loop, cst.For) and isinstance(loop.iter, (cst.Tuple, cst.List, cst.Set)):
            return False
        scope = function if function is not None else self.ctx.module
        events = [e for e in timeline(self.ctx, scope) if e.kind in TRAINING_EVENTS and e.within(loop)]
        if any(e.innermost_loop() is loop for e in events):
            return True
        return bool(events) and TRAINING_LOOP.search(_loop_names(loop)) is not None

    def _constant(self, expr: cst.BaseExpression, function: cst.CSTNode | None, *, loop: cst.CSTNode | None = None,
                  varying: set[str] = frozenset(), depth: int = 0) -> bool:
        """Does `expr` have the same value on every iteration of `loop` (or every call of
        `__getitem__`, whose parameters in `varying` change)? Literals, `args.seed`/`self.seed`,
        names bound once outside the loop to such values, and the function's parameters do;
        anything computed by a call, or bound inside the loop, does not."""
        if depth > 6:
            return False
        if isinstance(expr, _LITERALS):
            return True
        if isinstance(expr, cst.BinaryOperation):
            return all(self._constant(side, function, loop=loop, varying=varying, depth=depth + 1)
                       for side in (expr.left, expr.right))
        if isinstance(expr, cst.UnaryOperation):
            return self._constant(expr.expression, function, loop=loop, varying=varying, depth=depth + 1)
        if isinstance(expr, cst.Attribute):
            root = expr
            while isinstance(root, cst.Attribute):
                root = root.value
            return isinstance(root, cst.Name) and self._constant(root, function, loop=loop, varying=varying,
                                                                 depth=depth + 1)
        if not isinstance(expr, cst.Name) or expr.value in varying:
            return False
        scope = function if function is not None else self.ctx.module
        bindings: list[Binding] = list(self.ctx.bindings(scope).get(expr.value, ()))
        if not bindings and scope is not self.ctx.module:
            bindings = list(self.ctx.bindings(self.ctx.module).get(expr.value, ()))
            return all(b.kind in ("assign", "annassign") and isinstance(b.value, _LITERALS) for b in bindings)
        if loop is not None and any(self._inside(b.node, loop) for b in bindings):
            return False  # bound in the loop (its target, or computed each iteration)
        if all(b.kind == "param" for b in bindings):
            return True
        values = [b.value for b in bindings if b.kind in ("assign", "annassign")]
        if len(values) != len(bindings) or len(values) != 1:
            return False
        return self._constant(values[0], function, loop=loop, varying=varying, depth=depth + 1)

    def _inside(self, node: cst.CSTNode, loop: cst.CSTNode) -> bool:
        start, end = self.ctx.start_end(loop)
        where = self.ctx.start_end(node)[0]
        return (start.row, start.column) <= (where.row, where.column) <= (end.row, end.column)

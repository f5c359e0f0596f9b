"""ML803 loss-graph-retained: docs in rules/ML803-loss-graph-retained.md.

An accumulation (`total += loss`, `total = total + loss`, `losses.append(loss)`, `losses += [loss]`)
inside a training loop — a loop of the function's timeline that backpropagates — of a loss
tensor with its graph (analysis/graph.py), into an accumulator bound before that loop, outside any
no-grad region, when nothing after the loop backpropagates the accumulator.
"""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.bindings import Frame
from mllint.analysis.classes import enclosing_method
from mllint.analysis.flow import _names
from mllint.analysis.timeline import under_no_grad
from mllint.analysis.graph import loss_tensor
from mllint.analysis.scopes import name_uses
from mllint.analysis.timeline import Event, timeline
from mllint.engine.candidates import Calls, Nodes
from mllint.engine.context import dotted_name
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

_TRAINING = ("backward",)


def _added_value(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Add):
        return node.value.right  # `total = total + loss`
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append" \
            and len(node.args) == 1:
        return node.args[0]
    return None


def _loss_like(node: ast.AST) -> bool:
    """What the rule can accept as a loss: a name or call named like a loss (or any name: a name
    backpropagated in the loop), possibly scaled."""
    value = _added_value(node)
    if isinstance(value, ast.List) and len(value.elts) == 1:
        value = value.elts[0]
    while isinstance(value, ast.BinOp):
        value = value.left if not isinstance(value.left, ast.Constant) else value.right
    return isinstance(value, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))


@register
class LossGraphRetained(Rule):
    code = "ML803"
    name = "loss-graph-retained"
    summary = "A loss tensor is accumulated across training iterations without .item()/.detach(): every graph stays alive."
    fix_applicability = Applicability.UNSAFE
    candidates = Calls("backward") & (Nodes(ast.AugAssign, ast.Assign, ast.Call, where=_loss_like))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign):
            value = node.value
            if isinstance(value, cst.List) and len(value.elements) == 1:
                value = value.elements[0].value
            self._check(node.target, value, node)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if len(node.targets) == 1 and isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
            target = dotted_name(node.targets[0].target)
            if target is not None and dotted_name(value.left) == target:
                self._check(node.targets[0].target, value.right, node)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "append" and len(node.args) == 1 \
                and not node.args[0].keyword and not node.args[0].star:
            self._check(func.value, node.args[0].value, node)

    def _check(self, accumulator: cst.BaseExpression, value: cst.BaseExpression, site: cst.CSTNode) -> None:
        ctx = self.ctx
        name = dotted_name(accumulator)
        if name is None or name.count(".") > 1 or ("." in name and not name.startswith("self.")):
            return
        function = ctx.enclosing_function() or ctx.module
        events = timeline(ctx, function)
        # the innermost training loop around the accumulation whose iterations share the accumulator
        loop = next((lp for lp in self._training_loops(events) if "." in name or
                     self._bound_before(function, name, lp)), None)
        if loop is None:
            return  # not in a training loop, or an accumulator made per iteration
        backpropagated = frozenset(dotted_name(e.loss) for e in events
                                   if e.kind == "backward" and e.within(loop) and dotted_name(e.loss))
        _, cls = enclosing_method(ctx)
        frame = Frame(ctx, ctx.enclosing_function(), cls)
        if not loss_tensor(frame, value, backpropagated):
            return
        if under_no_grad(ctx):
            return
        if self._backpropagated_later(function, name, loop, events):
            return
        code = ctx.code(value)
        shown = code if len(code) <= 40 and "\n" not in code else "the loss"
        suffix = ".detach()" if self._stays_tensor(function, name, loop) else ".item()"
        self.report(value, f"`{shown}` is accumulated into `{name}` on every training iteration with its autograd "
                           f"graph: each iteration's graph stays alive through `{name}` and memory grows until the "
                           f"run runs out of it; accumulate `{shown}{suffix}` instead", self._fix(value, suffix))

    def _training_loops(self, events: list[Event]) -> list[cst.CSTNode]:
        """The loops around the accumulation that train (a backward in them), innermost first."""
        training = {id(loop) for e in events if e.kind in _TRAINING for loop in e.loops()}
        loops = [n for n in self.ctx.ancestors() if isinstance(n, (cst.For, cst.While)) and id(n) in training]
        stack = self.ctx.stack
        return sorted(loops, key=lambda n: -next(i for i, s in enumerate(stack) if s is n))

    def _bound_before(self, function: cst.CSTNode, name: str, loop: cst.CSTNode) -> bool:
        start = self.ctx.order(loop)[0]
        scopes = (function,) if function is self.ctx.module else (function, self.ctx.module)
        for scope in scopes:
            for b in self.ctx.bindings(scope).get(name, ()):
                if b.kind in ("assign", "annassign", "param") and (scope is not function or
                                                                  self.ctx.order(b.node)[0] < start):
                    return True
        return False

    def _later(self, function: cst.CSTNode, name: str, loop: cst.CSTNode) -> list[cst.CSTNode]:
        leaf = name.rsplit(".", 1)[-1]
        end = self.ctx.start_end(loop)[1].row
        return name_uses(self.ctx, function, leaf).after(self.ctx, end)

    def _backpropagated_later(self, function: cst.CSTNode, name: str, loop: cst.CSTNode,
                              events: list[Event]) -> bool:
        """`sum(losses).backward()`, `loss = torch.stack(losses).mean(); loss.backward()` after the loop."""
        leaf = name.rsplit(".", 1)[-1]
        derived = {leaf}
        for stmt in self._later(function, name, loop):
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and small.value is not None \
                            and _names(small.value) & derived:
                        targets = small.targets if isinstance(small, cst.Assign) else [small]
                        for t in targets:
                            derived |= _names(t.target)
        end = self.ctx.start_end(loop)[1].row
        for e in events:
            if e.kind == "backward" and e.loss is not None and not e.via and \
                    self.ctx.start_end(e.node)[0].row > end and _names(e.loss) & derived:
                return True
        return False

    def _stays_tensor(self, function: cst.CSTNode, name: str, loop: cst.CSTNode) -> bool:
        """Later code uses the accumulator as a tensor (`total.item()`, `torch.stack(losses)`)."""
        leaf = name.rsplit(".", 1)[-1]
        for stmt in self._later(function, name, loop):
            code = self.ctx.code(stmt)
            if f"{leaf}." in code or "torch." in code or "stack(" in code or "cat(" in code:
                return True
        return False

    def _fix(self, value: cst.BaseExpression, suffix: str) -> Fix | None:
        code = self.ctx.code(value)
        if "\n" in code:
            return None
        if not isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            code = f"({code})"
        return Fix(Applicability.UNSAFE, f"Accumulate `{suffix[1:-2]}` of the value", (self.ctx.replace(value, code + suffix),))

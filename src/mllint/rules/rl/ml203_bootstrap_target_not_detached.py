"""ML203 bootstrap-target-not-detached: docs in rules/ML203-bootstrap-target-not-detached.md."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.bindings import Frame, value_of
from mllint.analysis.bootstrap import Source, is_target_network, same_network, sources
from mllint.analysis.recursions import DISCOUNT_FACTOR
from mllint.analysis.classes import enclosing_method
from mllint.analysis.flow import REGRESSION_LOSSES
from mllint.analysis.timeline import under_no_grad
from mllint.analysis.names import leaf_name
from mllint.engine.candidates import Calls, Nodes, Words, dotted_leaf
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

# A log-probability factor of a policy-gradient loss: `log_prob * advantage`.
LOG_PROB = re.compile(r"log_?probs?|^logps?$|^logp_|log_?pis?$|logprob|log_?likelihood", re.I)


def _discount_leaf(expr: ast.AST) -> bool:
    if type(expr) is ast.BinOp and type(expr.op) is ast.Pow:
        expr = expr.left
    leaf = dotted_leaf(expr)
    return leaf is not None and DISCOUNT_FACTOR.search(leaf) is not None


def _discounted_term(expr: ast.AST) -> bool:
    """`gamma * x`, `x * self.gamma * m`, `gamma ** n * x` (a product with a discount factor)."""
    if type(expr) is not ast.BinOp or type(expr.op) not in (ast.Mult, ast.Div):
        return False
    return _discount_leaf(expr.left) or _discount_leaf(expr.right) or _discounted_term(expr.left) \
        or _discounted_term(expr.right)


def _two(args: list[ast.expr]) -> bool:
    return bool(args) and type(args[0]) is ast.Constant and args[0].value == 2


def _squared(node: ast.BinOp) -> bool:
    """`(q - target) ** 2`: a hand-written squared error (not `x ** 0.5` or `gamma ** n`)."""
    return type(node.op) is ast.Pow and _two([node.right])


def _times_log(node: ast.BinOp) -> bool:
    """`torch.log(pi_a) * delta`: a log-probability written as a log call, as a product's factor."""
    return type(node.op) is ast.Mult and any(type(side) is ast.Call and dotted_leaf(side.func) == "log"
                                             for side in (node.left, node.right))


def _discounting(node: ast.AST) -> bool:
    """The candidates' side of a bootstrap: a sum or difference with a discounted term
    (`r + gamma * v`, `min_q - alpha * logp` under `r + gamma * (...)`; not a layer scale `gamma * x`
    inside a call, nor a scheduler's `lr * gamma ** k`)."""
    return type(node.op) in (ast.Add, ast.Sub) and (_discounted_term(node.left) or _discounted_term(node.right))


def _regression_leaf(func: cst.BaseExpression) -> bool:
    leaf = leaf_name(func)
    if leaf is None and isinstance(func, cst.Call):  # nn.MSELoss()(q, target)
        leaf = leaf_name(func.func)
    return leaf is not None and leaf.lower() in REGRESSION_LOSSES


def _is_two(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, (cst.Integer, cst.Float)) and expr.value in ("2", "2.0", "2.")


def _log_prob(expr: cst.BaseExpression) -> bool:
    """`log_prob`, `-logp`, `dist.log_prob(a)`, `torch.log(pi_a)`, `pi_a.log()`, `old_log_probs[i]`."""
    while isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Call):
        leaf = leaf_name(expr.func)
        return leaf in ("log_prob", "log") or (leaf is not None and LOG_PROB.search(leaf) is not None)
    leaf = leaf_name(expr)
    return leaf is not None and LOG_PROB.search(leaf) is not None


def _factors(expr: cst.BaseExpression, top: bool = True) -> list[cst.BaseExpression]:
    """`a * b * c` -> [a, b, c]; a parenthesised inner product stays whole."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply) and (top or not expr.lpar):
        return _factors(expr.left, False) + _factors(expr.right, False)
    return [expr]


@register
class BootstrapTargetNotDetached(Rule):
    code = "ML203"
    name = "bootstrap-target-not-detached"
    summary = "A TD target or advantage is computed from the trained network with autograd on and not detached."
    fix_applicability = Applicability.UNSAFE
    candidates = Nodes(ast.BinOp, where=_discounting) & (Words(lambda w: w.lower() in REGRESSION_LOSSES)
                                                         | Nodes(ast.BinOp, where=_squared) | Calls("square")
                                                         | Calls("pow", where=lambda call: _two(call.args[:1]))
                                                         | Words(LOG_PROB) | Nodes(ast.BinOp, where=_times_log))

    def _frame(self) -> Frame:
        method, cls = enclosing_method(self.ctx)
        func = self.ctx.enclosing_function()
        if method is not None and func is not method:
            cls = None  # a function nested in a method: `self` is not its parameter
        return Frame(self.ctx, func, cls)

    # ---- regression losses -----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("pow", "square"):
            if func.attr.value == "square" or (node.args and _is_two(node.args[0].value)):
                self._square(func.value)
            return
        positional = [arg.value for arg in node.args if not arg.star and
                      (arg.keyword is None or arg.keyword.value in ("input", "target"))]
        if len(positional) != 2:
            return
        if leaf_name(func) == "square":
            return
        if not _regression_leaf(func):
            if not isinstance(func, (cst.Name, cst.Attribute)):
                return
            frame = self._frame()
            where, value = value_of(frame, func)  # criterion = nn.MSELoss()
            if not (isinstance(value, cst.Call) and _regression_leaf(value.func)):
                return
        if under_no_grad(self.ctx):
            return
        self._pair(self._frame(), positional[0], positional[1])

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        operator = node.operator
        if isinstance(operator, cst.Power) and _is_two(node.right):
            self._square(node.left)
        elif isinstance(operator, cst.Multiply) and not (isinstance(self.ctx.parent, cst.BinaryOperation)
                                                         and isinstance(self.ctx.parent.operator, cst.Multiply)
                                                         and not node.lpar):
            self._policy_loss(node)

    def _square(self, operand: cst.BaseExpression) -> None:
        if under_no_grad(self.ctx):
            return
        frame = self._frame()
        if isinstance(operand, cst.Name):
            frame, operand = value_of(frame, operand)  # td_error = target - q; td_error ** 2
        if isinstance(operand, cst.BinaryOperation) and isinstance(operand.operator, cst.Subtract):
            self._pair(frame, operand.left, operand.right)

    def _pair(self, frame: Frame, a: cst.BaseExpression, b: cst.BaseExpression) -> None:
        for target, prediction in ((b, a), (a, b)):
            bootstrap = [s for s in sources(frame, target) if s.discounted and not is_target_network(s)]
            if not bootstrap:
                continue
            predicted = sources(frame, prediction)
            trained = next((s for s in bootstrap if any(same_network(s.network, p.network) for p in predicted)), None)
            if trained is not None:
                self._report(target, trained, "TD target", "the network this loss trains")
                return

    # ---- policy-gradient losses ------------------------------------------------------------
    def _policy_loss(self, node: cst.BinaryOperation) -> None:
        factors = _factors(node)
        if len(factors) < 2 or not any(_log_prob(f) for f in factors) or under_no_grad(self.ctx):
            return
        frame = self._frame()
        for factor in factors:
            if _log_prob(factor):
                continue
            bootstrap = [s for s in sources(frame, factor) if s.discounted and not is_target_network(s)]
            if bootstrap:
                self._report(factor, bootstrap[0], "advantage", "a trained critic")
                return

    # ---- report ----------------------------------------------------------------------------
    def _report(self, target: cst.BaseExpression, source: Source, what: str, whose: str) -> None:
        net = f"`{_short(self._text(source.shown))}`"
        text = self._text(target)
        if what == "TD target":
            why = ("gradients flow through the bootstrap as well as the prediction (semi-gradient TD becomes a "
                   "residual-gradient method that converges to the wrong values)")
        else:
            why = "the policy loss also trains the critic, in the direction that raises the advantage"
        message = (f"the {what} `{_short(text)}` is computed from {net}, {whose}, with autograd on: {why}; "
                   f"`.detach()` it, or compute it under `torch.no_grad()` or with a target network")
        self.report(target, message, self._fix(target, text))

    def _text(self, node: cst.CSTNode) -> str:
        start, end = self.ctx.start_end(node)
        starts = self.ctx.line_starts()
        begin = starts[start.row - 1] + start.column - 1
        stop = starts[end.row - 1] + end.column - 1
        return self.ctx.source[begin:stop]

    def _fix(self, target: cst.BaseExpression, text: str) -> Fix | None:
        if not self.ctx.exact_positions:
            return None
        atom = isinstance(target, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or bool(target.lpar)
        new = f"{text}.detach()" if atom else f"({text}).detach()"
        return Fix(Applicability.UNSAFE, f"Detach the target: `{_short(new)}`", (self.ctx.replace(target, new),))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."

"""Whether a value carries an autograd graph: a loss (or a loss-named tensor) that is not turned
into a number or detached on its way (`.item()`, `.detach()`, `float(...)`, `.data`, `.tolist()`).
Read through the value's bindings (analysis.bindings); never executes anything."""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.bindings import Frame, value_of
from mllint.analysis.names import leaf_name
from mllint.engine.context import Visitor
from mllint.engine.traversal import walk

LOSS_NAME = re.compile(r"loss|criterion|(^|_)(nll|ce|mse|bce|kl|xent)(_|$)", re.IGNORECASE)
# calls and attributes that leave no graph behind (a Python number, a detached tensor, a list)
_DETACHING = frozenset({"item", "detach", "detach_", "tolist", "numpy", "float", "int", "data"})


class _Detaches(Visitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        if leaf_name(node.func) in _DETACHING:
            self.found = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "data":
            self.found = True


def detached(expr: cst.CSTNode) -> bool:
    """The expression turns its value into a number or a tensor without graph somewhere."""
    finder = _Detaches()
    walk(expr, finder)
    return finder.found


def _loss_call(expr: cst.BaseExpression) -> bool:
    """`criterion(out, y)`, `F.cross_entropy(...)`, `self.loss_fn(...)`, `nn.MSELoss()(a, b)`."""
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    if isinstance(func, cst.Call):
        func = func.func
    leaf = leaf_name(func)
    return leaf is not None and (LOSS_NAME.search(leaf) is not None or leaf.endswith(("_loss", "entropy")))


def loss_tensor(frame: Frame, expr: cst.BaseExpression, backpropagated: frozenset[str]) -> bool:
    """Does `expr` evaluate to a loss tensor with its graph: a loss call, or a name that is
    backpropagated in the same loop (`backpropagated`) or named like a loss and bound to a call or
    an arithmetic expression — in each case with nothing detaching it on the way?"""
    if detached(expr):
        return False
    if isinstance(expr, cst.BinaryOperation):  # `loss * batch_size`
        return loss_tensor(frame, expr.left, backpropagated) or loss_tensor(frame, expr.right, backpropagated)
    if _loss_call(expr):
        return True
    if not isinstance(expr, cst.Name):
        return False
    _, value = value_of(frame, expr)
    if value is expr:  # a parameter, a loop variable, an unpacking: only what backward() proves
        return expr.value in backpropagated
    if detached(value) or not isinstance(value, (cst.Call, cst.BinaryOperation, cst.Subscript, cst.Attribute)):
        return False
    if expr.value in backpropagated:
        return True
    if isinstance(value, cst.Attribute):  # `outputs.loss`
        return LOSS_NAME.search(value.attr.value) is not None and LOSS_NAME.search(expr.value) is not None
    return LOSS_NAME.search(expr.value) is not None and (_loss_call(value) or isinstance(value, cst.BinaryOperation)
                                                          or isinstance(value, cst.Subscript))

"""ML804 softmax-into-cross-entropy: docs in rules/ML804-softmax-into-cross-entropy.md."""

from __future__ import annotations

import os

import libcst as cst

from mllint.analysis.activations import SOFTMAX, Activation, activation
from mllint.analysis.bindings import Frame
from mllint.analysis.classes import enclosing_method
from mllint.analysis.losses import CROSS_ENTROPY, LOSS_FUNCTIONS, NLL, LossCall, loss_call
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

LOSSES = (CROSS_ENTROPY, NLL)


def call_frame(ctx) -> Frame:
    method, cls = enclosing_method(ctx)
    func = ctx.enclosing_function()
    return Frame(ctx, func, cls if func is method else None)


def may_call_loss(ctx, node: cst.Call) -> bool:
    """Cheap test before following bindings: a loss function, or a call of a name, `self.<attr>`,
    `<x>.forward` or a call's result (`nn.BCELoss()(p, y)`)."""
    func = node.func
    if isinstance(func, (cst.Name, cst.Call)):
        return True
    if isinstance(func, cst.Attribute):
        return func.attr.value == "forward" or (isinstance(func.value, cst.Name) and func.value.value == "self") \
            or ctx.qualified_name(func) in LOSS_FUNCTIONS
    return False


def where(ctx, act: Activation) -> str:
    if act.path == ctx.path:
        return f"line {act.line}"
    return f"{os.path.basename(act.path)}:{act.line}"


def direct_call(loss: LossCall, act: Activation) -> bool:
    """The activation is the loss argument itself, in this file."""
    return act.node is loss.input


@register
class SoftmaxIntoCrossEntropy(Rule):
    code = "ML804"
    name = "softmax-into-cross-entropy"
    summary = "Softmax output passed to cross_entropy (softmax twice) or to nll_loss (expects log-probabilities)."
    fix_applicability = Applicability.UNSAFE
    cross_file = True  # follows a model to its class in another file of the project
    evidence = ("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss")
    candidates = Calls("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss")

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        if not node.args or not may_call_loss(ctx, node):
            return
        frame = call_frame(ctx)
        loss = loss_call(frame, node)
        if loss is None or loss.kind not in LOSSES:
            return
        act = activation(frame, loss.input)
        if act is None or act.kind != SOFTMAX:
            return
        site = f"softmax at {where(ctx, act)}"
        if act.path != ctx.path:
            site = f"the model's forward ends in a softmax ({where(ctx, act)})"
        elif not direct_call(loss, act) and not isinstance(act.node, cst.Call):
            site = f"softmax layer at {where(ctx, act)}"
        if loss.kind == CROSS_ENTROPY:
            message = (f"cross-entropy receives probabilities ({site}): it applies log-softmax itself, so the "
                       f"logits are squashed twice and gradients shrink; pass the logits (drop the softmax)")
        else:
            message = (f"nll_loss receives probabilities ({site}) but expects log-probabilities; "
                       f"use `log_softmax` instead of `softmax`")
        self.report(loss.input, message, self._fix(loss, act))

    def _fix(self, loss: LossCall, act: Activation) -> Fix | None:
        ctx = self.ctx
        call = act.node
        if not direct_call(loss, act) or not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return None
        func = call.func
        is_method = func.attr.value == "softmax" and ctx.qualified_name(func) not in (
            "torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax")
        if loss.kind == CROSS_ENTROPY:
            if is_method:
                inner = func.value
            else:
                if not call.args or call.args[0].keyword is not None or call.args[0].star:
                    return None
                inner = call.args[0].value
            return Fix(Applicability.UNSAFE, "Pass the logits (remove the softmax)",
                       (ctx.replace(call, ctx.code(inner)),))
        new = call.with_changes(func=func.with_changes(attr=cst.Name("log_softmax")))
        return Fix(Applicability.UNSAFE, "Use `log_softmax`", (ctx.replace(call, new),))

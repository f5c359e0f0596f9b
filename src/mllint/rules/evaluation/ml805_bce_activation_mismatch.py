"""ML805 bce-activation-mismatch: docs in rules/ML805-bce-activation-mismatch.md."""

from __future__ import annotations

import libcst as cst

from mllint.analysis.activations import RAW, SIGMOID, Activation, activation
from mllint.analysis.losses import BCE, BCE_WITH_LOGITS, LossCall, loss_call
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register
from mllint.rules.evaluation.ml804_softmax_into_cross_entropy import call_frame, direct_call, may_call_loss, where

SIGMOID_FUNCTIONS = ("torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit")


@register
class BceActivationMismatch(Rule):
    code = "ML805"
    name = "bce-activation-mismatch"
    summary = "Sigmoid output fed to BCEWithLogitsLoss (double sigmoid), or raw logits fed to BCELoss."
    fix_applicability = Applicability.UNSAFE
    cross_file = True  # follows a model to its class in another file of the project
    evidence = ("binary_cross_entropy", "BCELoss", "BCEWithLogitsLoss")
    candidates = Calls("binary_cross_entropy", "binary_cross_entropy_with_logits", "BCELoss", "BCEWithLogitsLoss")

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        if not node.args or not may_call_loss(ctx, node):
            return
        frame = call_frame(ctx)
        loss = loss_call(frame, node)
        if loss is None or loss.kind not in (BCE, BCE_WITH_LOGITS):
            return
        act = activation(frame, loss.input)
        if act is None:
            return
        site = f"line {act.line}" if act.path == ctx.path else where(ctx, act)
        if loss.kind == BCE_WITH_LOGITS and act.kind == SIGMOID:
            message = (f"binary cross-entropy with logits receives sigmoid output (sigmoid at {site}): the sigmoid "
                       f"is applied twice, predictions are squashed into (0.5, 0.73) and gradients vanish; "
                       f"pass the logits (drop the sigmoid)")
            self.report(loss.input, message, self._drop_sigmoid(loss, act))
        elif loss.kind == BCE and act.kind == RAW:
            message = (f"binary cross-entropy receives raw logits (the last operation is a linear layer, {site}), "
                       f"not probabilities: values outside [0, 1] give NaN or garbage losses; use "
                       f"`BCEWithLogitsLoss`/`binary_cross_entropy_with_logits` (or apply a sigmoid)")
            self.report(loss.input, message, self._with_logits(loss))

    def _drop_sigmoid(self, loss: LossCall, act: Activation) -> Fix | None:
        ctx = self.ctx
        call = act.node
        if not direct_call(loss, act) or not isinstance(call, cst.Call):
            return None
        func = call.func
        if ctx.qualified_name(func) in SIGMOID_FUNCTIONS:
            if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
                return None
            inner = call.args[0].value
        elif isinstance(func, cst.Attribute) and func.attr.value == "sigmoid" and not call.args:
            inner = func.value
        else:
            return None
        return Fix(Applicability.UNSAFE, "Pass the logits (remove the sigmoid)", (ctx.replace(call, ctx.code(inner)),))

    def _with_logits(self, loss: LossCall) -> Fix | None:
        ctx = self.ctx
        if loss.function:
            call = ctx.node
            func = call.func if isinstance(call, cst.Call) else None
            if isinstance(func, cst.Attribute) and func.attr.value == "binary_cross_entropy":
                new = func.with_changes(attr=cst.Name("binary_cross_entropy_with_logits"))
                return Fix(Applicability.UNSAFE, "Use `binary_cross_entropy_with_logits`", (ctx.replace(func, new),))
            return None
        # only `nn.BCELoss()(out, y)`: a named criterion may also serve inputs that are probabilities
        construction = loss.construction
        if construction is None or construction is not ctx.node.func or \
                not isinstance(construction.func, cst.Attribute) or construction.func.attr.value != "BCELoss":
            return None
        new = construction.func.with_changes(attr=cst.Name("BCEWithLogitsLoss"))
        return Fix(Applicability.UNSAFE, "Use `BCEWithLogitsLoss`", (ctx.replace(construction.func, new),))

"""Loss calls: `F.cross_entropy(input, target)`, and calls of loss objects
(`criterion(out, y)` with `criterion = nn.CrossEntropyLoss()`, `self.loss_fn = ...`,
`nn.BCELoss()(p, y)`), with the argument that holds the predictions."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mllint.analysis.bindings import Frame, value_of
from mllint.analysis.astutil import find_arg

CROSS_ENTROPY, NLL, BCE, BCE_WITH_LOGITS = "cross_entropy", "nll_loss", "binary_cross_entropy", \
    "binary_cross_entropy_with_logits"
LOSS_FUNCTIONS = {f"torch.nn.functional.{k}": k for k in (CROSS_ENTROPY, NLL, BCE, BCE_WITH_LOGITS)}
LOSS_CLASSES = {"torch.nn.CrossEntropyLoss": CROSS_ENTROPY, "torch.nn.NLLLoss": NLL, "torch.nn.BCELoss": BCE,
                "torch.nn.BCEWithLogitsLoss": BCE_WITH_LOGITS}
# the names a file must contain for any of these (for the rules' candidates)
LOSS_LEAVES = frozenset({n.rsplit(".", 1)[-1] for n in (*LOSS_FUNCTIONS, *LOSS_CLASSES)})


@dataclass(frozen=True)
class LossCall:
    kind: str  # CROSS_ENTROPY, NLL, BCE or BCE_WITH_LOGITS
    input: cst.BaseExpression  # the predictions argument
    function: bool  # F.cross_entropy(...) rather than a loss object
    construction: cst.Call | None  # the loss object's construction (`nn.BCELoss()`), if seen
    frame: Frame  # where the construction was read


def loss_call(frame: Frame, call: cst.Call) -> LossCall | None:
    ctx = frame.ctx
    name = ctx.qualified_name(call.func)
    arg = find_arg(call, "input", 0)
    if arg is None or arg.star:
        return None
    if name in LOSS_FUNCTIONS:
        return LossCall(LOSS_FUNCTIONS[name], arg.value, True, None, frame)
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    where, value = value_of(frame, func)
    if isinstance(value, cst.Call):
        kind = LOSS_CLASSES.get(where.ctx.qualified_name(value.func) or "")
        if kind is not None:
            return LossCall(kind, arg.value, False, value, where)
    return None

"""ML101 nan-to-num-masks-overflow: docs in rules/ML101-nan-to-num-masks-overflow.md."""

from __future__ import annotations

import libcst as cst

from mllint.analysis.astutil import find_arg, has_star_args, infinity_sign, is_finite_constant, is_none, with_arguments
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Fix
from mllint.analysis.gradients import is_gradient
from mllint.engine.rule import Rule, register

FUNCTIONS = {"torch.nan_to_num", "torch.nan_to_num_", "torch.Tensor.nan_to_num", "torch.Tensor.nan_to_num_"}
METHODS = ("nan_to_num", "nan_to_num_")
POS_INF = cst.parse_expression('float("inf")')
NEG_INF = cst.parse_expression('float("-inf")')


@register
class NanToNumMasksOverflow(Rule):
    code = "ML101"
    name = "nan-to-num-masks-overflow"
    summary = "nan_to_num on gradients replaces inf, so GradScaler never sees mixed-precision overflow."
    fix_applicability = Applicability.SAFE
    candidates = Calls(*METHODS)  # the function forms have the same names

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        name = ctx.call_name(node)
        if name in FUNCTIONS:
            tensor_arg = find_arg(node, "input", 0)
            tensor = tensor_arg.value if tensor_arg else None
            offset = 1  # nan, posinf, neginf follow the tensor
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in METHODS and name not in FUNCTIONS:
            if name is not None and name.split(".")[0] in ("numpy", "np", "jax", "tensorflow"):
                return  # np.nan_to_num(...) is not torch (no GradScaler there)
            tensor = node.func.value
            offset = 0
        else:
            return
        if tensor is None or has_star_args(node) or not is_gradient(tensor, ctx):
            return
        if any(arg.star == "**" for arg in node.args):
            return
        posinf = find_arg(node, "posinf", offset + 1)
        neginf = find_arg(node, "neginf", offset + 2)
        nan = find_arg(node, "nan", offset)
        bad_pos = self._masks(posinf, +1)
        bad_neg = self._masks(neginf, -1)
        if not (bad_pos or bad_neg):
            return
        replace: dict[cst.Arg, cst.BaseExpression] = {}
        append: list[tuple[str, cst.BaseExpression]] = []
        for arg, bad, kw, value in ((posinf, bad_pos, "posinf", POS_INF), (neginf, bad_neg, "neginf", NEG_INF)):
            if not bad:
                continue
            if arg is None:
                append.append((kw, value))
            else:
                replace[arg] = value
        if neginf is not None and posinf is None and neginf.keyword is None:
            return  # cannot happen in valid code; be safe
        new_call = with_arguments(node, replace, append)
        which = " and ".join(n for n, bad in (("posinf", bad_pos), ("neginf", bad_neg)) if bad)
        message = (f"`{ctx.code(node.func)}` on a gradient turns inf into a finite number ({which}), which hides "
                   "fp16 overflow from GradScaler so steps are never skipped; pass "
                   + ", ".join(f"`{kw}={ctx.code(v)}`" for kw, bad, v in
                               (("posinf", bad_pos, POS_INF), ("neginf", bad_neg, NEG_INF)) if bad))
        nan_finite = nan is None or is_finite_constant(nan.value, ctx)
        if nan_finite and "GradScaler" in ctx.source:
            message += ". NaN gradients are still replaced by a finite `nan` value, which hides overflow too " \
                       "(not fixed automatically)"
        fix = Fix(Applicability.SAFE, "Keep inf in gradients so GradScaler can see overflow",
                  (ctx.replace(node, new_call),))
        self.report(node, message, fix)

    def _masks(self, arg: cst.Arg | None, sign: int) -> bool:
        """True if this posinf/neginf argument turns inf into a finite number."""
        if arg is None or is_none(arg.value):
            return True  # the default replaces inf by the dtype's largest finite value
        got = infinity_sign(arg.value, self.ctx)
        if got is not None:
            return got != sign
        return is_finite_constant(arg.value, self.ctx)

"""ML401's fixes: a small random init in place of a zero one (kept out of the rule's module)."""

from __future__ import annotations

import libcst as cst

from mllint.analysis.parameters import ZERO_INITS, ZEROS
from mllint.analysis.astutil import find_arg
from mllint.engine.context import FileContext
from mllint.diagnostics import Applicability, Fix

EPS_STD = "0.01"
TITLE = f"Initialise randomly with std {EPS_STD}"


def _torch_alias(ctx: FileContext, func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Attribute):
        return ctx.code(func.value)
    return next((local for local, full in ctx.imports.items() if full == "torch"), None)


def random_creation(ctx: FileContext, zeros: cst.Call, wrapped: bool) -> Fix | None:
    """`torch.zeros(...)` -> `torch.randn(...) * 0.01` (same sizes and keywords), `zeros_like` ->
    `randn_like`, `full(size, 0)` -> `randn(size)`, `x.new_zeros(...)` -> `x.new_empty(...).normal_()`."""
    name = ctx.call_name(zeros)
    args = list(zeros.args)
    if name == "torch.full":
        fill = find_arg(zeros, "fill_value", 1)
        args = [a for a in args if a is not fill]
        if fill is zeros.args[-1] and args:
            args[-1] = args[-1].with_changes(comma=fill.comma)  # keep the call's own ending
    call = zeros.with_changes(args=args)
    if isinstance(zeros.func, cst.Attribute) and zeros.func.attr.value == "new_zeros" and name not in ZEROS:
        new = f"{ctx.code(call.with_changes(func=zeros.func.with_changes(attr=cst.Name('new_empty'))))}" \
              f".normal_(std={EPS_STD})"
    else:
        alias = _torch_alias(ctx, zeros.func)
        if alias is None:
            return None
        fn = "randn_like" if name == "torch.zeros_like" else "randn"
        new = f"{ctx.code(call.with_changes(func=cst.parse_expression(f'{alias}.{fn}')))} * {EPS_STD}"
        if wrapped:
            new = f"({new})"  # torch.zeros(D, m).to(device)
    return Fix(Applicability.UNSAFE, TITLE, (ctx.replace(zeros, new),))


def random_init(ctx: FileContext, node: cst.Call) -> Fix | None:
    """`nn.init.zeros_(w)` / `constant_(w, 0)` -> `nn.init.normal_(w, std=0.01)`; `w.zero_()` /
    `w.fill_(0)` -> `w.normal_(std=0.01)`."""
    if ctx.call_name(node) in ZERO_INITS:
        if isinstance(node.func, cst.Attribute):
            func = ctx.code(node.func.value) + ".normal_"
        else:
            alias = _torch_alias(ctx, node.func)
            if alias is None:
                return None
            func = f"{alias}.nn.init.normal_"
        new = f"{func}({ctx.code(node.args[0].value)}, std={EPS_STD})"
    else:
        new = f"{ctx.code(node.func.value)}.normal_(std={EPS_STD})"
    return Fix(Applicability.UNSAFE, TITLE, (ctx.replace(node, new),))

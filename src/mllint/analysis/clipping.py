"""What clips gradients: the clip functions of `torch.nn.utils` (any import form, also the
lower-level `clip_grads_with_norm_`), in-place clamps of a gradient (`p.grad.clamp_(-1, 1)`,
`torch.clamp_(p.grad, ...)`), clamping by assignment (`p.grad = p.grad.clamp(-1, 1)`), and calls
of a function or method of the same module or class whose body only clips (`self.clip_gradients()`,
no `unscale_`, `backward` or `step` of its own). Each helper's body is read once per file.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.gradients import is_gradient
from mllint.analysis.timeline import CLIP_FUNCTIONS as _TIMELINE_CLIPS, file_facts
from mllint.engine.context import FileContext, Visitor
from mllint.engine.traversal import walk

# the timeline's clip functions and the lower-level `clip_grads_with_norm_`
CLIP_FUNCTIONS = _TIMELINE_CLIPS | {prefix + "clip_grads_with_norm_" for prefix in ("torch.nn.utils.",
                                                                                     "torch.nn.utils.clip_grad.")}
INPLACE_CLAMPS = ("clamp_", "clip_", "clamp_min_", "clamp_max_")
CLAMPS = ("clamp", "clip", "clamp_min", "clamp_max")


def is_clip(ctx: FileContext, node: cst.Call) -> bool:
    """The call being visited clips or clamps gradients itself."""
    name = ctx.call_name(node)
    if name in CLIP_FUNCTIONS:
        return True  # model.clip_grad_norm_ (FSDP), engine/accelerator methods do not resolve here
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value in INPLACE_CLAMPS:
        if name is not None and name.startswith("torch."):
            return bool(node.args) and is_gradient(node.args[0].value, ctx)  # torch.clamp_(p.grad, ...)
        return is_gradient(func.value, ctx)
    # p.grad = p.grad.clamp(-1, 1) / torch.clamp(p.grad, ...): clipping by assignment
    if isinstance(func, cst.Attribute) and func.attr.value in CLAMPS:
        parent = ctx.parent
        if isinstance(parent, cst.Assign) and parent.value is node and \
                any(is_gradient(t.target, ctx) for t in parent.targets):
            if name in ("torch.clamp", "torch.clip"):
                return bool(node.args) and is_gradient(node.args[0].value, ctx)
            return is_gradient(func.value, ctx)
    return False


def is_clip_helper(ctx: FileContext, node: cst.Call) -> bool:
    """`self.clip_gradients()` / `clip_all(model)`: the call being visited runs a function of this
    file (as the timeline resolves it: a method of the class, a nested or module-level `def`) that
    only clips gradients."""
    func = node.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        key = ("self", func.attr.value)
    elif isinstance(func, cst.Name):
        key = ("module", func.value)
    else:
        return False
    facts = file_facts(ctx)
    callee = facts.callee(ctx.scope(), key) if facts is not None else None
    return callee is not None and ctx.memo.get(_clip_only, ctx, callee)


class _HelperBody(Visitor):
    """What a small helper function does: clip (torch.nn.utils), unscale_, or training-step calls."""

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.clips = False
        self.other = False  # unscale_, backward, step, scale: not a plain clipping helper

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualified_name(node.func) in CLIP_FUNCTIONS:
            self.clips = True
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in ("unscale_", "backward", "step", "scale"):
            self.other = True


def _clip_only(ctx: FileContext, func: cst.FunctionDef) -> bool:
    """The function clips with torch.nn.utils and does no unscale_, backward or step of its own."""
    finder = _HelperBody(ctx)
    walk(func, finder)
    return finder.clips and not finder.other

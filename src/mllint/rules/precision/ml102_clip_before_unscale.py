"""ML102 clip-before-unscale: docs in rules/ML102-clip-before-unscale.md.

Order within one function (or module): a clip that comes after `scaler.scale(loss).backward()` and
before `scaler.step(opt)`, with no `unscale_` in between, clips gradients that are still multiplied
by the loss scale. Branches that exclude each other (`if use_amp: ... else: ...`) are told apart,
so the non-AMP branch of a training step is never matched with the AMP branch's backward.
"""

from __future__ import annotations

import bisect

import libcst as cst

from mllint.analysis.amp import CLIP_FUNCTIONS, AmpEvent, amp_order, clip_only, exclusive_paths, path_contains
from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls, leaves
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.analysis.edits import insert_before
from mllint.analysis.gradients import is_gradient
from mllint.analysis.gradscaler import is_gradscaler
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK

INPLACE_CLAMPS = ("clamp_", "clip_", "clamp_min_", "clamp_max_")
CLAMPS = ("clamp", "clip", "clamp_min", "clamp_max")
_LOOPS = (cst.For, cst.While)


def _pure(expr: cst.BaseExpression) -> bool:
    """An `if` test that can be repeated without side effects: names, attributes, not/and/or, compares."""
    if isinstance(expr, (cst.Name, cst.Integer, cst.SimpleString)):
        return True
    if isinstance(expr, cst.Attribute):
        return _pure(expr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return _pure(expr.expression)
    if isinstance(expr, cst.BooleanOperation):
        return _pure(expr.left) and _pure(expr.right)
    if isinstance(expr, cst.Comparison):
        return _pure(expr.left) and all(_pure(c.comparator) for c in expr.comparisons)
    return False




@register
class ClipBeforeUnscale(Rule):
    code = "ML102"
    name = "clip-before-unscale"
    summary = "Gradient clipping between scaler.scale(loss).backward() and scaler.step() without scaler.unscale_()."
    fix_applicability = Applicability.SAFE
    # a loss is scaled (`scaler.scale(loss)`) and something clips or clamps
    candidates = Calls("scale") & Calls(*leaves(CLIP_FUNCTIONS), *INPLACE_CLAMPS, *CLAMPS)

    # ---- what is a clip -------------------------------------------------------------------------
    def _is_clip(self, node: cst.Call) -> bool:
        ctx = self.ctx
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

    def _clip_helper(self, node: cst.Call) -> bool:
        """`self.clip_gradients()` / `clip_all(model)`: a method or function of this class/module whose
        body only clips with torch.nn.utils (no unscale_, backward or step of its own)."""
        func = node.func
        owner = None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            owner, name = self.ctx.enclosing_class(), func.attr.value
        elif isinstance(func, cst.Name) and self.ctx.module is not None:
            owner, name = self.ctx.module, func.value
        if owner is None:
            return False
        return clip_only(self.ctx, owner, name)  # the last definition of the name is the one called

    def visit_Call(self, node: cst.Call) -> None:
        helper = False
        if not self._is_clip(node):
            if not self._clip_helper(node):
                return
            helper = True
        ctx = self.ctx
        scope = ctx.scope()
        if isinstance(scope, cst.Lambda):
            return
        timeline = amp_order(ctx, scope)
        where = timeline.index.get(id(node))
        if where is None:
            return
        start = next(i for i, n in enumerate(ctx.stack) if n is scope)
        path = tuple(ctx.stack[start:])
        # The events around the clip, nearest first, in branches that can run with it: back to
        # the scaled backward, then on to the scaler's next backward (not the whole timeline).
        events = timeline.events
        here = bisect.bisect_left(timeline.order, where)
        backward, unscaled = None, False
        for i in range(here - 1, -1, -1):
            e = events[i]
            WORK.units += 1
            if exclusive_paths(e.path, path):
                continue
            if e.kind == "backward":
                backward = e
                break
            unscaled = unscaled or e.kind == "unscale"
        if backward is None:
            return
        scaler = backward.scaler
        if not is_gradscaler(scaler, ctx, scope):
            return
        if unscaled:
            return  # already unscaled (also in the same branch, or by a helper method)
        steps: list[AmpEvent] = []
        late_unscale = False  # an unscale_ after the clip, before the step
        for i in range(here, len(events)):
            e = events[i]
            WORK.units += 1
            if e.index <= where or exclusive_paths(e.path, path):
                continue
            if e.kind == "unscale" and not steps:
                late_unscale = True
            elif e.scaler == scaler and e.kind == "backward":
                break
            elif e.scaler == scaler and e.kind == "step":
                steps.append(e)
        if not steps:
            return
        optimizer = self._optimizer(steps)
        what = f"`{ctx.module.code_for_node(node.func)}()` clips gradients that are" if helper else \
            "gradient clipping runs on gradients"
        message = (f"{what} still multiplied by the loss scale of `{scaler}` "
                   f"(65536 by default), so the threshold is off by that factor; call "
                   f"`{scaler}.unscale_({optimizer or 'optimizer'})` before clipping")
        if late_unscale:
            message += " (move the existing `unscale_` call above the clip)"
        fix = None if late_unscale or optimizer is None else self._fix(path, backward, steps, scaler, optimizer)
        self.report(node, message, fix)

    # ---- the fix ------------------------------------------------------------------------------------
    def _optimizer(self, steps: list[AmpEvent]) -> str | None:
        """The optimizer that `scaler.step` receives after the clip, if there is exactly one."""
        optimizers = set()
        for step in steps:
            arg = find_arg(step.call, "optimizer", 0)
            if arg is None or arg.star:
                return None
            optimizers.add(self.ctx.module.code_for_node(arg.value))
        if len(optimizers) != 1:
            return None  # several optimizers stepped after the clip: which one is unclear
        optimizer = optimizers.pop()
        return None if "\n" in optimizer else optimizer

    def _fix(self, path, backward: AmpEvent, steps: list[AmpEvent], scaler: str, optimizer: str) -> Fix | None:
        ctx = self.ctx
        statement = ctx.enclosing_statement()
        inline = None  # `if clip: clip_grad_norm_(...)`: the clip's small statement in a one-line suite
        if isinstance(statement, cst.BaseCompoundStatement) and isinstance(statement.body, cst.SimpleStatementSuite):
            inline = next((n for n in path if any(n is s for s in statement.body.body)), None)
            if inline is None:
                return None  # the clip sits in the header (`if clip(...) > 1:`)
        elif not isinstance(statement, cst.SimpleStatementLine):
            return None
        # A clip inside a loop that does not also step (e.g. over param groups) runs several times
        # per step; unscale_ must run once, so it goes before that loop.
        target = inline or statement
        for anc in path:
            if isinstance(anc, _LOOPS) and not any(path_contains(s.path, anc) for s in steps):
                if path_contains(backward.path, anc):
                    return None  # backward and clip repeat inside a loop that steps after it
                target = anc
                break
        target_path = path[: next(i for i, n in enumerate(path) if n is target)]
        text = f"{scaler}.unscale_({optimizer})"
        # A scaled backward under `if use_amp:` that does not also hold the clip: unscale under the
        # same condition, otherwise unscale_ would divide gradients that were never scaled.
        guards = [n for n in backward.path if isinstance(n, cst.If) and not path_contains(target_path, n)]
        if target is inline:  # unscale_ joins the suite: `if clip: scaler.unscale_(opt); clip_grad_norm_(...)`
            if guards:
                return None
            start, _ = ctx.start_end(target)
            return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                       (Edit(start, start, f"{text}; "),))
        if guards:
            guard = guards[0]
            inner = backward.path[backward.path.index(guard) + 1]
            if len(guards) > 1 or inner is not guard.body or not _pure(guard.test):
                return None
            test = ctx.module.code_for_node(guard.test)
            if "\n" in test:
                return None
            if any(isinstance(n, cst.If) and ctx.module.code_for_node(n.test) == test and
                   path[path.index(n) + 1] is n.body for n in target_path):
                return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                           (insert_before(ctx, target, text),))  # already under the same test
            text = f"if {test}:\n{ctx.module.default_indent}{text}"
        return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                   (insert_before(ctx, target, text),))

"""ML102 clip-before-unscale: docs in rules/ML102-clip-before-unscale.md.

Reads the training-step timeline (analysis/timeline.py) of the function around a clip
(analysis/clipping.py): the nearest scaled backward before the clip, in a branch that can run with
it, and the same scaler's `step` after it, with no `unscale_` between the backward and the clip.
Helpers of the same file are followed: a backward or a `scaler.step` in a `train_step` method, an
`unscale_` in a `_unscale_and_clip()` helper. Branches that exclude each other (`if use_amp: ...
else: ...`) are told apart, so the non-AMP branch of a training step is never matched with the AMP
branch's backward.
"""

from __future__ import annotations

import bisect

import libcst as cst

from mllint.analysis.astutil import find_arg
from mllint.analysis.clipping import CLAMPS, CLIP_FUNCTIONS, INPLACE_CLAMPS, is_clip, is_clip_helper
from mllint.analysis.edits import insert_before
from mllint.analysis.gradscaler import is_gradscaler
from mllint.analysis.timeline import Event, exclusive_paths, frames_at, shared_frames, timeline
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.engine.candidates import Calls, leaves
from mllint.engine.context import FileContext
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK

_LOOPS = (cst.For, cst.While)


def _amp_events(ctx: FileContext, scope: cst.CSTNode) -> tuple[list[Event], list[int]]:
    """The scope's scaled backwards, steps and unscales, and where each happens in the scope (its
    pre-order number, or its helper call's): once per scope."""
    events = [e for e in timeline(ctx, scope)
              if e.kind == "unscale" or e.kind == "step" or e.kind == "backward" and e.scaler is not None]
    return events, [ctx.order(e.place())[0] for e in events]


def _runs_with(ctx: FileContext, unscale: Event, frames, backward: Event) -> bool:
    """The `unscale_` runs whenever the clip and the scaled backward do: each branch it sits in,
    beyond those around the clip, also holds the backward (`if use_amp: backward; unscale_`) or
    tests what a branch around the clip or the backward tests (`if clip: unscale_` ... `if clip:
    clip(...)`; `if use_amp: backward` ... `if use_amp: unscale_`), not only some steps
    (`if step % log_every == 0: scaler.unscale_(opt)`)."""
    common = shared_frames(unscale.path, frames)
    tests = {(ctx.code(node.test), part) for node, part in (*frames, *backward.path) if type(node) is cst.If}
    return all(part not in ("body", "orelse", "except") or any(n is node and p == part for n, p in backward.path)
               or type(node) is cst.If and (ctx.code(node.test), part) in tests
               for node, part in unscale.path[common:])


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

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        helper = False
        if not is_clip(ctx, node):
            if not is_clip_helper(ctx, node):
                return
            helper = True
        scope = ctx.scope()
        events, places = ctx.memo.get(_amp_events, ctx, scope)
        if not events:
            return
        here = ctx.order(node)[0]
        frames = frames_at(ctx, scope)
        # The events around the clip, nearest first, in branches that can run with it: back to
        # the scaled backward, then on to the scaler's next backward (not the whole timeline).
        backward, unscales = None, []
        for i in range(bisect.bisect_left(places, here) - 1, -1, -1):
            e = events[i]
            WORK.units += 1
            if exclusive_paths(e.path, frames):
                continue
            if e.kind == "backward":
                backward = e
                break
            if e.kind == "unscale":
                unscales.append(e)
        if backward is None or any(_runs_with(ctx, u, frames, backward) for u in unscales):
            return  # no scaled backward, or already unscaled (also by a helper method)
        scaler = backward.scaler
        if not is_gradscaler(scaler, ctx, scope):
            return
        steps: list[Event] = []
        late_unscale = False  # an unscale_ after the clip, before the step
        for i in range(bisect.bisect_right(places, here), len(events)):
            e = events[i]
            WORK.units += 1
            if exclusive_paths(e.path, frames):
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
        what = f"`{ctx.code(node.func)}()` clips gradients that are" if helper else \
            "gradient clipping runs on gradients"
        message = (f"{what} still multiplied by the loss scale of `{scaler}` "
                   f"(65536 by default), so the threshold is off by that factor; call "
                   f"`{scaler}.unscale_({optimizer or 'optimizer'})` before clipping")
        if late_unscale:
            message += " (move the existing `unscale_` call above the clip)"
        elif unscales:  # unscaling again where it did run would raise: no fix
            message += " on every step (the `unscale_` before it runs only under a condition)"
        fix = None
        if not late_unscale and not unscales and optimizer is not None and not backward.via and not any(s.via for s in steps):
            fix = self._fix(scope, backward, steps, scaler, optimizer)  # names of a helper may not exist here
        self.report(node, message, fix)

    # ---- the fix ------------------------------------------------------------------------------------
    def _optimizer(self, steps: list[Event]) -> str | None:
        """The optimizer that `scaler.step` receives after the clip, if there is exactly one."""
        optimizers = set()
        for step in steps:
            if step.via:  # in a helper: its argument renamed to the caller's (`step(opt)` -> `self.opt`)
                optimizers.add(step.target)
                continue
            arg = find_arg(step.node, "optimizer", 0)
            if arg is None or arg.star:
                return None
            optimizers.add(self.ctx.code(arg.value))
        if len(optimizers) != 1:
            return None  # several optimizers stepped after the clip: which one is unclear
        optimizer = optimizers.pop()
        return None if optimizer is None or "\n" in optimizer else optimizer

    def _fix(self, scope: cst.CSTNode, backward: Event, steps: list[Event], scaler: str, optimizer: str) -> Fix | None:
        ctx = self.ctx
        path = ctx.stack[next(i for i, n in enumerate(ctx.stack) if n is scope):]
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
            if isinstance(anc, _LOOPS) and not any(s.within(anc) for s in steps):
                if backward.within(anc):
                    return None  # backward and clip repeat inside a loop that steps after it
                target = anc
                break
        target_path = path[: next(i for i, n in enumerate(path) if n is target)]
        text = f"{scaler}.unscale_({optimizer})"
        title = f"Insert `{text}` before clipping"
        # A scaled backward under `if use_amp:` that does not also hold the clip: unscale under the
        # same condition, otherwise unscale_ would divide gradients that were never scaled.
        guards = [(n, part) for n, part in backward.path
                  if isinstance(n, cst.If) and not any(n is t for t in target_path)]
        if target is inline:  # unscale_ joins the suite: `if clip: scaler.unscale_(opt); clip_grad_norm_(...)`
            if guards:
                return None
            start, _ = ctx.start_end(target)
            return Fix(Applicability.SAFE, title, (Edit(start, start, f"{text}; "),))
        if guards:
            guard, part = guards[0]
            if len(guards) > 1 or part != "body" or not _pure(guard.test):
                return None
            test = ctx.code(guard.test)
            if "\n" in test:
                return None
            if any(isinstance(n, cst.If) and ctx.code(n.test) == test and
                   path[path.index(n) + 1] is n.body for n in target_path):
                return Fix(Applicability.SAFE, title, (insert_before(ctx, target, text),))  # already under that test
            text = f"if {test}:\n{ctx.module.default_indent}{text}"
        return Fix(Applicability.SAFE, title, (insert_before(ctx, target, text),))

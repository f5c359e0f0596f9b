"""ML702 clip-after-step: docs in rules/ML702-clip-after-step.md.

Reads the training-step timeline (analysis/timeline.py): a clip whose nearest earlier
backward-or-step event in the iteration is an optimizer step, and whose next one is not a step
(so it clips gradients that no later step uses).
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import Event, exclusive, file_facts, timeline
from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK

_LIMIT_ARGS = {"clip_grad_norm_": ("max_norm", 1), "clip_grad_norm": ("max_norm", 1),
               "clip_grad_value_": ("clip_value", 1)}


def _leaf(call: cst.Call) -> str:
    func = call.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""


def _infinite(expr: cst.BaseExpression) -> bool:
    """`float("inf")`, `math.inf`, `torch.inf`, `np.inf`."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "float" and expr.args:
        value = expr.args[0].value
        return isinstance(value, cst.SimpleString) and value.evaluated_value.lower() in ("inf", "infinity")
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "inf"
    return False


@register
class ClipAfterStep(Rule):
    code = "ML702"
    name = "clip-after-step"
    summary = "Gradient clipping after optimizer.step(): the step already used the unclipped gradients."
    candidates = Calls("step") & Calls("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_")

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            for i, clip in enumerate(events):
                if clip.kind != "clip" or id(clip.node) in reported:
                    continue
                step = self._after_step(events, i)
                if step is None:
                    continue
                reported.add(id(clip.node))
                self.report(clip.node, f"this clip runs after `{step.target}.step()`, which already used the "
                                       f"unclipped gradients, so the run has no gradient clipping; clip "
                                       f"between `backward()` and `{step.target}.step()`")

    def _after_step(self, events: list[Event], i: int) -> Event | None:
        clip = events[i]
        call = clip.node
        limit = _LIMIT_ARGS.get(_leaf(call))
        if limit is not None:
            arg = find_arg(call, *limit)
            if arg is not None and _infinite(arg.value):
                return None  # measures the norm for logging
        loop = clip.innermost_loop()

        def same(e: Event) -> bool:
            return (loop is None or e.within(loop)) and not exclusive(e, clip)

        step, at = None, 0
        earlier_clip = False
        for j in range(i - 1, -1, -1):
            e = events[j]
            WORK.units += 1
            if loop is not None and not e.within(loop):
                return None  # before the loop
            if not same(e):
                continue
            if e.kind == "backward":
                return None
            if e.kind == "step" and not e.closure:
                step, at = e, j
                break
        if step is None:
            return None
        for e in reversed(events[:at]):
            WORK.units += 1
            if not same(e):
                continue
            if e.kind == "backward":
                break
            earlier_clip = earlier_clip or e.kind == "clip"
        if clip.value_used and earlier_clip:
            return None  # the norm is logged; the real clip ran before the step
        for e in events[i + 1:]:
            WORK.units += 1
            if not same(e):
                continue
            if e.kind == "backward":
                break
            if e.kind == "step":
                return None  # the clip prepares a later step (another optimizer's)
        return step

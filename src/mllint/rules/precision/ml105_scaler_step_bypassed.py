"""ML105 scaler-step-bypassed: docs in rules/ML105-scaler-step-bypassed.md.

Reads the training-step timeline (analysis/timeline.py): an `optimizer.step()` whose iteration's
backward was `scaler.scale(loss).backward()`, with no `scaler.step(optimizer)` for that optimizer
anywhere in the iteration.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import Event, exclusive, file_facts, timeline
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK


@register
class ScalerStepBypassed(Rule):
    code = "ML105"
    name = "scaler-step-bypassed"
    summary = "optimizer.step() called directly after scaler.scale(loss).backward(): the step uses scaled gradients."
    fix_applicability = Applicability.SAFE
    candidates = Calls("scale") & Calls("step") & Calls("backward")

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            scaled_steps: dict[str, list[Event]] = {}  # optimizer -> its scaler.step events
            updates: dict[str, list[Event]] = {}  # scaler -> its update events
            for e in events:
                WORK.units += 1
                if e.kind == "step" and e.scaler is not None and e.target is not None:
                    scaled_steps.setdefault(e.target, []).append(e)
                elif e.kind == "scaler_update" and e.scaler is not None:
                    updates.setdefault(e.scaler, []).append(e)
            for i, step in enumerate(events):
                if step.kind != "step" or step.scaler is not None or step.closure or id(step.node) in reported:
                    continue
                loop = step.innermost_loop()

                def same(e: Event) -> bool:
                    return loop is None or e.within(loop)

                backward = None
                for j in range(i - 1, -1, -1):
                    e = events[j]
                    WORK.units += 1
                    if not same(e):
                        break  # before the loop
                    if e.kind == "backward" and not exclusive(e, step):
                        backward = e
                        break
                if backward is None or backward.scaler is None or backward.scaler in facts.disabled_scalers:
                    continue
                scaler = backward.scaler
                if any(same(e) for e in scaled_steps.get(step.target, ())):
                    continue  # the optimizer goes through scaler.step too (e.g. in the other branch)
                reported.add(id(step.node))
                updated = any(same(e) for e in updates.get(scaler, ()))
                last = True
                for e in events[i + 1:]:
                    WORK.units += 1
                    if not same(e) or e.kind == "backward":
                        break
                    if e.kind == "step" and same(e) and not exclusive(e, step):
                        last = False
                        break
                fix = None
                if not step.via and not backward.via:
                    fix = self._fix(step, scaler, add_update=not updated and last)
                self.report(step.node,
                            f"`{step.target}.step()` runs on gradients scaled by `{scaler}` (65536 by default): "
                            f"the update is that many times too large for SGD-type optimizers and inf/NaN "
                            f"steps are not skipped; call `{scaler}.step({step.target})`"
                            + ("" if updated else f" and `{scaler}.update()`"), fix)

    def _fix(self, step: Event, scaler: str, add_update: bool) -> Fix | None:
        ctx = self.ctx
        edits = [ctx.replace(step.node, f"{scaler}.step({step.target})")]
        if add_update:
            start, end = ctx.start_end(step.node)
            line = ctx.line_text(start.row)
            if start.row != end.row or line.strip() != ctx.code(step.node):
                return None  # not a statement of its own: no place for update() we can be sure of
            indent = line[: start.column - 1]
            edits.append(Edit(end, end, f"{ctx.newline}{indent}{scaler}.update()"))
        what = f"Use `{scaler}.step({step.target})`" + (f" and add `{scaler}.update()`" if add_update else "")
        return Fix(Applicability.SAFE, what, tuple(edits))

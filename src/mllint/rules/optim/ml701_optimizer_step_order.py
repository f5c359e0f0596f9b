"""ML701 optimizer-step-order: docs in rules/ML701-optimizer-step-order.md.

Reads the training-step timeline (analysis/timeline.py): for each `optimizer.step()` of an
iteration, a gradient clearing of that optimizer (or of a module, or of the parameters) that runs
after the iteration's last backward and before the step wipes the gradients the step needs; and
with accumulation, a clearing that runs on every micro-batch before the backward wipes the
gradients the gated step would have used.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.iterations import gate_of, leaves_before
from mllint.analysis.timeline import Event, exclusive, file_facts, timeline
from mllint.engine.candidates import Calls, Words
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK


def _same_iteration(step: Event, other: Event) -> bool:
    loop = step.innermost_loop()
    return loop is None or other.within(loop)


def clears(zero: Event, step: Event, kind_of) -> bool:
    """Does the clearing `zero` wipe the gradients `step`'s optimizer uses?"""
    if zero.target is None or zero.target == step.target:
        return True
    # another optimizer's zero_grad clears only that optimizer's parameters
    return kind_of(zero.target) != "optimizer"


@register
class OptimizerStepOrder(Rule):
    code = "ML701"
    name = "optimizer-step-order"
    summary = "zero_grad() between backward() and optimizer.step() (or a step before backward): the step uses wiped gradients."
    candidates = Calls("step") & Calls("backward") & (Calls("zero_grad", "zero_") | Words({"grad"}))

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            for i, step in enumerate(events):
                if step.kind != "step" or step.closure or step.target is None:
                    continue
                found = self._check(events, i, facts.kind_of)
                if found is None:
                    continue
                zero, message = found
                if id(zero.node) not in reported:
                    reported.add(id(zero.node))
                    self.report(zero.node, message)

    def _check(self, events: list[Event], i: int, kind_of) -> tuple[Event, str] | None:
        step = events[i]
        opt = step.target
        # walk back from the step to the last backward: a clearing on the way wipes the gradients;
        # then on to the previous step (where this accumulation cycle began): no further
        zero = None
        backward_at = None
        earlier: list[Event] = []  # clearings between the previous step and the last backward
        for j in range(i - 1, -1, -1):
            e = events[j]
            WORK.units += 1
            if not _same_iteration(step, e):
                break  # the iteration's events are contiguous: this is before the loop
            if exclusive(e, step) or e.kind == "zero_grad" and leaves_before(e, step):
                continue  # another branch, or a clearing on a path that skips the step (`continue`)
            if e.kind == "step":
                break
            if backward_at is None:
                if e.kind == "backward":
                    backward_at = j
                elif e.kind == "zero_grad" and zero is None and clears(e, step, kind_of):
                    zero = e
            elif e.kind == "zero_grad" and clears(e, step, kind_of):
                earlier.append(e)
        if zero is not None:
            if backward_at is not None:
                return zero, (f"`{self._text(zero)}` clears the gradients after `backward()` and before "
                              f"`{opt}.step()`, so the step uses zero gradients and the model never trains; "
                              f"clear the gradients before `backward()` or after the step")
            for e in events[i + 1:]:
                WORK.units += 1
                if not _same_iteration(step, e):
                    break
                if e.kind in ("backward", "step") and _same_iteration(step, e) and not exclusive(e, step):
                    if e.kind == "step":
                        break
                    return zero, (f"`{opt}.step()` runs after `{self._text(zero)}` and before this iteration's "
                                  f"`backward()`, so it steps with zero gradients and the model never trains; "
                                  f"call `backward()` before `{opt}.step()`")
            return None
        # accumulation: the step is gated, a clearing runs on every micro-batch before the backward
        gate = gate_of(step)
        if gate is None or backward_at is None or events[backward_at].within(gate[0]):
            return None
        for e in reversed(earlier):
            if not e.within(gate[0]) and gate_of(e) is None:
                return e, (f"`{self._text(e)}` runs on every micro-batch while `{opt}.step()` runs only "
                           f"every `{self.ctx.code(gate[1])}` iterations, so it wipes the accumulated gradients "
                           f"and each step sees one micro-batch; clear the gradients after the step, inside "
                           f"its condition")
        return None

    def _text(self, event: Event) -> str:
        code = self.ctx.code(event.node)
        if "\n" in code or len(code) > 60:
            return "zero_grad()" if event.target else "p.grad = None"
        return code

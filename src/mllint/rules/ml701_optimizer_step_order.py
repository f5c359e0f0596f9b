"""ML701 optimizer-step-order: docs in rules/ML701-optimizer-step-order.md.

Reads the training-step timeline (analysis/timeline.py): for each `optimizer.step()` of an
iteration, a gradient clearing of that optimizer (or of a module, or of the parameters) that runs
after the iteration's last backward and before the step wipes the gradients the step needs; and
with accumulation, a clearing that runs on every micro-batch before the backward wipes the
gradients the gated step would have used.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import Event, exclusive, file_facts, gate_of, timeline
from mllint.candidates import Calls, Words
from mllint.rule import Rule, register


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
        before = [e for e in events[:i] if _same_iteration(step, e) and not exclusive(e, step)]
        # walk back from the step to the last backward: a clearing on the way wipes the gradients
        zero = None
        backward_before = None
        for e in reversed(before):
            if e.kind == "backward":
                backward_before = e
                break
            if e.kind == "zero_grad" and zero is None and clears(e, step, kind_of):
                zero = e
        if zero is not None:
            if backward_before is not None:
                return zero, (f"`{self._text(zero)}` clears the gradients after `backward()` and before "
                              f"`{opt}.step()`, so the step uses zero gradients and the model never trains; "
                              f"clear the gradients before `backward()` or after the step")
            after = [e for e in events[i + 1:] if e.kind == "backward" and _same_iteration(step, e)
                     and not exclusive(e, step)]
            if after:
                return zero, (f"`{opt}.step()` runs after `{self._text(zero)}` and before this iteration's "
                              f"`backward()`, so it steps with zero gradients and the model never trains; "
                              f"call `backward()` before `{opt}.step()`")
            return None
        # accumulation: the step is gated, a clearing runs on every micro-batch before the backward
        gate = gate_of(step)
        if gate is None or backward_before is None or backward_before.within(gate[0]):
            return None
        for e in before:
            if e.kind == "zero_grad" and not e.within(gate[0]) and gate_of(e) is None \
                    and clears(e, step, kind_of) and events.index(e) < events.index(backward_before):
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

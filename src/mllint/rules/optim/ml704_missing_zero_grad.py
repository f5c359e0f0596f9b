"""ML704 missing-zero-grad: docs in rules/ML704-missing-zero-grad.md.

Reads the training-step timeline (analysis/timeline.py): a loop whose iteration runs `backward()`
and `optimizer.step()`, in a function (helpers of the same file included) that clears gradients
nowhere — no `zero_grad`, `p.grad = None` or `p.grad.zero_()`.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import file_facts, gate_of, timeline
from mllint.engine.candidates import Calls
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK


@register
class MissingZeroGrad(Rule):
    code = "ML704"
    name = "missing-zero-grad"
    summary = "A training loop calls backward() and optimizer.step() but never clears the gradients."
    candidates = Calls("step") & Calls("backward")

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            if any(e.kind == "zero_grad" for e in events):
                continue
            # the loops whose iterations backpropagate (one pass over the events)
            backward_loops: set[int] = set()
            created: set[tuple[str | None, int]] = set()  # (optimizer, a loop it is created in)
            for e in events:
                WORK.units += 1
                if e.kind == "backward":
                    backward_loops.update(id(loop) for loop in e.loops())
                elif e.kind == "opt_create":
                    created.update((e.target, id(loop)) for loop in e.loops())
            for step in events:
                if step.kind != "step" or step.closure or id(step.node) in reported:
                    continue
                loop = step.innermost_loop()
                if loop is None or gate_of(step) is not None:
                    continue  # not per iteration here, or an accumulation step (ML705's business)
                if id(loop) not in backward_loops:
                    continue
                if (step.target, id(loop)) in created:
                    continue  # a new optimizer each iteration, over new tensors (a per-sample optimisation, a test grid)
                reported.add(id(step.node))
                self.report(step.node, f"this loop calls `backward()` and `{step.target}.step()` every iteration "
                                       f"but never clears the gradients, so they add up across iterations and "
                                       f"each step uses the sum of all gradients so far; call "
                                       f"`{step.target}.zero_grad()` before `backward()` (or after the step)")

"""ML704 missing-zero-grad: docs in rules/ML704-missing-zero-grad.md.

Reads the training-step timeline (analysis/timeline.py): a loop whose iteration runs `backward()`
and `optimizer.step()`, in a function (helpers of the same file included) that clears gradients
nowhere — no `zero_grad`, `p.grad = None` or `p.grad.zero_()`.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.iterations import gate_of
from mllint.analysis.recursions import names_in
from mllint.analysis.timeline import Event, file_facts, timeline
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
            created: dict[tuple[str | None, int], Event] = {}  # (optimizer, a loop it is created in)
            for e in events:
                WORK.units += 1
                if e.kind == "backward":
                    backward_loops.update(id(loop) for loop in e.loops())
                elif e.kind == "opt_create":
                    created.update(((e.target, id(loop)), e) for loop in e.loops())
            for step in events:
                if step.kind != "step" or step.closure or id(step.node) in reported:
                    continue
                loop = step.innermost_loop()
                if loop is None or gate_of(step) is not None:
                    continue  # not per iteration here, or an accumulation step (ML705's business)
                if id(loop) not in backward_loops:
                    continue
                create = created.get((step.target, id(loop)))
                if create is not None and self._fresh_each_iteration(create, loop):
                    continue  # a new optimizer over new tensors each iteration (per-step guidance, a test grid)
                reported.add(id(step.node))
                self.report(step.node, f"this loop calls `backward()` and `{step.target}.step()` every iteration "
                                       f"but never clears the gradients, so they add up across iterations and "
                                       f"each step uses the sum of all gradients so far; call "
                                       f"`{step.target}.zero_grad()` before `backward()` (or after the step)")

    def _fresh_each_iteration(self, create: Event, loop: cst.CSTNode) -> bool:
        """The optimizer built in the loop steps tensors also bound in the loop (`model = Toy()`,
        `x = latents.detach().clone()`): no gradient outlives its iteration."""
        ctx = self.ctx
        if create.via or create.function is None or not create.node.args:
            return False
        first, last = ctx.order(loop)
        bindings = ctx.bindings(create.function)
        for name in set(names_in(create.node.args[0].value).names):
            for b in bindings.get(name, ()):
                if b.kind not in ("comp", "param") and first < ctx.order(b.node)[0] <= last:
                    return True
        return False

"""ML703 scheduler-before-optimizer-step: docs in rules/ML703-scheduler-before-optimizer-step.md.

Reads the training-step timeline (analysis/timeline.py): a `scheduler.step()` without arguments
that runs, in one iteration of a loop, before every `optimizer.step()` of that iteration (also one
in a nested batch loop or a helper of the same file: the per-epoch form).
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import SCHEDULER_NAME, Event, exclusive, file_facts, timeline
from mllint.engine.candidates import Calls, Words
from mllint.engine.rule import Rule, register


@register
class SchedulerBeforeOptimizerStep(Rule):
    code = "ML703"
    name = "scheduler-before-optimizer-step"
    summary = "scheduler.step() runs before the iteration's optimizer.step(): the schedule is shifted by one step."
    # a scheduler is one by its construction (`lr_scheduler.*`, `get_*_schedule*`) or its name:
    # either way a word of the file says so
    candidates = Calls("step") & Words(SCHEDULER_NAME)

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            for i, sched in enumerate(events):
                if sched.kind != "sched_step" or sched.closure or id(sched.node) in reported:
                    continue
                step = self._first_step_after(events, i)
                if step is None:
                    continue
                reported.add(id(sched.node))
                self.report(sched.node, f"`{sched.target}.step()` runs before `{step.target}.step()` in the same "
                                        f"iteration, so the schedule is one step ahead and its first learning "
                                        f"rate is never used; call `{sched.target}.step()` after "
                                        f"`{step.target}.step()`")

    @staticmethod
    def _first_step_after(events: list[Event], i: int) -> Event | None:
        sched = events[i]
        loop = sched.innermost_loop()
        if loop is None:
            return None

        def same(e: Event) -> bool:
            return e.within(loop) and not exclusive(e, sched)

        if any(e.kind == "step" and same(e) for e in events[:i]):
            return None  # an optimizer step ran earlier in the iteration
        return next((e for e in events[i + 1:] if e.kind == "step" and not e.closure and same(e)), None)

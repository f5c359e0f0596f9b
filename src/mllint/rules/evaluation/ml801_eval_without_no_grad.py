"""ML801 eval-without-no-grad: docs in rules/ML801-eval-without-no-grad.md.

Reads the training-step timeline with its model calls (analysis/timeline.py, `forwards=True`):
after `model.eval()` (directly or in a helper of the same file), a loop that runs `model(...)`
outside any no-grad region — a `with torch.no_grad()`/`inference_mode()`/`set_grad_enabled(False)`
block or a `@torch.no_grad()` function, in the function or in a caller of the same file — and
that neither backpropagates in the loop nor before `model.train()` comes back (a rollout whose
outputs are trained on). Functions called elsewhere in the file are judged through their callers;
an evaluation function that nothing in the file calls is not judged (its caller may hold the
no-grad context).
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.evaluation import is_eval_call, is_retry_loop, judged_roots
from mllint.analysis.frameworks import LIGHTNING_NO_GRAD_HOOKS
from mllint.analysis.timeline import Event, timeline
from mllint.analysis.edits import wrap_in_block
from mllint.engine.candidates import Calls, Nodes
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

# functions whose outputs a caller may backpropagate through: never wrapped in no_grad
_ROLLOUT = re.compile(r"rollout|sample|generate|collect|explore|play|episode|imagine|dream|search|(^|_)act(_|$)",
                      re.IGNORECASE)
_TRAINING = ("backward", "step")


def _name(function: cst.CSTNode) -> str:
    return function.name.value if isinstance(function, cst.FunctionDef) else ""


@register
class EvalWithoutNoGrad(Rule):
    code = "ML801"
    name = "eval-without-no-grad"
    summary = "An evaluation loop after model.eval() runs the model outside torch.no_grad(): every forward builds an unused graph."
    fix_applicability = Applicability.UNSAFE
    candidates = Calls("eval", "train", where=is_eval_call) & Nodes(ast.For, ast.While)

    def visit_Module(self, node: cst.Module) -> None:
        ctx = self.ctx
        reported: set[int] = set()
        for root in judged_roots(ctx):
            events = timeline(ctx, root, forwards=True)
            if not isinstance(root, cst.Module) and not isinstance(root, cst.Lambda) and \
                    not root.decorators and not any(e.kind in _TRAINING for e in events):
                continue  # an evaluation function called from elsewhere: its caller may hold no_grad
            if LIGHTNING_NO_GRAD_HOOKS.match(_name(root)):
                continue
            training_loops = {id(loop) for e in events if e.kind in _TRAINING for loop in e.loops()}
            active: dict[str, Event] = {}  # model -> its eval() event, while it is in eval mode
            backpropagated: set[int] = set()  # eval events followed by a backward before train()
            found: list[tuple[Event, Event, cst.CSTNode]] = []
            grad_off = False
            for e in events:
                kind = e.kind
                if kind == "eval":
                    active[e.target] = e
                elif kind == "train":
                    active.pop(e.target, None)
                elif kind == "backward":
                    backpropagated.update(id(ev) for ev in active.values())
                elif kind == "grad_off" or kind == "grad_on":
                    grad_off = kind == "grad_off"
                elif kind == "forward" and not grad_off and active:
                    evaluation = active.get(e.target)
                    if evaluation is None or any(part == "no_grad" for _, part in e.path):
                        continue
                    if e.function is not None and LIGHTNING_NO_GRAD_HOOKS.match(_name(e.function)):
                        continue
                    loops = [loop for loop in e.loops() if not evaluation.within(loop) and not is_retry_loop(loop)]
                    if not loops or any(id(loop) in training_loops for loop in loops):
                        continue
                    found.append((evaluation, e, loops[0]))
            for evaluation, forward, loop in found:
                if id(evaluation) in backpropagated or id(loop) in reported:
                    continue
                reported.add(id(loop))
                self._report(evaluation, forward, loop, root)

    def _report(self, evaluation: Event, forward: Event, loop: cst.CSTNode, root: cst.CSTNode) -> None:
        ctx = self.ctx
        call = ctx.code(forward.node.func)
        model = evaluation.target
        row = ctx.start_end(evaluation.node)[0].row
        torch = self._torch() or "torch"
        message = (f"`{call}(...)` runs after `{model}.eval()` (line {row}) in an evaluation loop outside "
                   f"`{torch}.no_grad()`: every forward builds an autograd graph that nothing uses, so evaluation "
                   f"takes several times the memory and can run out of it; wrap the loop in "
                   f"`with {torch}.no_grad():` (or decorate the evaluation function with `@{torch}.no_grad()`)")
        fix = None
        function = forward.function
        if forward.via == evaluation.via and evaluation.function is function and self._inside(loop, function) \
                and not _ROLLOUT.search(_name(function)):
            fix = self._fix(loop)
        self.report(forward.node, message, fix)

    def _inside(self, loop: cst.CSTNode, function: cst.CSTNode | None) -> bool:
        """The loop is written in `function` itself (not in a caller that calls it in the loop)."""
        if function is None or isinstance(function, cst.Module):
            return function is not None
        (start, end), (loop_start, loop_end) = self.ctx.start_end(function), self.ctx.start_end(loop)
        return (start.row, start.column) <= (loop_start.row, loop_start.column) and \
            (loop_end.row, loop_end.column) <= (end.row, end.column)

    def _torch(self) -> str | None:
        return next((local for local, full in self.ctx.imports.items() if full == "torch"), None)

    def _fix(self, loop: cst.CSTNode) -> Fix | None:
        torch = self._torch()
        edit = wrap_in_block(self.ctx, loop, f"with {torch}.no_grad()") if torch is not None else None
        if edit is None:
            return None
        return Fix(Applicability.UNSAFE, f"Wrap the evaluation loop in `with {torch}.no_grad():`", (edit,))

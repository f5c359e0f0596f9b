"""ML802 eval-mode-not-restored: docs in rules/ML802-eval-mode-not-restored.md.

Reads the training-step timeline (analysis/timeline.py): a `model.eval()` (directly or in a helper
of the same file) inside a loop whose iterations train (backward or optimizer step), after which —
going on through the rest of the iteration and around to the next one — a training event comes
before any `model.train()`. A loop that sets the mode in both branches of one `if` (the
`for phase in ("train", "val")` form) sets it every iteration and is not reported.
"""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.timeline import Event, exclusive, timeline, trained_models
from mllint.engine.candidates import Calls
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register
from mllint.analysis.evaluation import is_eval_call, judged_roots
from mllint.engine.traversal import WORK

_TRAINING = ("backward", "step")


def _same_model(a: str | None, b: str | None) -> bool:
    """`model` and `model`, or one a part of the other (`model.module`, `self.model`)."""
    if a is None or b is None:
        return False
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _step_call(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute)


@register
class EvalModeNotRestored(Rule):
    code = "ML802"
    name = "eval-mode-not-restored"
    summary = "model.eval() inside the training loop and no model.train() before the next training step."
    candidates = Calls("eval", "train", where=is_eval_call) & Calls("backward", "step", where=_step_call)

    def visit_Module(self, node: cst.Module) -> None:
        ctx = self.ctx
        trained = trained_models(ctx)
        reported: set[int] = set()
        for root in judged_roots(ctx):
            events = timeline(ctx, root)
            training_loops = {id(loop) for e in events if e.kind in _TRAINING for loop in e.loops()}
            rooted = {e.target for e in events if e.kind == "train" and e.target}  # as this root names them
            for i, e in enumerate(events):
                if e.kind != "eval" or not self._trained(e, trained, rooted):
                    continue
                loop = next((lp for lp in reversed(e.loops()) if id(lp) in training_loops), None)
                if loop is None:
                    continue  # evaluation after training, or in a loop that does not train
                first = self._first_after(events, i, loop)
                if first is None or first.kind == "train":
                    continue
                site = self._site(e, loop)
                if id(site) in reported:
                    continue
                reported.add(id(site))
                self._report(e, first, site)

    def _trained(self, e: Event, trained: frozenset[str], rooted: set[str]) -> bool:
        """The model put in eval mode is one the file trains, not a submodule of it (BatchNorm frozen
        on purpose) nor a frozen model (a teacher, a target network)."""
        target = e.target
        if target is None or any(target.startswith(t + ".") for t in trained if t != target):
            return False
        if e.function is not None and not isinstance(e.function, cst.Module):
            head = target.split(".")[0]
            if any(b.kind in ("for", "comp") for b in self.ctx.bindings(e.function).get(head, ())):
                return False  # `for m in model.modules(): m.eval()`
        written = dotted_name(e.node.func.value) if isinstance(e.node, cst.Call) and \
            isinstance(e.node.func, cst.Attribute) else None  # the receiver in its own function
        if e.via and written != target and rooted:
            # a helper's parameter renamed to the caller's argument: judged by the models this root
            # puts in train mode (`validate(model_ema)` next to `train_one_epoch(model)`), not by
            # the helper's own name for them
            return any(_same_model(target, t) for t in rooted)
        return any(_same_model(target, t) or _same_model(written, t) for t in trained)

    def _same_statement(self, a: Event, b: Event) -> bool:
        """`model.train() if training else model.eval()`: both calls on one line of one function."""
        return a.function is b.function and a.via == b.via and a.path == b.path and \
            self.ctx.start_end(a.node)[0].row == self.ctx.start_end(b.node)[0].row

    def _first_after(self, events: list[Event], i: int, loop: cst.CSTNode) -> Event | None:
        """The first `train()` of the model or training event after events[i], going around the loop
        (the rest of this iteration, then the next one from the top); None when the mode is set in
        both branches of one `if` (it is set again every iteration)."""
        e = events[i]
        start = i
        while start > 0 and events[start - 1].within(loop):
            start -= 1
        end = i
        while end + 1 < len(events) and events[end + 1].within(loop):
            end += 1
        if any(events[j].kind == "train" and (exclusive(events[j], e) or self._same_statement(events[j], e))
               for j in range(start, end + 1)):
            return None  # `if phase == "train": model.train() else: model.eval()`, or as an expression
        for j in (*range(i + 1, end + 1), *range(start, i)):
            other = events[j]
            WORK.units += 1
            if other.kind == "train" and _same_model(other.target, e.target):
                return other
            if exclusive(other, e):
                continue  # the other branch of the `if` around the eval()
            if other.kind in _TRAINING:
                return other
        return None

    def _site(self, e: Event, loop: cst.CSTNode) -> cst.CSTNode:
        """Where to report: the outermost call on the way to the eval() that is written inside the loop."""
        start, end = self.ctx.start_end(loop)
        for call in (*e.via, e.node):
            at = self.ctx.start_end(call)
            if (start.row, start.column) <= (at[0].row, at[0].column) and (at[1].row, at[1].column) <= (end.row, end.column):
                return call
        return e.node

    def _report(self, e: Event, first: Event, site: cst.CSTNode) -> None:
        ctx = self.ctx
        model = e.target
        how = f"`{model}.eval()`" if site is e.node else \
            f"`{ctx.code(site)}` (which calls `{model}.eval()` at line {ctx.start_end(e.node)[0].row})"
        what = "`backward()`" if first.kind == "backward" else f"`{first.target}.step()`"
        row = ctx.start_end(first.node)[0].row
        self.report(site, f"{how} puts the model in eval mode inside the training loop, and the next training "
                          f"step ({what}, line {row}) comes before any `{model}.train()`: from then on the model "
                          f"trains with dropout off and BatchNorm statistics frozen; call `{model}.train()` at the "
                          f"top of each epoch (or at the end of the evaluation)")

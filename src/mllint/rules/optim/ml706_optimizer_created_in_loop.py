"""ML706 optimizer-created-in-loop: docs in rules/ML706-optimizer-created-in-loop.md.

Reads the training-step timeline (analysis/timeline.py): an optimizer constructed inside a loop
that also steps it, over the parameters of a model bound outside that loop.
"""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.timeline import Event, file_facts, timeline
from mllint.engine.candidates import Calls
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register

# loops over stages, tasks, folds, trials, restarts or configurations rebuild the optimizer on purpose
_PER_RUN = re.compile(r"stage|phase|task|fold|trial|seed|config|cfg|(^|_)lrs?($|_)|run|experiment|hparam|(^|_)hps?($|_)"
                      r"|sweep|setting|round|client|model|restart|retry|retries|attempt", re.IGNORECASE)


def _model_of(call: cst.Call) -> str | None:
    """`model` for `Adam(model.parameters(), ...)`, `self.net` for `self.net.parameters()`,
    also through `filter(..., m.parameters())`, `list(...)` and `[{"params": m.parameters()}]`."""
    if not call.args:
        return None
    expr = call.args[0].value
    for _ in range(4):
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                expr.func.attr.value in ("parameters", "named_parameters"):
            return dotted_name(expr.func.value)
        if isinstance(expr, cst.Call) and expr.args:
            expr = expr.args[-1].value  # list(m.parameters()), filter(fn, m.parameters())
        else:
            return None
    return None


def _leaf_names(expr: cst.BaseExpression) -> list[str]:
    """The names a loop condition reads, each dotted name by its last part (`max_steps` of
    `cfg.max_steps`), calls by their arguments (`len(stages)` gives `stages`)."""
    out: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            dotted = dotted_name(node)
            if dotted is not None:
                out.append(dotted.split(".")[-1])
                continue
        if isinstance(node, cst.Call):
            stack.extend(arg.value for arg in node.args)
            continue
        stack.extend(node.children)  # operands, also inside comparisons and boolean operations
    return out


def _stateless_sgd(call: cst.Call, ctx) -> bool:
    """`SGD(params, lr=...)` without momentum keeps no state: rebuilding it changes nothing."""
    name = ctx.call_name(call) or dotted_name(call.func) or ""
    if name.split(".")[-1] != "SGD":
        return False
    positional = [a for a in call.args if a.keyword is None and not a.star]
    momentum = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "momentum"), None)
    if momentum is None and len(positional) > 2:
        momentum = positional[2].value  # SGD(params, lr, momentum, ...)
    if any(a.star for a in call.args):
        return False  # SGD(params, **cfg): the momentum may be in there
    return momentum is None or (isinstance(momentum, (cst.Integer, cst.Float)) and float(momentum.value) == 0)


@register
class OptimizerCreatedInLoop(Rule):
    code = "ML706"
    name = "optimizer-created-in-loop"
    summary = "An optimizer is rebuilt inside the training loop: its state (momentum, Adam moments) resets every iteration."
    candidates = Calls("step") & Calls("parameters")

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            for create in events:
                if create.kind != "opt_create" or create.target is None or id(create.node) in reported:
                    continue
                loop = self._loop(create, events)
                if loop is None:
                    continue
                reported.add(id(create.node))
                self.report(create.node, f"`{create.target}` is rebuilt on every iteration of this loop, so its "
                                         f"state (momentum buffers, Adam moments, step count) starts over each "
                                         f"time and momentum never builds; create the optimizer once, before "
                                         f"the loop")

    def _loop(self, create: Event, events: list[Event]) -> cst.CSTNode | None:
        """The innermost loop around the construction that also steps the optimizer, if the model is
        bound outside it and the loop is not over stages or tasks."""
        model = _model_of(create.node)
        if model is None or create.via or _stateless_sgd(create.node, self.ctx):
            return None
        for loop, part in reversed(create.path):
            if part != "loop":
                continue
            if not any(e.kind == "step" and e.target == create.target and e.within(loop) for e in events):
                continue
            if isinstance(loop, cst.While):
                # `while step < cfg.max_steps:` / `while True:` trains; `while stage < n_stages:`
                # restarts: judged by the names the condition compares, not the objects holding them
                if any(_PER_RUN.search(name) for name in _leaf_names(loop.test)):
                    return None
                if self._bound_inside(model, loop, create.function):
                    return None
                return loop
            if not isinstance(loop, cst.For):
                return None
            if isinstance(loop.iter, (cst.List, cst.Tuple, cst.Dict, cst.Set)):
                return None  # a loop over named stages
            names = [n for n in (dotted_name(loop.target),) if n] + \
                [dotted_name(e.value) or "" for e in getattr(loop.target, "elements", [])]
            if any(_PER_RUN.search(n) for n in names) or _PER_RUN.search(self.ctx.code(loop.iter)):
                return None
            if self._bound_inside(model, loop, create.function):
                return None  # meta-learning: the model (or a copy) is made in the loop too
            return loop
        return None

    def _bound_inside(self, model: str, loop: cst.For | cst.While, function: cst.CSTNode) -> bool:
        head = model.split(".")[0]
        if head == "self":
            return False
        start, end = self.ctx.start_end(loop)
        for binding in self.ctx.bindings(function).get(head, []):
            row = self.ctx.start_end(binding.node)[0].row
            if start.row <= row <= end.row:
                return True
        return False

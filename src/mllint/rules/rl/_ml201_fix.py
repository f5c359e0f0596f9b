"""ML201's fix: normalise with running statistics kept across updates. The helper class it inserts
once per file, and where the normaliser instance lives (kept out of the rule's module)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param
from mllint.analysis.edits import add_instance_attribute, insert_after_header, insert_lines, module_top
from mllint.diagnostics import Edit

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

HELPER = "_MllintRunningNorm"
HELPER_SOURCE = '''class _MllintRunningNorm:
    """Normalises by the mean/std of every value seen so far, not of one batch (added by mllint ML201).

    Batch statistics are merged with the parallel-variance update (Chan et al.), so the result
    equals the mean/std over all data seen; works on torch tensors and numpy arrays.
    """

    def __init__(self, eps=1e-8):
        self.mean, self.var, self.count, self.eps = 0.0, 1.0, 0, eps

    def __call__(self, x):
        flat = (x.detach() if hasattr(x, "detach") else x).reshape(-1)
        n = flat.shape[0]
        if n:
            batch_mean = float(flat.mean())
            batch_var = float(((flat - batch_mean) ** 2).mean())
            total = self.count + n
            delta = batch_mean - self.mean
            self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
            self.mean += delta * n / total
            self.count = total
        return (x - self.mean) / (self.var**0.5 + self.eps)
'''



class RunningNormPlan:
    """Where the running normaliser lives: on `self` inside a method (initialised in `__init__`,
    or lazily when the class has none), else a module-level instance; the helper class itself is
    inserted after the imports once and reused when present."""

    def __init__(self, ctx: FileContext, name: str | None):
        self.ctx = ctx
        base = re.sub(r"\W", "", name or "returns").strip("_") or "returns"
        self.attr = f"{base}_norm"
        func = ctx.enclosing_function()
        method, cls = enclosing_method(ctx)
        self.method, self.cls = (func, cls) if func is not None and method is func and first_param(func) == "self" \
            else (None, None)
        self.instance = f"self.{self.attr}" if self.method is not None else f"_{self.attr}"

    def state_edits(self) -> list[Edit]:
        ctx = self.ctx
        top = module_top(ctx)
        helper = top.classes.get(HELPER)
        module_instance = "" if self.method is not None or self.instance in top.assigned else \
            f"\n\n{self.instance} = {HELPER}()\n"
        edits: list[Edit] = []
        if helper is None:
            edits.append(insert_after_header(ctx, f"{HELPER_SOURCE}{module_instance}"))
        elif module_instance:
            last = top.last_instance.get(HELPER)
            if last is not None:  # next to the other normalisers
                edits.append(insert_lines(ctx, ctx.start_end(last)[1].row, module_instance.lstrip("\n")))
            else:
                edits.append(insert_lines(ctx, ctx.start_end(helper)[1].row, module_instance))
        if self.method is not None:
            # the two-statement form reports from the statement itself
            site = ctx.node if isinstance(ctx.node, cst.SimpleStatementLine) else ctx.enclosing_statement()
            edits += add_instance_attribute(ctx, self.cls, self.attr, f"{HELPER}()", site, self.method)
        return edits

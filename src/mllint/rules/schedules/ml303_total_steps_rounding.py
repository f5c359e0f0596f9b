"""ML303 total-steps-rounding: docs in rules/ML303-total-steps-rounding.md.

A data loader yields a whole number of batches per epoch, so the total is (batches per epoch) x
epochs. Rounding the whole product once, `int(epochs * n / batch)`, is off by up to one step per
epoch, and a schedule sized with it ends early or never reaches its end.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.data_loading import LOADER_CALLS, loader_calls
from mllint.analysis.flow import name_sinks
from mllint.analysis.names import leaf_name
from mllint.analysis.schedules import EPOCHS, SCHEDULE_KEYWORDS, TOTAL_NAME
from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls, Ops, Words, leaves
from mllint.diagnostics import Applicability, Fix
from mllint.analysis.edits import import_edit, module_alias
from mllint.engine.rule import Rule, register

ROUNDINGS = {"int", "round", "math.floor", "math.ceil", "math.trunc", "numpy.floor", "numpy.ceil",
             "numpy.round", "numpy.rint", "torch.floor", "torch.ceil"}
BATCH = re.compile(r"batch|(^|_)bs$", re.I)
ACCUM = re.compile(r"accum", re.I)
# Calls that only show or count progress: a total used only there sizes no schedule.
PROGRESS_CALLS = {"tqdm", "trange", "print", "range", "info", "debug", "warning", "log", "format", "str", "set_total"}
LOADER_NAME = re.compile(r"^(train_?)?(data_?)?loader$|^train_(data)?loader$|^dl_?train$|^train_dl$", re.I)


def _leaf(expr: cst.CSTNode) -> str:
    return leaf_name(expr) or ""  # len(dataset), cfg.get("epochs"): no name


def factors(expr: cst.BaseExpression, sign: int = 1, out=None) -> list[tuple[int, cst.BaseExpression]]:
    """Multiplicative factors of `a * b / c` as (+1 | -1, node); anything else is one factor."""
    out = [] if out is None else out
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
        factors(expr.left, sign, out)
        factors(expr.right, sign if isinstance(expr.operator, cst.Multiply) else -sign, out)
    else:
        out.append((sign, expr))
    return out


def _loader_bindings(ctx, scope: cst.CSTNode) -> list[tuple[str, object]]:
    """The loaders a scope binds, once per scope (not per total: a file with many totals stays
    linear): (name, None) for a parameter, (name, start position) for `DataLoader(...)` or
    `train_loader = build_loader(...)`."""
    out: list[tuple[str, object]] = []
    for name, binds in ctx.bindings(scope).items():
        for b in binds:
            if b.kind == "param" and LOADER_NAME.match(name):
                out.append((name, None))
            elif b.kind in ("assign", "annassign") and isinstance(b.value, cst.Call) and (
                    ctx.qualified_name(b.value.func) in LOADER_CALLS or LOADER_NAME.match(name)):
                out.append((name, ctx.start_end(b.node)[0]))
    return out


@register
class TotalStepsRounding(Rule):
    code = "ML303"
    name = "total-steps-rounding"
    summary = "A total step count rounded once over epochs x samples / batch differs from what the loader yields."
    fix_applicability = Applicability.UNSAFE
    # a rounding, epochs, a batch size, and a total that sizes a schedule, by name or keyword
    candidates = (Calls(*leaves(ROUNDINGS)) | Ops(ast.FloorDiv)) & Words(EPOCHS) & \
        Words(BATCH) & Words(lambda word: TOTAL_NAME.match(word) is not None or word in SCHEDULE_KEYWORDS)

    # ---- where a total sizes a schedule -------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        if any(TOTAL_NAME.match(_leaf(t.target) or "") and not self._only_progress(t.target) for t in node.targets):
            self._check(node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and TOTAL_NAME.match(_leaf(node.target) or "") and \
                not self._only_progress(node.target):
            self._check(node.value)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None and node.keyword.value in SCHEDULE_KEYWORDS:
            self._check(node.value)
            if isinstance(node.value, cst.Name):  # `steps = epochs * n // bs` ... `T_max=steps`
                for b in self.ctx.bindings(self.ctx.scope()).get(node.value.value, []):
                    if b.kind in ("assign", "annassign") and not TOTAL_NAME.match(node.value.value):
                        self._check(b.value)  # (a total named as such is checked at its assignment)

    def _only_progress(self, target: cst.BaseExpression) -> bool:
        """Is a local total used, and only as a progress-bar or log count (`tqdm(total=...)`)?"""
        if not isinstance(target, cst.Name):
            return False
        sinks = name_sinks(self.ctx, self.ctx.scope()).get(target.value, ())
        return bool(sinks) and all(c in PROGRESS_CALLS for c in sinks)

    # ---- the one-rounding shape ---------------------------------------------------------------
    def _check(self, value: cst.BaseExpression) -> None:
        reported = self.__dict__.setdefault("_reported", set())
        if id(value) in reported:
            return
        reported.add(id(value))
        if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in ("max", "min"):
            for arg in value.args:  # max(1, int(epochs * n / batch))
                self._check(arg.value)
            return
        shape = self._shape(value)
        if shape is None:
            return
        num, den, epochs = shape
        ctx = self.ctx
        fix_text, how = self._replacement(num, den, epochs, value)
        message = (f"`{_short(ctx.code(value))}` rounds epochs * samples / batch once, but a data loader yields "
                   f"whole batches per epoch, so the schedule is off by up to a step per epoch; use {how}: "
                   f"`{_short(fix_text)}`")
        edits = [ctx.replace(value, fix_text)]
        if "math.ceil" in fix_text and module_alias(ctx, "math") is None:
            edits.append(import_edit(ctx, "math"))
        fix = Fix(Applicability.UNSAFE, "Count whole batches per epoch, as the data loader does", tuple(edits))
        self.report(value, message, fix)

    def _shape(self, value: cst.BaseExpression):
        """(numerator factors, denominator factors, epochs factors) for a flagged form, else None."""
        ctx = self.ctx
        inner = None
        if isinstance(value, cst.Call) and len(value.args) == 1 and not value.args[0].star \
                and ctx.qualified_name(value.func) in ROUNDINGS:
            inner = value.args[0].value
            parts = factors(inner)
        elif isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.FloorDivide):
            left = factors(value.left)
            if any(sign < 0 for sign, _ in left):
                return None
            parts = left + [(-1, f) for _, f in factors(value.right)]
        else:
            return None
        num = [f for sign, f in parts if sign > 0]
        den = [f for sign, f in parts if sign < 0]
        epochs = [f for f in num if EPOCHS.search(_leaf(f))]
        if not epochs or not den or len(num) < 2:
            return None
        # Divided by a batch size (possibly times accumulation steps / world size).
        if not any(BATCH.search(_leaf(f)) or BATCH.search(ctx.code(f)) for f in den):
            return None
        if any(isinstance(f, cst.Call) and ctx.qualified_name(f.func) in ROUNDINGS for f in num + den):
            return None  # a per-epoch rounding is already there
        if any(isinstance(f, (cst.Integer, cst.Float)) or "ratio" in _leaf(f) or "frac" in _leaf(f) for f in num):
            return None  # a fraction of the run (`* 0.9`, `* warmup_ratio`), not a count of batches
        return [f for f in num if f not in epochs], den, epochs

    # ---- the fix ------------------------------------------------------------------------------
    def _replacement(self, num, den, epochs, value) -> tuple[str, str]:
        code = self.ctx.code
        epochs_text = " * ".join(_atom(code(f)) for f in epochs)
        accum = [f for f in den if ACCUM.search(_leaf(f) or code(f))]
        loader = self._loader_in_scope(value)
        math_name = module_alias(self.ctx, "math") or "math"
        if loader is not None:
            if accum:
                acc = " * ".join(_atom(code(f)) for f in accum)
                per_epoch = f"{math_name}.ceil(len({loader}) / {_atom(acc) if len(accum) == 1 else '(' + acc + ')'})"
                return f"{per_epoch} * {epochs_text}", "the loader's length times the epochs"
            return f"len({loader}) * {epochs_text}", "the loader's length times the epochs"
        num_text = " * ".join(_atom(code(f)) for f in num)
        den_text = " * ".join(_atom(code(f)) for f in den)
        if len(den) > 1:
            den_text = f"({den_text})"
        if self._drop_last() is True:
            return (f"{_atom(num_text) if len(num) > 1 else num_text} // {den_text} * {epochs_text}",
                    "whole batches per epoch (the loader drops the last partial batch)")
        return (f"{math_name}.ceil({num_text} / {den_text}) * {epochs_text}",
                "batches per epoch counting the last partial one (no drop_last=True)")

    def _loader_in_scope(self, value: cst.CSTNode) -> str | None:
        """A DataLoader bound (or passed in) in the enclosing functions, preferring a training one;
        in the function of the total itself, bound before the total is computed."""
        ctx = self.ctx
        found: list[str] = []
        here = ctx.start_end(value)[0]
        scopes = [n for n in ctx.ancestors() if isinstance(n, cst.FunctionDef)] + [ctx.module]
        for scope in scopes:
            for name, start in ctx.memo.get(_loader_bindings, ctx, scope):
                if start is None or scope is not scopes[0] or start < here:
                    found.append(name)
            if found:
                break
        found = list(dict.fromkeys(found))
        train = [n for n in found if "train" in n.lower()]
        if len(train) == 1:
            return train[0]
        return found[0] if len(found) == 1 else None

    def _drop_last(self) -> bool | None:
        """drop_last of the module's (training) DataLoader calls: True, False, or None if unknown."""
        calls = self._loader_calls()
        if not calls:
            return None
        values = set()
        for call in calls:
            arg = find_arg(call, "drop_last", 8)
            if arg is None:
                values.add(False)
            elif isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
                values.add(arg.value.value == "True")
            else:
                values.add(None)
        return values.pop() if len(values) == 1 else None

    def _loader_calls(self) -> list[cst.Call]:
        """The file's training DataLoader calls (by the names around them), else all of them."""
        loaders = loader_calls(self.ctx)
        return [call for where, call in loaders if "train" in where.lower()] or [call for _, call in loaders]


def _atom(text: str) -> str:
    """Parenthesise `text` unless it is a single name, attribute, call or subscript."""
    try:
        expr = cst.parse_expression(text)
    except Exception:
        return f"({text})"
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)) or expr.lpar:
        return text
    return f"({text})"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 90 else text[:87] + "..."

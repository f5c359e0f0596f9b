"""ML301 schedule-uses-local-counter: docs in rules/ML301-schedule-uses-local-counter.md.

A schedule (annealing, warmup, epsilon, temperature, penalty) driven by a component's own counter
(`self.dqn_step_counter`: set to a constant in `__init__`, incremented under a condition or in
another method) lags the training step whenever the component does not run on every step.

The visit singles out schedule calls fed `self.<attr>`; once the module is read, the class facts
(`analysis.schedules.counter`: every write of the attribute in the class and its bases, in this
file or in project files they are imported from, with the branches and loops around it) say
whether the attribute is such a counter.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param, project_lineage
from mllint.analysis.names import imported_name
from mllint.analysis.frameworks import BATCH_INDEX_PARAMS, LIGHTNING_BATCH_HOOKS, LIGHTNING_MODULE_NAMES
from mllint.analysis.schedules import GLOBAL_STEP_PARAMS, SCHEDULE_CALL, STEP_KEYWORDS, counter, global_step_reads
from mllint.analysis.project import LIBRARIES
from mllint.engine.candidates import Calls, Facts, Nodes, Pattern
from mllint.engine.context import dotted_name
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

# A text hint that the module has a training-loop step somewhere (then the step is in reach).
LOOP_STEP = re.compile(r"\bglobal_step\b|\.step\s*\+=\s*1\b|\bstep\s*\+=\s*1\b|\bglobal_iter\w*\s*\+=")


def _increments_attribute(node: ast.AugAssign | ast.Assign) -> bool:
    """On CPython's AST: what _incremented_somewhere looks for (`.x += n`, `.x = y.x + n`)."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Add) and isinstance(node.target, ast.Attribute)
    value = node.value
    return isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and isinstance(value.left, ast.Attribute) \
        and any(isinstance(target, ast.Attribute) and target.attr == value.left.attr for target in node.targets)


def _maybe_counter(expr: ast.expr) -> bool:
    """On CPython's AST: what `_counter_attr` can accept (a local name may be bound to one)."""
    if isinstance(expr, ast.Attribute):
        return isinstance(expr.value, ast.Name) and "global" not in expr.attr
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return expr.func.id in ("int", "float") and len(expr.args) == 1 and _maybe_counter(expr.args[0]) \
            or expr.func.id == "getattr" and len(expr.args) >= 2
    if isinstance(expr, ast.BinOp):
        return _maybe_counter(expr.left)
    return isinstance(expr, ast.Name)


class _ProjectBase(Pattern):
    """A class whose base is imported with `from <module> import <Base>` from a module that may be
    the project's (what `analysis.project` follows): its counter may be incremented there."""

    def __call__(self, facts: Facts) -> bool:
        imported = {alias.asname or alias.name for node in facts.of_type(ast.ImportFrom)
                    if node.level or (node.module or "").split(".")[0] not in LIBRARIES | sys.stdlib_module_names
                    for alias in node.names}
        return any(type(base) is ast.Name and base.id in imported
                   for cls in facts.of_type(ast.ClassDef) for base in cls.bases)


TORCH_MODULES = {"torch.nn.Module", "torch.nn.modules.module.Module"}


@dataclass
class Candidate:
    call: cst.Call
    target: cst.CSTNode  # the node to replace by the global step
    attr: str
    klass: cst.ClassDef
    method: cst.FunctionDef
    step: str | None  # global step expression in scope, if any


@register
class ScheduleUsesLocalCounter(Rule):
    code = "ML301"
    name = "schedule-uses-local-counter"
    summary = "A schedule is driven by a component's own counter instead of the training loop's global step."
    fix_applicability = Applicability.UNSAFE
    cross_file = True  # follows a class's bases into other files of the project
    # A schedule call (by its name, or a step keyword) fed something that can be a counter
    # attribute, and an attribute incremented somewhere (`.x += n` or `.x = y.x + n`, as
    # _incremented_somewhere).
    candidates = (Calls(lambda name: name != "step" and SCHEDULE_CALL.search(name) is not None,
                        where=lambda call: any(map(_maybe_counter, call.args)) or any(
                            _maybe_counter(kw.value) for kw in call.keywords
                            if kw.arg and (kw.arg in STEP_KEYWORDS or "step" in kw.arg)))
                  | Nodes(ast.keyword, where=lambda kw: kw.arg in STEP_KEYWORDS and _maybe_counter(kw.value))) & \
        (Nodes(ast.AugAssign, ast.Assign, where=lambda node: _increments_attribute(node))
         | _ProjectBase()) \
        | Calls(lambda name: name != "step" and SCHEDULE_CALL.search(name) is not None,
                where=lambda call: bool(call.args or call.keywords)) & \
        Nodes(ast.arg, where=lambda param: param.arg in BATCH_INDEX_PARAMS)

    def __init__(self, ctx, options):
        super().__init__(ctx, options)
        self.candidates: list[Candidate] = []
        self._increments: dict[tuple[str, int], bool] = {}

    # ---- cheap LibCST pass: single out schedule calls fed by `self.<attr>` ---------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        leaf = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if leaf == "step" or not leaf:
            return  # optimizer.step(), scheduler.step()
        # `from utils.annealing import compute_expansion_penalty as cep`: judge the imported name
        imported = self.ctx.imports.get(leaf) if isinstance(func, cst.Name) else None
        by_name = bool(SCHEDULE_CALL.search(leaf) or (imported and SCHEDULE_CALL.search(imported.rsplit(".", 1)[-1])))
        args = [a for a in node.args if a.keyword is not None and a.keyword.value in STEP_KEYWORDS]
        if by_name:
            args = [a for a in node.args if a.keyword is None or a.keyword.value in STEP_KEYWORDS
                    or "step" in a.keyword.value]
        if not args:
            return
        method, klass = enclosing_method(self.ctx)
        if method is None:
            return
        self_name = first_param(method)
        if self_name is None:
            return
        if by_name and method.name.value in LIGHTNING_BATCH_HOOKS:
            self._batch_index(node, args, method, self_name)
        for arg in args:
            found = self._counter_attr(arg.value, self_name)
            if found is None:
                continue
            target, attr = found
            if "global" in attr or not self._incremented_somewhere(attr, klass):
                continue  # `self.global_step` is the trainer's step; no `+= 1`: not a counter
            step = self._global_step_in_scope(klass, attr, self_name)
            self.candidates.append(Candidate(node, target, attr, klass, method, step))

    def _batch_index(self, call: cst.Call, args: list[cst.Arg], method: cst.FunctionDef, self_name: str) -> None:
        """`kl_anneal(batch_idx, ...)` in a Lightning hook: the hook's batch-index parameter, which
        restarts every epoch, drives the schedule (also as `batch_idx + 1`, `float(batch_idx) / n`,
        or through a local bound once to it)."""
        params = {p.name.value for p in method.params.params}
        for arg in args:
            found = self._batch_index_use(arg.value, params)
            if found is None:
                continue
            node, index = found
            step = f"{self_name}.global_step"
            self.report(node, f"`{self.ctx.code(call.func)}` is driven by `{index}`, the batch index "
                              "within the epoch, which restarts at 0 every epoch, so the schedule restarts "
                              f"too; pass `{step}` (the training step across epochs) instead",
                        Fix(Applicability.UNSAFE, f"Drive the schedule by `{step}`", (self.ctx.replace(node, step),)))

    def _batch_index_use(self, expr: cst.BaseExpression, params: set[str], alias: bool = True):
        """(the name to replace, the batch-index parameter) if `expr` counts batches by it."""
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("int", "float") \
                and len(expr.args) == 1:
            expr = expr.args[0].value
        if alias and isinstance(expr, cst.BinaryOperation):  # `batch_idx + 1`, `batch_idx / warmup`
            return self._batch_index_use(expr.left, params, alias=False)
        if not isinstance(expr, cst.Name):
            return None
        binds = self.ctx.bindings().get(expr.value, [])
        if expr.value in BATCH_INDEX_PARAMS and expr.value in params:
            return (expr, expr.value) if len(binds) <= 1 else None  # only the parameter binds it
        if alias and len(binds) == 1 and binds[0].kind == "assign" and binds[0].value is not None:
            inner = self._batch_index_use(binds[0].value, params, alias=False)  # `i = batch_idx`
            return (expr, inner[1]) if inner is not None and isinstance(binds[0].value, (cst.Name, cst.Call)) else None
        return None

    def _incremented_somewhere(self, attr: str, klass: cst.ClassDef) -> bool:
        """Cheap text test before the class facts: `.attr += <n>` or `.attr = <x>.attr + <n>` in the
        file, or in a project file that defines one of the class's bases."""
        key = (attr, id(klass))
        if key not in self._increments:
            pattern = re.compile(rf"\.{re.escape(attr)}\s*(\+=|=\s*\w+\.{re.escape(attr)}\s*\+)")
            self._increments[key] = pattern.search(self.ctx.source) is not None or any(
                here is not self.ctx and pattern.search(here.source) for here, _ in project_lineage(self.ctx, klass))
        return self._increments[key]

    def _counter_attr(self, expr: cst.BaseExpression, self_name: str):
        """`self.x`, `float(self.x)`, `self.x - self.start`, or a local bound once to `self.x`."""
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == self_name:
            return expr, expr.attr.value
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("int", "float") \
                and len(expr.args) == 1:
            return self._counter_attr(expr.args[0].value, self_name)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "getattr" \
                and len(expr.args) >= 2 and isinstance(expr.args[0].value, cst.Name) \
                and expr.args[0].value.value == self_name and isinstance(expr.args[1].value, cst.SimpleString):
            attr = expr.args[1].value.evaluated_value  # getattr(self, "training_step", 0)
            return (expr, attr) if isinstance(attr, str) and attr.isidentifier() else None
        if isinstance(expr, cst.BinaryOperation):
            return self._counter_attr(expr.left, self_name)
        if isinstance(expr, cst.Name):
            binds = self.ctx.bindings().get(expr.value, [])
            if len(binds) == 1 and binds[0].kind == "assign" and binds[0].value is not None:
                inner = self._counter_attr(binds[0].value, self_name)
                if inner is not None:
                    return expr, inner[1]
        return None

    def _global_step_in_scope(self, klass: cst.ClassDef, attr: str, self_name: str) -> str | None:
        """The training step as the enclosing code can spell it, or None."""
        functions = [n for n in self.ctx.ancestors() if isinstance(n, cst.FunctionDef)]
        for fn in functions:
            params = fn.params
            names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
            for candidate in GLOBAL_STEP_PARAMS:
                if candidate in names and candidate != attr:
                    return candidate
        # `self.trainer.global_step`, `state.global_step` read in the same function
        if functions and "global_step" in self.ctx.source:
            found = global_step_reads(self.ctx, functions[-1])
            if found:
                return found[0]
        if any((dotted_name(base.value) or "").rsplit(".", 1)[-1] in LIGHTNING_MODULE_NAMES  # also through a base class
               for _, cls in project_lineage(self.ctx, klass) for base in cls.bases):
            return f"{self_name}.global_step"
        return None

    # ---- decide once the whole module is known -------------------------------------------------
    def leave_Module(self, node: cst.Module) -> None:
        if not self.candidates:
            return
        loop_in_module = bool(LOOP_STEP.search(self.ctx.source))
        for cand in self.candidates:
            if cand.step is None and not loop_in_module and not self._is_torch_module(cand.klass):
                continue
            found = counter(self.ctx, cand.klass, cand.attr)
            if found is None:
                continue
            if cand.step is None and not loop_in_module and not found.conditional:
                # A model component (nn.Module) whose training loop lives in another file: only a
                # counter ticking under a condition is clearly not the training clock.
                continue
            method = cand.method.name.value
            elsewhere = found.increment_functions - {method}
            if not (found.conditional or elsewhere):
                continue  # ticks on every call of the method that uses it: in step with training
            if not found.conditional and found.in_loop:
                continue  # ticks once per iteration of a loop, unconditionally: the training loop's clock
            how = "under a condition" if found.conditional else f"in `{sorted(elsewhere)[0]}`"
            where = f"`{self.ctx.code(cand.call.func)}`"
            if cand.step is not None:
                message = (f"{where} is driven by `self.{cand.attr}`, a counter this component increments only "
                           f"{how}, so the schedule lags the training step; pass `{cand.step}` instead")
                fix = Fix(Applicability.UNSAFE, f"Drive the schedule by `{cand.step}`",
                          (self.ctx.replace(cand.target, cand.step),))
            else:
                message = (f"{where} is driven by `self.{cand.attr}`, a counter this component increments only "
                           f"{how}, so the schedule lags the training step; add a `global_step` parameter to "
                           f"`{method}`, pass the training loop's step to it and use that here")
                fix = None
            self.report(cand.target, message, fix)

    def _is_torch_module(self, klass: cst.ClassDef) -> bool:
        """An nn.Module subclass (directly, or through classes of this file)."""
        return any(imported_name(here.imports, base.value) in TORCH_MODULES
                   for here, cls in project_lineage(self.ctx, klass) for base in cls.bases)

"""ML301 schedule-uses-local-counter: docs in rules/ML301-schedule-uses-local-counter.md.

A schedule (annealing, warmup, epsilon, temperature, penalty) driven by a component's own counter
(`self.dqn_step_counter`: set to a constant in `__init__`, incremented under a condition or in
another method) lags the training step whenever the component does not run on every step.

LibCST singles out the call; astroid then reads the class once (instance attributes and every
assignment to them across methods and base classes) to decide whether the attribute is such a
counter. Files without a candidate call are never given to astroid.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param
from mllint.engine.candidates import Calls, Nodes
from mllint.engine.context import Visitor, dotted_name
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import walk

SCHEDULE_CALL = re.compile(r"anneal|schedul|temperature|epsilon|warm_?up|decay|penalty|ramp", re.I)
STEP_KEYWORDS = {"current_step", "step", "global_step", "progress", "t", "cur_step", "curr_step", "iteration", "it"}
# Parameters that carry the training loop's step into a method.
GLOBAL_STEP_PARAMS = ("global_step", "train_step", "global_iteration", "global_iter", "total_step", "step",
                      "current_step", "cur_step", "curr_step", "iteration", "step_idx")
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


LIGHTNING = ("LightningModule",)
# Lightning's per-epoch batch index (`training_step(self, batch, batch_idx)`): it restarts at 0 every
# epoch, so a schedule driven by it restarts too; the module's `self.global_step` does not.
BATCH_INDEX_PARAMS = ("batch_idx", "batch_nb", "batch_index", "batch_num")
STEP_HOOKS = ("training_step", "validation_step", "on_train_batch_start", "on_train_batch_end")
TORCH_MODULES = {"torch.nn.Module", "torch.nn.modules.module.Module"}


@dataclass
class Candidate:
    call: cst.Call
    target: cst.CSTNode  # the node to replace by the global step
    attr: str
    klass: cst.ClassDef
    method: cst.FunctionDef
    step: str | None  # global step expression in scope, if any


@dataclass
class Counter:
    increment_methods: set[str]
    conditional: bool
    in_loop: bool = False


@register
class ScheduleUsesLocalCounter(Rule):
    code = "ML301"
    name = "schedule-uses-local-counter"
    summary = "A schedule is driven by a component's own counter instead of the training loop's global step."
    fix_applicability = Applicability.UNSAFE
    # A schedule call (by its name, or a step keyword) fed something that can be a counter
    # attribute, and an attribute incremented somewhere (`.x += n` or `.x = y.x + n`, as
    # _incremented_somewhere).
    candidates = (Calls(lambda name: name != "step" and SCHEDULE_CALL.search(name) is not None,
                        where=lambda call: any(map(_maybe_counter, call.args)) or any(
                            _maybe_counter(kw.value) for kw in call.keywords
                            if kw.arg and (kw.arg in STEP_KEYWORDS or "step" in kw.arg)))
                  | Nodes(ast.keyword, where=lambda kw: kw.arg in STEP_KEYWORDS and _maybe_counter(kw.value))) & \
        Nodes(ast.AugAssign, ast.Assign, where=lambda node: _increments_attribute(node)) \
        | Calls(lambda name: name != "step" and SCHEDULE_CALL.search(name) is not None,
                where=lambda call: any(isinstance(a, ast.Name) and a.id in BATCH_INDEX_PARAMS
                                      for a in [*call.args, *(kw.value for kw in call.keywords)]))

    def __init__(self, ctx, options):
        super().__init__(ctx, options)
        self.candidates: list[Candidate] = []
        self._astroid = None
        self._increments: dict[str, bool] = {}

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
        if by_name and method.name.value in STEP_HOOKS:
            self._batch_index(node, args, method, self_name)
        for arg in args:
            found = self._counter_attr(arg.value, self_name)
            if found is None:
                continue
            target, attr = found
            if "global" in attr or not self._incremented_somewhere(attr):
                continue  # `self.global_step` is the trainer's step; no `+= 1`: not a counter
            step = self._global_step_in_scope(klass, attr, self_name)
            self.candidates.append(Candidate(node, target, attr, klass, method, step))

    def _batch_index(self, call: cst.Call, args: list[cst.Arg], method: cst.FunctionDef, self_name: str) -> None:
        """`kl_anneal(batch_idx, ...)` in a Lightning hook: the hook's batch-index parameter, which
        restarts every epoch, drives the schedule."""
        params = {p.name.value for p in method.params.params}
        for arg in args:
            value = arg.value
            if isinstance(value, cst.Name) and value.value in BATCH_INDEX_PARAMS and value.value in params \
                    and len(self.ctx.bindings().get(value.value, [])) <= 1:  # only the parameter binds it
                step = f"{self_name}.global_step"
                self.report(value, f"`{self.ctx.code(call.func)}` is driven by `{value.value}`, the batch index "
                                   "within the epoch, which restarts at 0 every epoch, so the schedule restarts "
                                   f"too; pass `{step}` (the training step across epochs) instead",
                            Fix(Applicability.UNSAFE, f"Drive the schedule by `{step}`",
                                (self.ctx.replace(value, step),)))

    def _incremented_somewhere(self, attr: str) -> bool:
        """Cheap text test before astroid: `.attr += <n>` or `.attr = <x>.attr + <n>` in the file."""
        if attr not in self._increments:
            pattern = rf"\.{re.escape(attr)}\s*(\+=|=\s*\w+\.{re.escape(attr)}\s*\+)"
            self._increments[attr] = re.search(pattern, self.ctx.source) is not None
        return self._increments[attr]

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
            finder = _GlobalStepReads()
            walk(functions[-1], finder)
            if finder.found:
                return finder.found[0]
        for base in klass.bases:
            if (dotted_name(base.value) or "").rsplit(".", 1)[-1] in LIGHTNING:
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
            counter = self._counter(cand)
            if counter is None:
                continue
            if cand.step is None and not loop_in_module and not counter.conditional:
                # A model component (nn.Module) whose training loop lives in another file: only a
                # counter ticking under a condition is clearly not the training clock.
                continue
            method = cand.method.name.value
            elsewhere = counter.increment_methods - {method}
            if not (counter.conditional or elsewhere):
                continue  # ticks on every call of the method that uses it: in step with training
            if not counter.conditional and counter.in_loop:
                continue  # ticks once per iteration of a loop, unconditionally: the training loop's clock
            how = "under a condition" if counter.conditional else f"in `{sorted(elsewhere)[0]}`"
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

    def _is_torch_module(self, klass: cst.ClassDef, depth: int = 0) -> bool:
        """An nn.Module subclass (directly, or through classes of this module)."""
        for base in klass.bases:
            name = self.ctx.qualified_name(base.value) or ""
            if name in TORCH_MODULES:
                return True
            if depth < 3 and isinstance(base.value, cst.Name):
                for stmt in self.ctx.module.body:
                    if isinstance(stmt, cst.ClassDef) and stmt.name.value == base.value.value and stmt is not klass:
                        if self._is_torch_module(stmt, depth + 1):
                            return True
        return False

    def _counter(self, cand: Candidate) -> Counter | None:
        """If `self.<attr>` of the class is a constant-initialised, incremented counter: where and how."""
        from astroid import nodes

        klass = self._astroid_class(cand)
        if klass is None:
            return None
        assigns, initialised = _assignments(klass, cand.attr)
        if not assigns:
            return None
        methods: set[str] = set()
        conditional = False
        in_loop = False
        for target in assigns:
            stmt = target.parent
            frame = target.frame()
            if isinstance(stmt, nodes.AugAssign):
                if stmt.op != "+=" or not _is_number(stmt.value):
                    return None
            elif isinstance(stmt, (nodes.Assign, nodes.AnnAssign)) and stmt.value is not None:
                if _is_number(stmt.value):
                    if getattr(frame, "name", "") == "__init__":
                        initialised = True
                    continue  # a reset to a constant
                if not _is_self_plus_number(stmt.value, cand.attr):
                    return None  # set from something else (maybe synced to the global step)
            else:
                return None  # tuple unpacking, deletion: not a simple counter
            methods.add(getattr(frame, "name", ""))
            state = _condition(stmt, frame)
            if state == "boundary":
                return None  # an optimizer-step counter under `if step % accum == 0`
            conditional = conditional or state == "conditional"
            in_loop = in_loop or _in_loop(stmt, frame)
        if not initialised or not methods:
            return None
        return Counter(methods, conditional, in_loop)

    def _astroid_class(self, cand: Candidate):
        from astroid import nodes

        if self._astroid is None:
            import astroid  # imported only for files with a candidate

            try:
                self._astroid = astroid.parse(self.ctx.source)
            except Exception:  # astroid cannot read it: no verdict rather than a guess
                self._astroid = False
        if self._astroid is False:
            return None
        same = [k for k in self._astroid.nodes_of_class(nodes.ClassDef) if k.name == cand.klass.name.value]
        if len(same) <= 1:
            return same[0] if same else None
        line = self.ctx.position(cand.klass.name).start.line  # several classes of that name: by line
        return min(same, key=lambda k: abs(k.lineno - line))


def _assignments(klass, attr: str) -> tuple[list, bool]:
    """Every `self.<attr> = / +=` in the class and its base classes defined in the same module,
    and whether a class body sets it to a constant. Bases are looked up by name, never inferred:
    inferring `nn.Module` would make astroid read all of PyTorch."""
    from astroid import nodes

    module = klass.root()
    assigns: list = []
    initialised = False
    todo, seen = [klass], set()
    while todo:
        cls = todo.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        assigns.extend(cls.instance_attrs.get(attr, ()))
        for name in cls.locals.get(attr, ()):
            if isinstance(name, nodes.AssignName) and _is_number(getattr(name.parent, "value", None)):
                initialised = True
        for base in cls.bases:
            if isinstance(base, nodes.Name):
                todo.extend(n for n in module.locals.get(base.name, ()) if isinstance(n, nodes.ClassDef))
    return assigns, initialised


class _GlobalStepReads(Visitor):
    def __init__(self):
        self.found: list[str] = []

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "global_step":
            name = dotted_name(node)
            if name is not None:
                self.found.append(name)


def _is_number(node) -> bool:
    from astroid import nodes

    return isinstance(node, nodes.Const) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _is_self_plus_number(value, attr: str) -> bool:
    """`self.x + 1` (either order)."""
    from astroid import nodes

    if not (isinstance(value, nodes.BinOp) and value.op == "+"):
        return False
    sides = (value.left, value.right)
    has_attr = any(isinstance(s, nodes.Attribute) and s.attrname == attr for s in sides)
    return has_attr and any(_is_number(s) for s in sides)


def _in_loop(stmt, frame) -> bool:
    from astroid import nodes

    node = stmt.parent
    while node is not None and node is not frame:
        if isinstance(node, (nodes.For, nodes.While)):
            return True
        node = node.parent
    return False


def _condition(stmt, frame) -> str:
    """'conditional' if an `if` guards the increment, 'boundary' if that `if` is a gradient
    accumulation boundary (`% accum`), else 'always' (`if self.training:` counts as always)."""
    from astroid import nodes

    state = "always"
    node = stmt
    while node is not None and node is not frame:
        parent = node.parent
        tests = []
        if isinstance(parent, (nodes.If, nodes.IfExp)) and node is not parent.test:
            tests.append(parent.test.as_string())
        elif isinstance(parent, nodes.ExceptHandler):
            state = "conditional"
        # a guard clause before it, `if batch is None: return`, makes it conditional too
        sibling = node.previous_sibling() if hasattr(node, "previous_sibling") else None
        while sibling is not None:
            if isinstance(sibling, nodes.If) and not sibling.orelse and sibling.body and \
                    isinstance(sibling.body[-1], (nodes.Return, nodes.Continue)):
                tests.append(sibling.test.as_string())
            sibling = sibling.previous_sibling()
        for test in tests:
            if "%" in test or "accum" in test.lower():
                return "boundary"
            if not re.fullmatch(r"\s*(not\s+)?self\.training\s*", test):
                state = "conditional"
        node = parent
    return state

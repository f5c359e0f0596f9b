"""ML102 clip-before-unscale: docs in rules/ML102-clip-before-unscale.md.

Order within one function (or module): a clip that comes after `scaler.scale(loss).backward()` and
before `scaler.step(opt)`, with no `unscale_` in between, clips gradients that are still multiplied
by the loss scale. Branches that exclude each other (`if use_amp: ... else: ...`) are told apart,
so the non-AMP branch of a training step is never matched with the AMP branch's backward.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import libcst as cst

from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls, leaves
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.analysis.gradients import is_gradient
from mllint.analysis.gradscaler import is_gradscaler, usage
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK, walk

_UTILS = ("torch.nn.utils.", "torch.nn.utils.clip_grad.")
CLIP_FUNCTIONS = {prefix + name for prefix in _UTILS
                  for name in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_")}
INPLACE_CLAMPS = ("clamp_", "clip_", "clamp_min_", "clamp_max_")
CLAMPS = ("clamp", "clip", "clamp_min", "clamp_max")
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_LOOPS = (cst.For, cst.While)


@dataclass
class _Event:
    kind: str  # backward, step, unscale
    index: int
    path: tuple[cst.CSTNode, ...]  # ancestors from the scope root down to the call
    scaler: str | None = None
    call: cst.Call | None = None


class _Timeline(Visitor):
    """Scaled backwards, scaler steps and unscales of one scope, in source order."""

    def __init__(self, root: cst.CSTNode, ctx: FileContext, unscaling_helpers: set[str]):
        self.root = root
        self.ctx = ctx
        self.helpers = unscaling_helpers
        self.stack: list[cst.CSTNode] = []
        self.index: dict[int, int] = {}
        self.events: list[_Event] = []
        # `X.scale(loss).backward()` / `scaled.backward()` -> X: the scope's usage knows them
        self.backward_scalers = usage(root, ctx).backward_scalers
        self.order: list[int] = []  # the events' call indexes (ascending): where a call falls

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if node is not self.root and isinstance(node, _SCOPES):
            return False
        if isinstance(node, cst.Call):
            self.index[id(node)] = len(self.index)
            self._classify(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None

    def _add(self, kind: str, node: cst.Call, scaler: str | None = None) -> None:
        self.events.append(_Event(kind, self.index[id(node)], tuple(self.stack), scaler, node))

    def _classify(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "backward":
                scaler = self.backward_scalers.get(node)
                if scaler is not None:
                    self._add("backward", node, scaler)
            elif method == "step":
                receiver = dotted_name(func.value)
                if receiver is not None:
                    self._add("step", node, receiver)
            elif method == "unscale_":
                self._add("unscale", node, dotted_name(func.value))
            elif isinstance(func.value, cst.Name) and func.value.value == "self" and method in self.helpers:
                self._add("unscale", node)  # self._unscale_and_clip(): a method that calls unscale_
        elif isinstance(func, cst.Name) and func.value in self.helpers:
            self._add("unscale", node)


def _exclusive(a: tuple[cst.CSTNode, ...], b: tuple[cst.CSTNode, ...]) -> bool:
    """True if the two paths lie in different branches of one `if` (never both run)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x is not y:
            parent = a[i - 1] if i else None
            return isinstance(parent, (cst.If, cst.IfExp)) and (x is not parent.test and y is not parent.test)
    return False


def _contains(path: tuple[cst.CSTNode, ...], node: cst.CSTNode) -> bool:
    return any(n is node for n in path)


def _pure(expr: cst.BaseExpression) -> bool:
    """An `if` test that can be repeated without side effects: names, attributes, not/and/or, compares."""
    if isinstance(expr, (cst.Name, cst.Integer, cst.SimpleString)):
        return True
    if isinstance(expr, cst.Attribute):
        return _pure(expr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return _pure(expr.expression)
    if isinstance(expr, cst.BooleanOperation):
        return _pure(expr.left) and _pure(expr.right)
    if isinstance(expr, cst.Comparison):
        return _pure(expr.left) and all(_pure(c.comparator) for c in expr.comparisons)
    return False


class _UnscaleFinder(Visitor):
    def __init__(self):
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "unscale_":
            self.found = True
        return not self.found


class _HelperBody(Visitor):
    """What a small helper function does: clip (torch.nn.utils), unscale_, or training-step calls."""

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.clips = False
        self.other = False  # unscale_, backward, step, scale: not a plain clipping helper

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualified_name(node.func) in CLIP_FUNCTIONS:
            self.clips = True
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in ("unscale_", "backward", "step", "scale"):
            self.other = True


def _functions(ctx: FileContext, owner: cst.CSTNode) -> dict[str, list[cst.FunctionDef]]:
    """The functions defined directly in a module's or class's body, by name (source order)."""
    body = owner.body if isinstance(owner, cst.Module) else owner.body.body
    out: dict[str, list[cst.FunctionDef]] = {}
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef):
            out.setdefault(stmt.name.value, []).append(stmt)
    return out


def _calls_unscale(ctx: FileContext, func: cst.FunctionDef) -> bool:
    finder = _UnscaleFinder()
    walk(func, finder)
    return finder.found


def _unscaling_helpers(ctx: FileContext, owner: cst.CSTNode) -> frozenset[str]:
    """Names of the functions in a module's or class's body that call `unscale_`."""
    return frozenset(name for name, funcs in ctx.memo.get(_functions, ctx, owner).items()
                     if any(ctx.memo.get(_calls_unscale, ctx, f) for f in funcs))


def _only_clips(ctx: FileContext, func: cst.FunctionDef) -> bool:
    """The function clips with torch.nn.utils and does no unscale_, backward or step of its own."""
    finder = _HelperBody(ctx)
    walk(func, finder)
    return finder.clips and not finder.other


def _timeline(ctx: FileContext, scope: cst.CSTNode) -> _Timeline:
    """The scope's timeline, once per scope (helpers: the class's and the module's functions)."""
    helpers: set[str] = set()
    cls = ctx.enclosing_class()
    if cls is not None:
        helpers |= ctx.memo.get(_unscaling_helpers, ctx, cls)
    if ctx.module is not None:
        helpers |= ctx.memo.get(_unscaling_helpers, ctx, ctx.module)
    timeline = _Timeline(scope, ctx, helpers)
    walk(scope, timeline)
    timeline.order = [e.index for e in timeline.events]
    return timeline


@register
class ClipBeforeUnscale(Rule):
    code = "ML102"
    name = "clip-before-unscale"
    summary = "Gradient clipping between scaler.scale(loss).backward() and scaler.step() without scaler.unscale_()."
    fix_applicability = Applicability.SAFE
    # a loss is scaled (`scaler.scale(loss)`) and something clips or clamps
    candidates = Calls("scale") & Calls(*leaves(CLIP_FUNCTIONS), *INPLACE_CLAMPS, *CLAMPS)

    # ---- what is a clip -------------------------------------------------------------------------
    def _is_clip(self, node: cst.Call) -> bool:
        ctx = self.ctx
        name = ctx.call_name(node)
        if name in CLIP_FUNCTIONS:
            return True  # model.clip_grad_norm_ (FSDP), engine/accelerator methods do not resolve here
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in INPLACE_CLAMPS:
            if name is not None and name.startswith("torch."):
                return bool(node.args) and is_gradient(node.args[0].value, ctx)  # torch.clamp_(p.grad, ...)
            return is_gradient(func.value, ctx)
        # p.grad = p.grad.clamp(-1, 1) / torch.clamp(p.grad, ...): clipping by assignment
        if isinstance(func, cst.Attribute) and func.attr.value in CLAMPS:
            parent = ctx.parent
            if isinstance(parent, cst.Assign) and parent.value is node and \
                    any(is_gradient(t.target, ctx) for t in parent.targets):
                if name in ("torch.clamp", "torch.clip"):
                    return bool(node.args) and is_gradient(node.args[0].value, ctx)
                return is_gradient(func.value, ctx)
        return False

    def _clip_helper(self, node: cst.Call) -> bool:
        """`self.clip_gradients()` / `clip_all(model)`: a method or function of this class/module whose
        body only clips with torch.nn.utils (no unscale_, backward or step of its own)."""
        func = node.func
        owner = None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            owner, name = self.ctx.enclosing_class(), func.attr.value
        elif isinstance(func, cst.Name) and self.ctx.module is not None:
            owner, name = self.ctx.module, func.value
        if owner is None:
            return False
        defined = self.ctx.memo.get(_functions, self.ctx, owner).get(name)
        # the last definition of the name is the one called
        return bool(defined) and self.ctx.memo.get(_only_clips, self.ctx, defined[-1])

    def visit_Call(self, node: cst.Call) -> None:
        helper = False
        if not self._is_clip(node):
            if not self._clip_helper(node):
                return
            helper = True
        ctx = self.ctx
        scope = ctx.scope()
        if isinstance(scope, cst.Lambda):
            return
        timeline = ctx.memo.get(_timeline, ctx, scope)
        where = timeline.index.get(id(node))
        if where is None:
            return
        start = next(i for i, n in enumerate(ctx.stack) if n is scope)
        path = tuple(ctx.stack[start:])
        # The events around the clip, nearest first, in branches that can run with it: back to
        # the scaled backward, then on to the scaler's next backward (not the whole timeline).
        events = timeline.events
        here = bisect.bisect_left(timeline.order, where)
        backward, unscaled = None, False
        for i in range(here - 1, -1, -1):
            e = events[i]
            WORK.units += 1
            if _exclusive(e.path, path):
                continue
            if e.kind == "backward":
                backward = e
                break
            unscaled = unscaled or e.kind == "unscale"
        if backward is None:
            return
        scaler = backward.scaler
        if not is_gradscaler(scaler, ctx, scope):
            return
        if unscaled:
            return  # already unscaled (also in the same branch, or by a helper method)
        steps: list[_Event] = []
        late_unscale = False  # an unscale_ after the clip, before the step
        for i in range(here, len(events)):
            e = events[i]
            WORK.units += 1
            if e.index <= where or _exclusive(e.path, path):
                continue
            if e.kind == "unscale" and not steps:
                late_unscale = True
            elif e.scaler == scaler and e.kind == "backward":
                break
            elif e.scaler == scaler and e.kind == "step":
                steps.append(e)
        if not steps:
            return
        optimizer = self._optimizer(steps)
        what = f"`{ctx.module.code_for_node(node.func)}()` clips gradients that are" if helper else \
            "gradient clipping runs on gradients"
        message = (f"{what} still multiplied by the loss scale of `{scaler}` "
                   f"(65536 by default), so the threshold is off by that factor; call "
                   f"`{scaler}.unscale_({optimizer or 'optimizer'})` before clipping")
        if late_unscale:
            message += " (move the existing `unscale_` call above the clip)"
        fix = None if late_unscale or optimizer is None else self._fix(path, backward, steps, scaler, optimizer)
        self.report(node, message, fix)

    # ---- the fix ------------------------------------------------------------------------------------
    def _optimizer(self, steps: list[_Event]) -> str | None:
        """The optimizer that `scaler.step` receives after the clip, if there is exactly one."""
        optimizers = set()
        for step in steps:
            arg = find_arg(step.call, "optimizer", 0)
            if arg is None or arg.star:
                return None
            optimizers.add(self.ctx.module.code_for_node(arg.value))
        if len(optimizers) != 1:
            return None  # several optimizers stepped after the clip: which one is unclear
        optimizer = optimizers.pop()
        return None if "\n" in optimizer else optimizer

    def _fix(self, path, backward: _Event, steps: list[_Event], scaler: str, optimizer: str) -> Fix | None:
        ctx = self.ctx
        statement = ctx.enclosing_statement()
        inline = None  # `if clip: clip_grad_norm_(...)`: the clip's small statement in a one-line suite
        if isinstance(statement, cst.BaseCompoundStatement) and isinstance(statement.body, cst.SimpleStatementSuite):
            inline = next((n for n in path if any(n is s for s in statement.body.body)), None)
            if inline is None:
                return None  # the clip sits in the header (`if clip(...) > 1:`)
        elif not isinstance(statement, cst.SimpleStatementLine):
            return None
        # A clip inside a loop that does not also step (e.g. over param groups) runs several times
        # per step; unscale_ must run once, so it goes before that loop.
        target = inline or statement
        for anc in path:
            if isinstance(anc, _LOOPS) and not any(_contains(s.path, anc) for s in steps):
                if _contains(backward.path, anc):
                    return None  # backward and clip repeat inside a loop that steps after it
                target = anc
                break
        target_path = path[: next(i for i, n in enumerate(path) if n is target)]
        text = f"{scaler}.unscale_({optimizer})"
        # A scaled backward under `if use_amp:` that does not also hold the clip: unscale under the
        # same condition, otherwise unscale_ would divide gradients that were never scaled.
        guards = [n for n in backward.path if isinstance(n, cst.If) and not _contains(target_path, n)]
        if target is inline:  # unscale_ joins the suite: `if clip: scaler.unscale_(opt); clip_grad_norm_(...)`
            if guards:
                return None
            start, _ = ctx.start_end(target)
            return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                       (Edit(start, start, f"{text}; "),))
        if guards:
            guard = guards[0]
            inner = backward.path[backward.path.index(guard) + 1]
            if len(guards) > 1 or inner is not guard.body or not _pure(guard.test):
                return None
            test = ctx.module.code_for_node(guard.test)
            if "\n" in test:
                return None
            if any(isinstance(n, cst.If) and ctx.module.code_for_node(n.test) == test and
                   path[path.index(n) + 1] is n.body for n in target_path):
                return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                           (ctx.insert_before_statement(target, text),))  # already under the same test
            start, _ = ctx.start_end(target)
            indent = ctx.line_text(start.row)[: start.column - 1]
            text = f"if {test}:{ctx.newline}{indent}{ctx.module.default_indent}{text}"
        return Fix(Applicability.SAFE, f"Insert `{scaler}.unscale_({optimizer})` before clipping",
                   (ctx.insert_before_statement(target, text),))

"""The mixed-precision order of one scope (ML102): its scaled backwards (`X.scale(loss).backward()`,
`scaled.backward()` through `gradscaler.usage`), its `X.step(...)` calls and its `unscale_` calls
(also a call of a method or function of the class or module that calls `unscale_`), in source
order, each with the ancestor path from the scope down to it, so that a node's place among them
(`AmpOrder.index`, by call order) and branches that exclude each other are answerable. Computed
once per scope; nested functions, classes and lambdas are their own scopes.

Also: which functions of a module or class body call `unscale_`, and which only clip gradients
(`clip_only`), each computed once per function.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mllint.analysis.timeline import CLIP_FUNCTIONS as _TIMELINE_CLIPS
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.analysis.gradscaler import usage
from mllint.engine.traversal import walk

# the timeline's clip functions and the lower-level `clip_grads_with_norm_`
CLIP_FUNCTIONS = _TIMELINE_CLIPS | {prefix + "clip_grads_with_norm_" for prefix in ("torch.nn.utils.",
                                                                                     "torch.nn.utils.clip_grad.")}
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


@dataclass
class AmpEvent:
    kind: str  # backward, step, unscale
    index: int
    path: tuple[cst.CSTNode, ...]  # ancestors from the scope root down to the call
    scaler: str | None = None
    call: cst.Call | None = None


class AmpOrder(Visitor):
    """Scaled backwards, scaler steps and unscales of one scope, in source order."""

    def __init__(self, root: cst.CSTNode, ctx: FileContext, unscaling_helpers: set[str]):
        self.root = root
        self.ctx = ctx
        self.helpers = unscaling_helpers
        self.stack: list[cst.CSTNode] = []
        self.index: dict[int, int] = {}
        self.events: list[AmpEvent] = []
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
        self.events.append(AmpEvent(kind, self.index[id(node)], tuple(self.stack), scaler, node))

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


def exclusive_paths(a: tuple[cst.CSTNode, ...], b: tuple[cst.CSTNode, ...]) -> bool:
    """True if the two paths lie in different branches of one `if` (never both run)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x is not y:
            parent = a[i - 1] if i else None
            return isinstance(parent, (cst.If, cst.IfExp)) and (x is not parent.test and y is not parent.test)
    return False


def path_contains(path: tuple[cst.CSTNode, ...], node: cst.CSTNode) -> bool:
    return any(n is node for n in path)


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


def body_functions(ctx: FileContext, owner: cst.CSTNode) -> dict[str, list[cst.FunctionDef]]:
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
    return frozenset(name for name, funcs in ctx.memo.get(body_functions, ctx, owner).items()
                     if any(ctx.memo.get(_calls_unscale, ctx, f) for f in funcs))


def _clip_only(ctx: FileContext, func: cst.FunctionDef) -> bool:
    """The function clips with torch.nn.utils and does no unscale_, backward or step of its own."""
    finder = _HelperBody(ctx)
    walk(func, finder)
    return finder.clips and not finder.other


def _amp_order(ctx: FileContext, scope: cst.CSTNode) -> AmpOrder:
    """The scope's timeline, once per scope (helpers: the class's and the module's functions)."""
    helpers: set[str] = set()
    cls = ctx.enclosing_class()
    if cls is not None:
        helpers |= ctx.memo.get(_unscaling_helpers, ctx, cls)
    if ctx.module is not None:
        helpers |= ctx.memo.get(_unscaling_helpers, ctx, ctx.module)
    order = AmpOrder(scope, ctx, helpers)
    walk(scope, order)
    order.order = [e.index for e in order.events]
    return order



def amp_order(ctx: FileContext, scope: cst.CSTNode) -> AmpOrder:
    """The scope's mixed-precision events (helpers: the enclosing class's and the module's functions
    that call `unscale_`); once per scope."""
    return ctx.memo.get(_amp_order, ctx, scope)


def clip_only(ctx: FileContext, owner: cst.CSTNode, name: str) -> bool:
    """The function `name` of a module or class body (its last definition) clips gradients with
    torch.nn.utils and does no unscale_, backward or step of its own."""
    defined = ctx.memo.get(body_functions, ctx, owner).get(name)
    return bool(defined) and ctx.memo.get(_clip_only, ctx, defined[-1])

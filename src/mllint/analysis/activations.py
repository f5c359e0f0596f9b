"""Which activation a value ends in: softmax, log-softmax, sigmoid, or a raw layer output
(logits), following the value through names, `self.<attr>`, module objects (`nn.Softmax`,
`nn.Sequential(...)` heads) and a model's `forward` — in this file, or in a file of the user's
project that defines the model's class (`analysis.project`). Unknown is None: the rules that use
this (ML804, ML805) only report what it can show.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mllint.analysis.bindings import MAX_DEPTH, Frame, value_of
from mllint.analysis.classes import class_kinds
from mllint.analysis import project
from mllint.engine.context import Visitor
from mllint.engine.traversal import walk

SOFTMAX, LOG_SOFTMAX, SIGMOID, RAW = "softmax", "log_softmax", "sigmoid", "raw"

FUNCTIONS = {
    "torch.softmax": SOFTMAX, "torch.nn.functional.softmax": SOFTMAX, "torch.special.softmax": SOFTMAX,
    "torch.log_softmax": LOG_SOFTMAX, "torch.nn.functional.log_softmax": LOG_SOFTMAX,
    "torch.special.log_softmax": LOG_SOFTMAX,
    "torch.sigmoid": SIGMOID, "torch.nn.functional.sigmoid": SIGMOID, "torch.special.expit": SIGMOID,
}
METHODS = {"softmax": SOFTMAX, "log_softmax": LOG_SOFTMAX, "sigmoid": SIGMOID}
LAYERS = {"torch.nn.Softmax": SOFTMAX, "torch.nn.LogSoftmax": LOG_SOFTMAX, "torch.nn.Sigmoid": SIGMOID,
          "torch.nn.Linear": RAW, "torch.nn.Bilinear": RAW, "torch.nn.LazyLinear": RAW,
          "torch.nn.Conv1d": RAW, "torch.nn.Conv2d": RAW, "torch.nn.Conv3d": RAW}
# Methods that keep a value's meaning (a probability stays one): `model(x).squeeze(1)`.
SHAPE_METHODS = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "float", "double", "contiguous",
                           "to", "cpu", "cuda", "type_as", "view_as", "reshape_as"})


@dataclass(frozen=True)
class Activation:
    kind: str  # SOFTMAX, LOG_SOFTMAX, SIGMOID or RAW
    node: cst.CSTNode  # where it happens
    path: str  # the file it is in
    line: int


def _found(kind: str, node: cst.CSTNode, ctx) -> Activation:
    return Activation(kind, node, ctx.path, ctx.position(node).start.line)


def activation(frame: Frame, expr: cst.BaseExpression, depth: int = 0) -> Activation | None:
    """The last operation `expr` is known to go through, else None."""
    if depth > MAX_DEPTH:
        return None
    frame, expr = value_of(frame, expr)
    ctx = frame.ctx
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    name = ctx.qualified_name(func)
    if name in FUNCTIONS:
        return _found(FUNCTIONS[name], expr, ctx)
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if method in METHODS and (name is None or not name.startswith(("torch.", "numpy."))):
            return _found(METHODS[method], expr, ctx)
        if method in SHAPE_METHODS:
            return activation(frame, func.value, depth + 1)
        if method == "forward":
            return _module_output(frame, func.value, depth + 1)
    return _module_output(frame, func, depth + 1)


def _module_output(frame: Frame, module: cst.BaseExpression, depth: int) -> Activation | None:
    """What calling the module object `module` returns."""
    if frame.is_self(module):
        if frame.func is not None and frame.func.name.value == "forward":
            return None  # recursion
        return forward_activation(frame.ctx, frame.cls, depth + 1)
    frame, value = value_of(frame, module)
    ctx = frame.ctx
    if not isinstance(value, cst.Call):
        return None
    name = ctx.qualified_name(value.func)
    if name in LAYERS:
        return _found(LAYERS[name], value, ctx)
    if name in ("torch.nn.Sequential",):
        layers = [a.value for a in value.args if a.keyword is None and not a.star]
        if layers and len(layers) == len(value.args):
            return _module_output(frame, layers[-1], depth + 1) if not isinstance(layers[-1], cst.Call) else \
                _layer(frame, layers[-1], depth + 1)
        return None
    return _layer(frame, value, depth)


def _layer(frame: Frame, construction: cst.Call, depth: int) -> Activation | None:
    """The output of a module built by `construction` (a call of a module class)."""
    ctx = frame.ctx
    name = ctx.qualified_name(construction.func)
    if name in LAYERS:
        return _found(LAYERS[name], construction, ctx)
    if name == "torch.nn.Sequential":
        return _module_output(frame, construction.func, depth)  # not reached: handled by the caller
    if name is None:
        return None
    kinds = class_kinds(ctx)
    for cls in kinds.modules:
        if cls.name.value == name:
            return forward_activation(ctx, cls, depth + 1)
    found = project.imported_class(ctx, construction.func)
    if found is not None:
        other, cls = found
        if class_kinds(other).is_module(cls):
            return forward_activation(other, cls, depth + 1)
    return None


class _Returns(Visitor):
    def __init__(self, root: cst.FunctionDef):
        self.root = root
        self.values: list[cst.BaseExpression | None] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and node is not self.root:
            return False
        if isinstance(node, cst.Return):
            self.values.append(node.value)
        return not isinstance(node, cst.BaseExpression)


def _returns(ctx, func: cst.FunctionDef) -> list[cst.BaseExpression | None]:
    finder = _Returns(func)
    walk(func, finder)
    return finder.values


def forward_activation(ctx, cls: cst.ClassDef | None, depth: int = 0) -> Activation | None:
    """The activation every `return` of the class's `forward` ends in (same-file bases followed)."""
    if cls is None or depth > MAX_DEPTH:
        return None
    forward = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "forward"), None)
    if forward is None:
        for base in cls.bases:
            parent = next((c for c in class_kinds(ctx).modules if c.name.value == (
                base.value.value if isinstance(base.value, cst.Name) else None)), None)
            if parent is not None:
                return forward_activation(ctx, parent, depth + 1)
        return None
    frame = Frame(ctx, forward, cls)
    found = None
    for value in ctx.memo.get(_returns, ctx, forward):
        if value is None:
            return None
        kind = activation(frame, value, depth + 1)
        if kind is None or (found is not None and found.kind != kind.kind):
            return None
        found = found or kind
    return found

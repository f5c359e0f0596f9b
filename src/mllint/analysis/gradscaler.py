"""Is this expression a GradScaler? Shared by the mixed-precision rules (ML102, ML104).

An object counts as a GradScaler when mllint can see it is one, never because it has a `.step`:
- it is bound to `torch.amp.GradScaler(...)` / `torch.cuda.amp.GradScaler(...)` (any class whose
  qualified name ends in `GradScaler`, e.g. FSDP's `ShardedGradScaler`), in the function, at module
  level, or as `self.<attr> = ...` in a method of the enclosing class; or a parameter annotated so;
- or it is used as one in the same function: `X.scale(loss).backward()` together with `X.step(...)`
  and `X.update()`, or `X.get_scale()` / `X.unscale_(...)`.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.classes import self_assignments
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.engine.traversal import walk

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def is_gradscaler_class(expr: cst.BaseExpression | None, ctx: FileContext) -> bool:
    name = ctx.qualified_name(expr)
    return name is not None and name.split(".")[-1].endswith("GradScaler")


def constructs_gradscaler(expr: cst.BaseExpression | None, ctx: FileContext) -> bool:
    """`GradScaler(...)`, also inside `GradScaler(...) if amp else None` and similar."""
    if expr is None:
        return False
    if isinstance(expr, cst.Call):
        return is_gradscaler_class(expr.func, ctx)
    if isinstance(expr, cst.IfExp):
        return constructs_gradscaler(expr.body, ctx) or constructs_gradscaler(expr.orelse, ctx)
    if isinstance(expr, cst.BooleanOperation):
        return constructs_gradscaler(expr.left, ctx) or constructs_gradscaler(expr.right, ctx)
    return False


def _annotation(ann: cst.Annotation | None) -> cst.BaseExpression | None:
    if ann is None:
        return None
    expr = ann.annotation
    if isinstance(expr, cst.SimpleString):
        try:
            return cst.parse_expression(expr.evaluated_value)
        except (cst.ParserSyntaxError, Exception):  # a string annotation that is not an expression
            return None
    if isinstance(expr, cst.Subscript):  # Optional[GradScaler]
        for el in expr.slice:
            if isinstance(el.slice, cst.Index):
                return el.slice.value
    if isinstance(expr, cst.BinaryOperation):  # GradScaler | None
        return expr.left
    return expr


def derives_from_gradscaler(cls: cst.ClassDef | None, ctx: FileContext) -> bool:
    """A class with a GradScaler among its bases (a library's subclass, not GradScaler's own code)."""
    return cls is not None and any(is_gradscaler_class(base.value, ctx) for base in cls.bases)


def is_gradscaler_subclass(cls: cst.ClassDef | None, ctx: FileContext) -> bool:
    """The GradScaler class itself or a class inheriting from one: its own code may use internals."""
    if cls is None:
        return False
    if cls.name.value.endswith("GradScaler"):
        return True
    return any(is_gradscaler_class(base.value, ctx) for base in cls.bases)


class _Usage(Visitor):
    """How each dotted receiver is used in one scope (nested functions and classes excluded)."""

    def __init__(self, root: cst.CSTNode):
        self.root = root
        self.methods: dict[str, set[str]] = {}  # receiver -> method names called on it
        self.scaled_backward: set[str] = set()  # receivers of X.scale(...).backward()
        self.backward_scalers: dict[cst.Call, str] = {}  # each scaled `.backward()` call -> X
        self.scaled_names: dict[str, str] = {}  # `scaled = X.scale(loss)` -> X

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is not self.root and isinstance(node, _SCOPES):
            return False
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            scaled = scale_receiver(node.value)
            if scaled is not None:
                self.scaled_names[node.targets[0].target.value] = scaled
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            receiver = dotted_name(node.func.value)
            if receiver is not None:
                self.methods.setdefault(receiver, set()).add(node.func.attr.value)
            scaled = None
            if node.func.attr.value == "backward":
                scaled = scale_receiver(node.func.value)
                if scaled is None and isinstance(node.func.value, cst.Name):
                    scaled = self.scaled_names.get(node.func.value.value)
            if scaled is not None:
                self.scaled_backward.add(scaled)
                self.backward_scalers[node] = scaled
        return True

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None


def scale_receiver(expr: cst.BaseExpression) -> str | None:
    """For `X.scale(...)`, the dotted text of X."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "scale":
        return dotted_name(expr.func.value)
    return None


def _usage(ctx: FileContext, scope: cst.CSTNode) -> _Usage:
    collector = _Usage(scope)
    walk(scope, collector)
    return collector


def usage(scope: cst.CSTNode, ctx: FileContext) -> _Usage:
    return ctx.memo.get(_usage, ctx, scope)


def used_as_gradscaler(receiver: str, scope: cst.CSTNode, ctx: FileContext) -> bool:
    use = usage(scope, ctx)
    methods = use.methods.get(receiver, set())
    if "get_scale" in methods or "unscale_" in methods:
        return True
    return receiver in use.scaled_backward and "step" in methods and "update" in methods


def bound_to_gradscaler(receiver: str, ctx: FileContext) -> bool:
    """`receiver` (a dotted name) is bound to a GradScaler in this function, the module or the class."""
    head, _, rest = receiver.partition(".")
    if not rest:
        scopes = [ctx.scope()]
        if ctx.module is not None and scopes[0] is not ctx.module:
            scopes.append(ctx.module)
        for scope in scopes:
            for b in ctx.bindings(scope).get(head, []):
                if b.kind in ("assign", "annassign", "walrus") and constructs_gradscaler(b.value, ctx):
                    return True
                if b.kind == "param" and isinstance(b.node, cst.Param) and \
                        is_gradscaler_class(_annotation(b.node.annotation), ctx):
                    return True
                if b.kind == "annassign" and isinstance(b.node, cst.AnnAssign) and \
                        is_gradscaler_class(_annotation(b.node.annotation), ctx):
                    return True
            if scope is not ctx.module and head in ctx.bindings(scope):
                return False  # a local name shadows the module's
        return False
    if head == "self" and "." not in rest:
        cls = ctx.enclosing_class()
        if cls is None:
            return False
        return any(a.value is not None and constructs_gradscaler(a.value, ctx)
                   for a in self_assignments(ctx, cls).get(rest, []))
    return False


def is_gradscaler(receiver: str | None, ctx: FileContext, scope: cst.CSTNode | None = None) -> bool:
    """Known to be a GradScaler, from its binding or its use in `scope` (default: current function)."""
    if receiver is None:
        return False
    scope = scope if scope is not None else ctx.scope()
    if bound_to_gradscaler(receiver, ctx):
        return True
    if used_as_gradscaler(receiver, scope, ctx):
        return True
    if receiver.startswith("self.") and receiver.count(".") == 1:
        cls = ctx.enclosing_class()
        if cls is not None:
            for stmt in cls.body.body:
                if isinstance(stmt, cst.FunctionDef) and used_as_gradscaler(receiver, stmt, ctx):
                    return True
    return False

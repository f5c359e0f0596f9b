"""ML204 target-update-tracks-grad: docs in rules/ML204-target-update-tracks-grad.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.timeline import under_no_grad
from mllint.analysis.edits import wrap_in_block
from mllint.engine.candidates import Calls, Nodes, callee
from mllint.engine.context import Visitor, dotted_name
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import walk

# In-place tensor methods a Polyak/hard update writes the target with.
IN_PLACE = {"copy_", "mul_", "add_", "lerp_", "addcmul_", "sub_", "div_", "set_"}
PARAMETER_LISTS = {"parameters", "named_parameters", "buffers", "named_buffers", "values"}
# Reading through these does not record the read in the graph.
UNTRACKED = {"data", "detach", "detach_"}


def _pair_names(target: cst.BaseExpression) -> list[str] | None:
    """`for tp, p in zip(...)` -> [tp, p]; `for (n1, tp), (n2, p) in zip(a.named_parameters(), ...)`."""
    if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != 2:
        return None
    names = []
    for element in target.elements:
        value = element.value
        if isinstance(value, (cst.Tuple, cst.List)) and value.elements:
            value = value.elements[-1].value
        if not isinstance(value, cst.Name):
            return None
        names.append(value.value)
    return names


def _root(expr: cst.BaseExpression) -> tuple[str | None, bool]:
    """The name at the root of a receiver chain (`tp.mul_(d).add_` -> tp) and whether the chain
    passes through `.data`/`.detach()`; None for any other attribute (`p.grad.copy_` writes the
    gradient, not the parameter)."""
    untracked = False
    while True:
        if isinstance(expr, cst.Call):
            expr = expr.func
        elif isinstance(expr, cst.Attribute):
            if expr.attr.value not in UNTRACKED and expr.attr.value not in IN_PLACE:
                return None, untracked
            untracked = untracked or expr.attr.value in UNTRACKED
            expr = expr.value
        elif isinstance(expr, cst.Name):
            return expr.value, untracked
        else:
            return None, untracked


def _parameter_list(expr: cst.BaseExpression) -> bool:
    """`model.parameters()`, `list(target.named_parameters())`, `net.state_dict().values()`."""
    while isinstance(expr, cst.Call) and dotted_name(expr.func) in ("list", "tuple") and expr.args:
        expr = expr.args[0].value
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
        expr.func.attr.value in PARAMETER_LISTS


def _zip_over_parameters(it: ast.AST) -> bool:
    """The candidates' side of visit_For (CPython's AST): `zip(...)` with a parameter list."""
    if type(it) is not ast.Call or callee(it) not in ("zip", "zip_strict"):
        return False
    for arg in it.args:
        while type(arg) is ast.Call and callee(arg) in ("list", "tuple") and arg.args:
            arg = arg.args[0]
        if type(arg) is ast.Call and type(arg.func) is ast.Attribute and arg.func.attr in PARAMETER_LISTS:
            return True
    return False


def _ast_pair_target(target: ast.AST) -> bool:
    """`_pair_names(...) is not None` on CPython's AST."""
    if type(target) not in (ast.Tuple, ast.List) or len(target.elts) != 2:
        return False
    for value in target.elts:
        value = value.value if type(value) is ast.Starred else value
        if type(value) in (ast.Tuple, ast.List) and value.elts:
            value = value.elts[-1]
            value = value.value if type(value) is ast.Starred else value
        if type(value) is not ast.Name:
            return False
    return True


def _in_place_call_in(body: list[ast.stmt]) -> bool:
    """An in-place method call (`tp.mul_(...)`) somewhere in the loop's body (what _InPlaceUpdates looks for)."""
    return any(type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in IN_PLACE
               for stmt in body for node in ast.walk(stmt))


class _TrackedReads(Visitor):
    """Bare reads of one name (not through `.data`/`.detach()`)."""

    def __init__(self, name: str):
        self.name = name
        self.found = False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if isinstance(node.value, cst.Name) and node.value.value == self.name and node.attr.value in UNTRACKED:
            return False
        return True

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.found = True


class _InPlaceUpdates(Visitor):
    def __init__(self, names: list[str]):
        self.names = names
        self.found: list[tuple[cst.Call, str, str]] = []  # (call, target, trained)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in IN_PLACE:
            return
        root, untracked = _root(func.value)
        if root not in self.names or untracked:
            return
        other = self.names[1] if root == self.names[0] else self.names[0]
        reads = _TrackedReads(other)
        for arg in node.args:
            walk(arg.value, reads)
        if reads.found:
            self.found.append((node, root, other))


@register
class TargetUpdateTracksGrad(Rule):
    code = "ML204"
    name = "target-update-tracks-grad"
    summary = "A Polyak/EMA target update reads the trained parameters with autograd on."
    fix_applicability = Applicability.SAFE
    candidates = Calls(*IN_PLACE) & Nodes(ast.For, where=lambda loop: _zip_over_parameters(loop.iter)
                                          and _ast_pair_target(loop.target) and _in_place_call_in(loop.body))

    def visit_For(self, node: cst.For) -> None:
        it = node.iter
        if not isinstance(it, cst.Call) or (dotted_name(it.func) or "").rsplit(".", 1)[-1] not in ("zip", "zip_strict"):
            return
        names = _pair_names(node.target)
        if names is None or len(it.args) < 2 or not any(_parameter_list(arg.value) for arg in it.args):
            return  # not parameters of a model (an optimizer's own tensor lists, say)
        updates = _InPlaceUpdates(names)
        walk(node.body, updates)
        if not updates.found or under_no_grad(self.ctx):
            return
        call, target, trained = updates.found[0]
        torch = self._torch() or "torch"
        message = (f"`{self.ctx.code(call)}` updates `{target}` from `{trained}` with autograd on: the update is "
                   f"recorded in the graph (the target gets a `grad_fn`, keeps every step's graph alive and is "
                   f"trained through the loss; a leaf that requires grad raises instead); wrap the update loop in "
                   f"`with {torch}.no_grad():`")
        self.report(call, message, self._fix(node))

    def _torch(self) -> str | None:
        """The file's name for the torch module (`torch`, `th`, `T`), if it imports it."""
        return next((local for local, full in self.ctx.imports.items() if full == "torch"), None)

    def _fix(self, loop: cst.For) -> Fix | None:
        torch = self._torch()
        edit = wrap_in_block(self.ctx, loop, f"with {torch}.no_grad()") if torch is not None else None
        if edit is None:
            return None
        return Fix(Applicability.SAFE, f"Wrap the update loop in `with {torch}.no_grad():`", (edit,))

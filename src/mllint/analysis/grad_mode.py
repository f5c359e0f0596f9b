"""Gradient-mode regions of one file: `with torch.no_grad():` / `torch.inference_mode()` /
`torch.set_grad_enabled(False)` blocks and functions decorated with `@torch.no_grad()` (or
`inference_mode`). Kept small and general (a set of regions and the helpers called inside them)
so that a fuller training-step timeline can absorb it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.names import imported_name
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

NO_GRAD_CALLS = {"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                 "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode"}


def is_no_grad(imports: dict[str, str], expr: cst.BaseExpression) -> bool:
    """`torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)` (also the
    decorator forms without a call: `@torch.no_grad`)."""
    call = expr if isinstance(expr, cst.Call) else None
    name = imported_name(imports, call.func if call is not None else expr)
    if name in NO_GRAD_CALLS:
        return True
    return name == "torch.set_grad_enabled" and call is not None and bool(call.args) and \
        isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "False"


@dataclass
class NoGradFacts:
    regions: set[cst.CSTNode] = field(default_factory=set)  # With blocks and decorated functions
    called_inside: set[str] = field(default_factory=set)  # last names of functions called in a region
    calls_inside: set[cst.Call] = field(default_factory=set)  # every call written inside a region


class _Regions(Visitor):
    def __init__(self, imports: dict[str, str]):
        self.imports = imports
        self.facts = NoGradFacts()
        self.depth = 0

    def _opens(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.With):
            return any(is_no_grad(self.imports, item.item) for item in node.items)
        if isinstance(node, cst.FunctionDef):
            return any(is_no_grad(self.imports, d.decorator) for d in node.decorators)
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._opens(node):
            self.facts.regions.add(node)
            self.depth += 1
        elif self.depth and isinstance(node, cst.Call):
            self.facts.calls_inside.add(node)
            callee = dotted_name(node.func)
            if callee is not None:
                self.facts.called_inside.add(callee.rsplit(".", 1)[-1])
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self._opens(original_node):
            self.depth -= 1


def _no_grad_facts(ctx: FileContext, module: cst.Module) -> NoGradFacts:
    collector = _Regions(ctx.imports)
    walk(module, collector)
    return collector.facts


def no_grad_facts(ctx: FileContext) -> NoGradFacts:
    """The file's no-grad regions and the functions called inside them (computed once per file)."""
    if ctx.module is None:
        return NoGradFacts()
    return ctx.memo.get(_no_grad_facts, ctx, ctx.module)


def under_no_grad(ctx: FileContext) -> bool:
    """Is the node being visited inside a no-grad region: a `with` around it, a decorator on an
    enclosing function, or an enclosing function that the file calls inside a no-grad region?"""
    regions = no_grad_facts(ctx)
    for node in ctx.ancestors():
        if isinstance(node, (cst.With, cst.FunctionDef)) and node in regions.regions:
            return True
        if isinstance(node, cst.FunctionDef) and node.name.value in regions.called_inside:
            return True
    return False

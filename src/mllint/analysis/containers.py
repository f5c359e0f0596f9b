"""Containers of a class: what its methods put into lists and dicts held by `self.<attr>` (or by
locals), and which calls may register them (ML402: modules in a plain container)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.names import callee_leaf
from mllint.engine.context import Visitor
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

# Calls that fill a container, and calls that register modules whatever holds them.
FILL_METHODS = ("append", "insert", "extend")
REGISTERING_METHODS = frozenset({"add_module", "register_module", "setattr"})


def _self_attr(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
        return expr.attr.value
    return None


CONTAINERS = (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)


class ContainerUses(Visitor):
    """One walk over a class: what fills its containers and what registers them."""

    def __init__(self, root: cst.ClassDef):
        self.root = root
        self.registers_otherwise = False  # add_module / register_module / setattr(self, ...)
        self.wrapped: set[str] = set()  # self.<attr> passed to a call that may register it
        self.fills: dict[str, list[tuple[cst.BaseExpression, cst.BaseExpression | None]]] = {}  # attr -> (value, key)
        self.local_fills: dict[tuple[int, str], list[tuple[cst.BaseExpression, cst.BaseExpression | None]]] = {}
        self.method: cst.FunctionDef | None = None

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return node is self.root

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.method is None:
            self.method = node

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        if original_node is self.method:
            self.method = None

    def visit_Call(self, node: cst.Call) -> None:
        self._call(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Subscript) and len(t.slice) == 1 and isinstance(t.slice[0].slice, cst.Index):
                self._fill(t.value, node.value, t.slice[0].slice.value)

    def _fill(self, receiver: cst.BaseExpression, value: cst.BaseExpression, key: cst.BaseExpression | None) -> None:
        attr = _self_attr(receiver)
        if attr is not None:
            self.fills.setdefault(attr, []).append((value, key))
        elif isinstance(receiver, cst.Name) and self.method is not None:
            self.local_fills.setdefault((id(self.method), receiver.value), []).append((value, key))

    def _call(self, node: cst.Call) -> None:
        leaf = callee_leaf(node)
        if leaf in REGISTERING_METHODS:
            self.registers_otherwise = True
            return
        func = node.func
        if leaf in FILL_METHODS and isinstance(func, cst.Attribute) and node.args:
            value = node.args[-1].value
            if leaf == "extend" and isinstance(value, (cst.List, cst.Tuple, cst.ListComp)):
                items = [value.elt] if isinstance(value, cst.ListComp) else [e.value for e in value.elements]
                for item in items:
                    self._fill(func.value, item, None)
            elif leaf != "extend":
                self._fill(func.value, value, None)
            return
        # any other call given `self.<attr>` (or `*self.<attr>`, `self.<attr>.values()`) may wrap it
        for arg in node.args:
            value = arg.value
            while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and not value.args:
                value = value.func.value  # self.heads.values()
            attr = _self_attr(value)
            if attr is not None and leaf[:1].isupper():
                self.wrapped.add(attr)


def _container_uses(ctx: FileContext, cls: cst.ClassDef) -> ContainerUses:
    uses = ContainerUses(cls)
    walk(cls, uses)
    return uses


def container_uses(ctx: FileContext, cls: cst.ClassDef) -> ContainerUses:
    """How the class's methods fill containers (`self.<attr>` and locals, by `append`/`insert`/
    `extend` and item assignment), pass `self.<attr>` to constructors that may wrap it, or register
    modules otherwise (`add_module`, `register_module`, `setattr`); once per class."""
    return ctx.memo.get(_container_uses, ctx, cls)

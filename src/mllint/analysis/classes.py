"""Classes and methods: the method (and class) around the node being visited, and the
`self.<attr>` assignments of a class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from mllint.context import Visitor
from mllint.traversal import walk

if TYPE_CHECKING:
    from mllint.context import FileContext


def enclosing_method(ctx: FileContext) -> tuple[cst.FunctionDef | None, cst.ClassDef | None]:
    """(method, class): the innermost function around the current node that is defined directly
    in a class body, and that class; (None, None) outside methods. A function nested inside a
    method gives the method."""
    stack = ctx.stack
    for i in range(len(stack) - 1, 1, -1):
        if isinstance(stack[i], cst.FunctionDef) and isinstance(stack[i - 2], cst.ClassDef):
            return stack[i], stack[i - 2]  # type: ignore[return-value]
    return None, None


def first_param(func: cst.FunctionDef | None) -> str | None:
    """The name of the first positional parameter (`self` of a method), if any."""
    if func is None:
        return None
    params = (*func.params.posonly_params, *func.params.params)
    return params[0].name.value if params else None


@dataclass(frozen=True)
class SelfAssignment:
    """`self.<attr> = value` or `self.<attr>: T [= value]` in a method of a class."""

    attr: str
    target: cst.Attribute
    value: cst.BaseExpression | None  # None for a bare annotation
    method: cst.FunctionDef | None  # the method (function directly in the class body) holding it


class _SelfAssignments(Visitor):
    def __init__(self, root: cst.ClassDef):
        self.root = root
        self.method: cst.FunctionDef | None = None
        self.depth = 0
        self.found: dict[str, list[SelfAssignment]] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ClassDef) and node is not self.root:
            return False  # `self` in a nested class is another object
        if isinstance(node, cst.FunctionDef):
            self.depth += 1
            if self.depth == 1:
                self.method = node
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                self._add(target.target, node.value)
        elif isinstance(node, cst.AnnAssign):
            self._add(node.target, node.value)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.FunctionDef):
            self.depth -= 1
            if self.depth == 0:
                self.method = None

    def _add(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
            attr = target.attr.value
            self.found.setdefault(attr, []).append(SelfAssignment(attr, target, value, self.method))


def _self_assignments(ctx: FileContext, cls: cst.ClassDef) -> dict[str, list[SelfAssignment]]:
    collector = _SelfAssignments(cls)
    walk(cls, collector)
    return collector.found


def self_assignments(ctx: FileContext, cls: cst.ClassDef) -> dict[str, list[SelfAssignment]]:
    """attr -> the `self.<attr>` assignments in the class's methods, in source order (nested
    classes excluded); computed once per class."""
    return ctx.memo.get(_self_assignments, ctx, cls)

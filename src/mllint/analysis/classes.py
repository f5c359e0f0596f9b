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


# ---- Dataset classes --------------------------------------------------------------------------

DATASET_BASES = {"torch.utils.data.Dataset", "torch.utils.data.IterableDataset",
                 "torch.utils.data.dataset.Dataset", "torch.utils.data.dataset.IterableDataset"}
# Methods a DataLoader worker calls for every sample (or batch): where per-worker state matters.
SAMPLE_METHODS = ("__getitem__", "__getitems__", "__iter__", "__next__")


def _dataset_classes(ctx: FileContext, module: cst.Module) -> dict[cst.ClassDef, str]:
    """class -> the torch base it derives from, for every class of the file that subclasses
    `Dataset`/`IterableDataset` directly or through other classes of the file (any nesting),
    and for `torchvision.datasets` classes."""
    from mllint.analysis.names import imported_name

    classes: list[cst.ClassDef] = []

    class _Classes(Visitor):
        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            classes.append(node)

    walk(module, _Classes())
    by_name = {cls.name.value: cls for cls in classes}
    found: dict[cst.ClassDef, str] = {}
    changed = True
    while changed:  # a class of the file deriving from one found already (few classes, few rounds)
        changed = False
        for cls in classes:
            if cls in found:
                continue
            for base in cls.bases:
                name = imported_name(ctx.imports, base.value)
                if name in DATASET_BASES or (name or "").startswith("torchvision.datasets."):
                    found[cls] = name
                elif name in by_name and by_name[name] in found:
                    found[cls] = found[by_name[name]]
                else:
                    continue
                changed = True
                break
    return found


def dataset_classes(ctx: FileContext) -> dict[cst.ClassDef, str]:
    """The file's `Dataset`/`IterableDataset` subclasses (class -> torch base); computed once."""
    if ctx.module is None:
        return {}
    return ctx.memo.get(_dataset_classes, ctx, ctx.module)


def methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    """The functions defined directly in the class body, by name (the last definition wins)."""
    return {stmt.name.value: stmt for stmt in cls.body.body if isinstance(stmt, cst.FunctionDef)}


class _SelfUse(Visitor):
    """`self.<attr>` reads and `self.<method>(...)` calls in one method (nested classes skipped)."""

    def __init__(self, root: cst.FunctionDef, receiver: str):
        self.root = root
        self.receiver = receiver
        self.reads: dict[str, cst.Attribute] = {}
        self.calls: set[str] = set()
        self.writes: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ClassDef):
            return False
        if isinstance(node, cst.AssignTarget):
            self.writes.add(id(node.target))
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                isinstance(node.func.value, cst.Name) and node.func.value.value == self.receiver:
            self.calls.add(node.func.attr.value)
        elif isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and \
                node.value.value == self.receiver and id(node) not in self.writes:
            self.reads.setdefault(node.attr.value, node)
        return True


def _per_sample_reads(ctx: FileContext, cls: cst.ClassDef) -> dict[str, cst.Attribute]:
    by_name = methods(cls)
    reads: dict[str, cst.Attribute] = {}
    todo = [name for name in SAMPLE_METHODS if name in by_name]
    seen = set(todo)
    while todo:
        method = by_name[todo.pop()]
        use = _SelfUse(method, first_param(method) or "self")
        walk(method, use)
        for attr, node in use.reads.items():
            reads.setdefault(attr, node)
        for called in use.calls:
            if called in by_name and called not in seen and called != "__init__":
                seen.add(called)
                todo.append(called)
    return reads


def per_sample_reads(ctx: FileContext, cls: cst.ClassDef) -> dict[str, cst.Attribute]:
    """attr -> first `self.<attr>` read in the class's per-sample methods (`__getitem__`,
    `__iter__`, ...) and in the methods of the class they call through `self.<method>(...)`."""
    return ctx.memo.get(_per_sample_reads, ctx, cls)

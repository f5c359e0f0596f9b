"""Classes and methods: the method (and class) around the node being visited, and the
`self.<attr>` assignments of a class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.frameworks import LIGHTNING_MODULES
from mllint.analysis.project import imported_class
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import TypeTest, walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext


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

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return node is self.root  # `self` in a nested class is another object

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1
        if self.depth == 1:
            self.method = node

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.method = None

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._add(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._add(node.target, node.value)

    def _add(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            # `self.a, self.b = Net(), Head()`: each element its value; an opaque unpacking an unknown one
            same = isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements) and \
                not any(isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements))
            for i, element in enumerate(target.elements):
                self._add(element.value, value.elements[i].value if same else None)
            return
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


@dataclass(frozen=True)
class AttributeWrite:
    """A statement of a class's methods that binds `self.<attr>`, with where it sits.

    `kind` is "assign", "annassign" or "augassign" for `self.x = v`, `self.x: T [= v]`, `self.x op= v`
    (`value` and, for augassign, `operator` set), else "other" (`self.a, self.b = ...`, `for self.i
    in ...`, `with ... as self.x`). `function` is the innermost function around it (a nested helper
    of a method gives the helper); `path` the nodes from that function (excluded) down to the
    statement (excluded), so that the branches, loops and handlers around it are known."""

    attr: str
    kind: str
    node: cst.CSTNode
    value: cst.BaseExpression | None
    operator: cst.BaseAugOp | None
    function: cst.FunctionDef | cst.Lambda | None
    path: tuple[cst.CSTNode, ...]


class _AttributeWrites(Visitor):
    def __init__(self, root: cst.ClassDef):
        self.root = root
        self.stack: list[cst.CSTNode] = []
        self.functions: list[int] = []  # stack indexes of the functions around the node
        self.receiver = "self"
        self.found: dict[str, list[AttributeWrite]] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ClassDef) and node is not self.root:
            return False  # `self` in a nested class is another object
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            if not self.functions and isinstance(node, cst.FunctionDef):
                self.receiver = first_param(node) or "self"
            self.functions.append(len(self.stack))
        elif self.functions:
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    self._target(node, target.target, "assign", node.value)
            elif isinstance(node, cst.AnnAssign):
                self._target(node, node.target, "annassign", node.value)
            elif isinstance(node, cst.AugAssign):
                self._target(node, node.target, "augassign", node.value, node.operator)
            elif isinstance(node, (cst.For, cst.CompFor)):
                self._target(node, node.target, "other", None)
            elif isinstance(node, cst.WithItem) and node.asname is not None:
                self._target(node, node.asname.name, "other", None)
        self.stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()
        if self.functions and self.functions[-1] == len(self.stack):
            self.functions.pop()

    def _target(self, node, target, kind, value, operator=None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(node, element.value, "other", None)
            return
        if isinstance(target, cst.StarredElement):
            target = target.value
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and \
                target.value.value == self.receiver:
            start = self.functions[-1]
            write = AttributeWrite(target.attr.value, kind, node, value, operator, self.stack[start],  # type: ignore[arg-type]
                                   tuple(self.stack[start + 1:]))
            self.found.setdefault(write.attr, []).append(write)


def _attribute_writes(ctx: FileContext, cls: cst.ClassDef) -> dict[str, list[AttributeWrite]]:
    collector = _AttributeWrites(cls)
    walk(cls, collector)
    return collector.found


def attribute_writes(ctx: FileContext, cls: cst.ClassDef) -> dict[str, list[AttributeWrite]]:
    """attr -> every statement of the class's methods (nested functions included, nested classes
    not) that binds `self.<attr>` (the methods' first parameter), in source order; once per class."""
    return ctx.memo.get(_attribute_writes, ctx, cls)


def _module_classes(ctx: FileContext, _key: None) -> dict[str, list[cst.ClassDef]]:
    out: dict[str, list[cst.ClassDef]] = {}
    todo = list(ctx.module.body) if ctx.module is not None else []
    while todo:  # module-level statements, also inside `if`/`try`/`with` blocks (not functions)
        stmt = todo.pop(0)
        if isinstance(stmt, cst.ClassDef):
            out.setdefault(stmt.name.value, []).append(stmt)
        elif isinstance(stmt, cst.BaseCompoundStatement) and not isinstance(stmt, cst.FunctionDef):
            orelse = getattr(stmt, "orelse", None)
            if isinstance(orelse, cst.If):
                todo.append(orelse)  # elif
            for block in (stmt, orelse, getattr(stmt, "finalbody", None), *getattr(stmt, "handlers", ())):
                body = getattr(block, "body", None)
                if isinstance(body, cst.BaseSuite) and isinstance(body.body, (list, tuple)):
                    todo.extend(s for s in body.body if isinstance(s, cst.BaseCompoundStatement))
    return out


def module_classes(ctx: FileContext) -> dict[str, list[cst.ClassDef]]:
    """name -> the classes defined at module level (not in functions or classes), in source order."""
    return ctx.memo.get(_module_classes, ctx, None)


def same_file_lineage(ctx: FileContext, cls: cst.ClassDef) -> list[cst.ClassDef]:
    """The class and the classes of this file it derives from, through base names (`class B(A)`
    with `A` a module-level class of the file), nearest first; looked up by name, never inferred."""
    classes = module_classes(ctx)
    out: list[cst.ClassDef] = []
    todo = [cls]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in out):
            continue
        out.append(current)
        for base in current.bases:
            if isinstance(base.value, cst.Name):
                todo.extend(classes.get(base.value.value, ()))
    return out


MAX_BASE_FILES = 4  # other project files followed up one class's bases


def project_lineage(ctx: FileContext, cls: cst.ClassDef) -> list[tuple[FileContext, cst.ClassDef]]:
    """`same_file_lineage`, continued into the user's project: a base imported with `from <module>
    import <Base>` from a project file is read there (`analysis.project`: parsed, never imported,
    noted for the cache), with its own bases, up to MAX_BASE_FILES files; nearest first. Each
    class comes with the context of the file that defines it."""
    return ctx.memo.get(_project_lineage, ctx, cls)


def _project_lineage(ctx: FileContext, cls: cst.ClassDef) -> list[tuple[FileContext, cst.ClassDef]]:
    out = [(ctx, klass) for klass in same_file_lineage(ctx, cls)]
    files, i = 0, 0
    while i < len(out) and files < MAX_BASE_FILES:
        here, klass = out[i]
        i += 1
        for base in klass.bases:
            if not isinstance(base.value, cst.Name) or module_classes(here).get(base.value.value):
                continue
            found = imported_class(here, base.value)
            if found is not None and not any(found[1] is seen for _, seen in out):
                files += 1
                out += [(found[0], inherited) for inherited in same_file_lineage(*found)]
    return out


# Base classes whose subclasses are torch modules (qualified names, through any import alias).
MODULE_BASES = frozenset({
    "torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.Sequential", "torch.nn.ModuleList",
}) | LIGHTNING_MODULES
DATASET_BASES = frozenset({
    "torch.utils.data.Dataset", "torch.utils.data.IterableDataset", "torch.utils.data.dataset.Dataset",
    "torch.utils.data.dataset.IterableDataset",
})


@dataclass(frozen=True)
class ClassKinds:
    """Which classes of a file are `nn.Module` (Lightning included) or `Dataset` subclasses:
    through import aliases, module-level aliases (`Base = nn.Module`) and bases defined in the
    same file (in any order). Classes whose bases come from elsewhere are neither (unknown)."""

    modules: frozenset[cst.ClassDef]
    datasets: dict[cst.ClassDef, str]  # class -> the torch (or torchvision) dataset base it derives from

    def is_module(self, cls: cst.ClassDef | None) -> bool:
        return cls is not None and cls in self.modules

    def is_dataset(self, cls: cst.ClassDef | None) -> bool:
        return cls is not None and cls in self.datasets


_HOLDS_NO_CLASS = TypeTest(cst.BaseExpression, cst.Decorator, cst.Param)


class _Classes(Visitor):
    def __init__(self) -> None:
        self.classes: list[cst.ClassDef] = []
        self.aliases: dict[str, cst.BaseExpression] = {}  # module-level `Name = <dotted name>`
        self.depth = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind is cst.ClassDef:
            self.classes.append(node)
        elif kind is cst.Assign and self.depth == 0 and len(node.targets) == 1 and \
                type(node.targets[0].target) is cst.Name and dotted_name(node.value) is not None:
            self.aliases[node.targets[0].target.value] = node.value
        elif kind is cst.FunctionDef or kind is cst.Lambda:
            self.depth += 1
        # only statements and class/function bodies hold classes: skip expressions
        return not _HOLDS_NO_CLASS[kind]

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        if kind is cst.FunctionDef or kind is cst.Lambda:
            self.depth -= 1


def _class_kinds(ctx: FileContext, _key: None) -> ClassKinds:
    collector = _Classes()
    if ctx.module is not None:
        walk(ctx.module, collector)
    by_name: dict[str, list[cst.ClassDef]] = {}
    for cls in collector.classes:
        by_name.setdefault(cls.name.value, []).append(cls)

    def resolve(expr: cst.BaseExpression, seen: frozenset[str] = frozenset()) -> str | None:
        dotted = dotted_name(expr)
        if dotted in collector.aliases and dotted not in seen:
            return resolve(collector.aliases[dotted], seen | {dotted})
        head = (dotted or "").split(".")[0]
        full = f"{ctx.imports[head]}{dotted[len(head):]}" if head in ctx.imports else dotted
        return full

    def kinds_of(is_root) -> dict[cst.ClassDef, str]:
        found: dict[cst.ClassDef, str] = {}  # class -> the root base it derives from
        changed = True
        while changed:  # bases defined later in the file, chains of same-file bases
            changed = False
            for cls in collector.classes:
                if cls in found:
                    continue
                for base in cls.bases:
                    name = resolve(base.value) or ""
                    root = name if is_root(name) else next(
                        (found[c] for c in by_name.get(name, ()) if c in found), None)
                    if root is not None:
                        found[cls] = root
                        changed = True
                        break
        return found

    return ClassKinds(frozenset(kinds_of(MODULE_BASES.__contains__)),
                      kinds_of(lambda name: name in DATASET_BASES or name.startswith("torchvision.datasets.")))


def class_kinds(ctx: FileContext) -> ClassKinds:
    """The file's `nn.Module` and `Dataset` subclasses; computed once per file."""
    return ctx.memo.get(_class_kinds, ctx, None)


# Methods a DataLoader worker calls for every sample (or batch): where per-worker state matters.
SAMPLE_METHODS = ("__getitem__", "__getitems__", "__iter__", "__next__")


def dataset_classes(ctx: FileContext) -> dict[cst.ClassDef, str]:
    """The file's `Dataset`/`IterableDataset` (and `torchvision.datasets`) subclasses, class ->
    the base it derives from; computed once per file (class_kinds)."""
    return class_kinds(ctx).datasets


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

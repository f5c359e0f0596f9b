"""Read-only walks over LibCST trees, in exactly LibCST's own order, without rebuilding nodes:
the engine's one traversal with every rule (`Dispatcher`), and the rules' own sub-walks (`walk`).

LibCST's `node.visit(visitor)` rebuilds every node on its way back up, even for a visitor that
changes nothing; for mllint, which only reads, that is most of the cost of a traversal. `walk`
calls the hooks LibCST's `on_visit` / `on_leave` would (`visit_<Node>` / `leave_<Node>`, with
`visit_<Node>` returning False to skip the children, or the visitor's own `on_visit` / `on_leave`)
in the same order, looked up once per (visitor class, node type). The per-attribute hooks
(`visit_<Node>_<attr>`) are not called: mllint never defines them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from typing import TYPE_CHECKING, Callable

import libcst as cst

if TYPE_CHECKING:
    from mllint.engine.context import FileContext
    from mllint.engine.rule import Rule

_VISIT_HELPERS = frozenset({"visit_required", "visit_optional", "visit_sentinel", "visit_iterable", "visit_sequence",
                            "visit_body_iterable", "visit_body_sequence"})
_CHILD_FIELDS: dict[type, tuple[str, ...] | None] = {}


class TypeTest(dict):
    """`test[type(node)]` is `isinstance(node, bases)`, asked once per type. LibCST's node classes
    are ABCs: every `isinstance` against one goes through ABCMeta, which made it the largest single
    cost of the walks; visitors that look at every node use this (or exact `type(node) is ...`)."""

    def __init__(self, *bases: type):
        super().__init__()
        self.bases = bases

    def __missing__(self, kind: type) -> bool:
        self[kind] = result = issubclass(kind, self.bases)
        return result


_IS_NODE = TypeTest(cst.CSTNode)


def child_fields(node_type: type) -> tuple[str, ...] | None:
    """The fields holding a node type's children, in the order LibCST's own traversal visits them:
    the field names its `_visit_and_replace_children` passes to the visit_* helpers, in source
    (= evaluation) order. None if that cannot be read off; the walk then asks LibCST (`children`)."""
    if node_type in _CHILD_FIELDS:
        return _CHILD_FIELDS[node_type]
    import inspect
    import textwrap

    fields: list[str] | None = []
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(node_type._visit_and_replace_children)))
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                        and n.func.id in _VISIT_HELPERS), key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            name = call.args[1] if len(call.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                fields = None
                break
            if name.value not in fields:  # `a if ... else b` visits one field either way
                fields.append(name.value)
    except Exception:  # no source (a compiled LibCST, say): LibCST's own order, one level at a time
        fields = None
    result = tuple(fields) if fields is not None else None
    _CHILD_FIELDS[node_type] = result
    return result


class WorkCounter:
    """Units of analysis work done in this process: nodes visited by `walk` (the rules' and the
    analysis layer's sub-walks; not the engine's one dispatch walk), plus the entries that
    `mllint.analysis` queries scan. Tests read it to check that costs grow linearly with the file;
    unread, it costs one integer increment per node."""

    __slots__ = ("units",)

    def __init__(self) -> None:
        self.units = 0


WORK = WorkCounter()


# per visitor class: node type -> (visit hook or None, leave hook or None, child fields)
_WALK_PLANS: dict[type, dict[type, tuple[Callable | None, Callable | None, tuple[str, ...] | None]]] = {}


def _walk_plan(visitor_type: type, node_type: type) -> tuple[Callable | None, Callable | None, tuple[str, ...] | None]:
    """The hooks `on_visit` / `on_leave` would call for this node type, looked up once per
    (visitor class, node type) instead of by name for every node. A visitor that overrides
    `on_visit` or `on_leave` gets that override, called for every node."""
    name = node_type.__name__
    if visitor_type.on_visit is not cst.CSTVisitor.on_visit:
        visit = visitor_type.on_visit
    else:
        visit = getattr(visitor_type, f"visit_{name}", None)
    if visitor_type.on_leave is not cst.CSTVisitor.on_leave:
        leave = visitor_type.on_leave
    else:
        leave = getattr(visitor_type, f"leave_{name}", None)
    plan = (visit, leave, child_fields(node_type))
    _WALK_PLANS.setdefault(visitor_type, {})[node_type] = plan
    return plan


def walk(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """`node.visit(visitor)` for a visitor that only reads: the same hooks in the same order
    (`visit_<Node>` returning False skips the children)."""
    visitor_type = type(visitor)
    plans = _WALK_PLANS.setdefault(visitor_type, {})
    work = WORK
    is_node = _IS_NODE

    def go(node: cst.CSTNode) -> None:
        work.units += 1
        plan = plans.get(type(node)) or _walk_plan(visitor_type, type(node))
        visit, leave, fields = plan
        if visit is None or visit(visitor, node) is not False:
            if fields is None:
                for child in node.children:
                    go(child)
            else:
                for field_name in fields:
                    child = getattr(node, field_name)
                    kind = type(child)
                    if is_node[kind]:
                        go(child)
                    elif kind is tuple or kind is list:
                        for item in child:
                            go(item)
        if leave is not None:
            leave(visitor, node)

    go(node)


class _Numbering(cst.CSTVisitor):
    def __init__(self) -> None:
        self.spans: dict[int, tuple[int, int]] = {}
        self.firsts: list[int] = []
        self.count = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.firsts.append(self.count)
        self.count += 1
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.spans[id(original_node)] = (self.firsts.pop(), self.count - 1)


def preorder_spans(root: cst.CSTNode) -> dict[int, tuple[int, int]]:
    """id(node) -> (its number in a pre-order walk from `root`, the number of its last
    descendant), for every node under `root`."""
    numbering = _Numbering()
    walk(root, numbering)
    return numbering.spans


class Dispatcher:
    """Walks the module once and calls each rule's visit_<Node>/leave_<Node> methods.

    `run` walks the tree itself, in exactly LibCST's order (see child_fields; a test compares
    the two), without LibCST rebuilding every node on the way up, which is what CSTNode.visit does
    even for read-only visitors.
    """

    def __init__(self, ctx: FileContext, rules: list[Rule], on_error: Callable[[Rule, BaseException], None]):
        self.ctx = ctx
        self.on_error = on_error
        self.visits: dict[str, list[tuple[Rule, Callable]]] = defaultdict(list)
        self.leaves: dict[str, list[tuple[Rule, Callable]]] = defaultdict(list)
        self.broken: set[int] = set()
        for rule in rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self.visits[attr[6:]].append((rule, getattr(rule, attr)))
                elif attr.startswith("leave_"):
                    self.leaves[attr[6:]].append((rule, getattr(rule, attr)))
        # per node type: (visit handlers, leave handlers, child fields, is an import)
        self._plans: dict[type, tuple[list, list, tuple[str, ...] | None, bool]] = {}

    def _plan(self, node_type: type) -> tuple[list, list, tuple[str, ...] | None, bool]:
        name = node_type.__name__
        plan = (self.visits.get(name, []), self.leaves.get(name, []), child_fields(node_type),
                issubclass(node_type, (cst.Import, cst.ImportFrom)))
        self._plans[node_type] = plan
        return plan

    def _run(self, handlers, node) -> None:
        for rule, fn in handlers:
            if id(rule) in self.broken:
                continue
            try:
                fn(node)
            except Exception as exc:  # one rule's bug must not stop the others
                self.broken.add(id(rule))
                self.on_error(rule, exc)

    def run(self, module: cst.Module) -> None:
        self._walk(module)

    def _walk(self, node: cst.CSTNode) -> None:
        plan = self._plans.get(type(node)) or self._plan(type(node))
        visits, leaves, fields, is_import = plan
        self.ctx.stack.append(node)
        if is_import and len(self.ctx.stack) > 3:
            self.ctx.record_import(node)  # function-local imports
        if visits:
            self._run(visits, node)
        if fields is None:
            for child in node.children:
                self._walk(child)
        else:
            walk = self._walk
            for field_name in fields:
                child = getattr(node, field_name)
                kind = type(child)
                if _IS_NODE[kind]:
                    walk(child)
                elif kind is tuple or kind is list:
                    for item in child:
                        walk(item)
        if leaves:
            self._run(leaves, node)
        self.ctx.stack.pop()

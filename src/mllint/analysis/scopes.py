"""Per-scope indexes, each built in one walk of the module and then queried per candidate in
O(1)/O(k), so that no rule walks a whole scope again for every candidate it checks.

A "scope" here is the module, a function or a lambda (what `FileContext.scope()` returns); a
scope's subtree includes the functions, lambdas and classes nested in it, as a rule's own
`walk(scope, ...)` would.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable

import libcst as cst

from mllint.engine.context import FileContext, Visitor
from mllint.engine.traversal import WORK, walk


# Exact node types (CSTNode is an ABC: `type(node) in a set` is much cheaper than isinstance).
_SCOPES_AND_MODULE = frozenset({cst.Module, cst.FunctionDef, cst.Lambda})
_FUNCTIONS_AND_MODULE = frozenset({cst.Module, cst.FunctionDef})
_STATEMENTS = frozenset({cst.SimpleStatementLine} | {kind for kind in vars(cst).values() if isinstance(kind, type)
                                                     and issubclass(kind, cst.BaseCompoundStatement)})


@dataclass(frozen=True)
class KeyIndex:
    """A rule's vocabulary for `subtree_keys`: `extract(node, ctx)` gives the keys that one node
    of the given (exact) types contributes, e.g. the names it tests."""

    types: frozenset[type]
    extract: Callable[[cst.CSTNode, FileContext], Iterable[Hashable]]


class _SubtreeKeys(Visitor):
    def __init__(self, ctx: FileContext, spec: KeyIndex):
        self.ctx = ctx
        self.spec = spec
        self.open: list[set] = []  # the key sets of the scopes around the current node
        self.keys: dict[cst.CSTNode, set] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind in _SCOPES_AND_MODULE:
            self.open.append(self.keys.setdefault(node, set()))
        if kind in self.spec.types:
            for key in self.spec.extract(node, self.ctx):
                for keys in self.open:
                    keys.add(key)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if type(original_node) in _SCOPES_AND_MODULE:
            self.open.pop()


def _subtree_keys(ctx: FileContext, spec: KeyIndex) -> dict[cst.CSTNode, set]:
    index = _SubtreeKeys(ctx, spec)
    if ctx.module is not None:
        walk(ctx.module, index)
    return index.keys


def subtree_keys(ctx: FileContext, spec: KeyIndex, scope: cst.CSTNode) -> set:
    """The keys that `spec` yields for any node in `scope`'s subtree (nested scopes included).

    The whole module is walked once per spec and file; each query is a lookup.
    """
    WORK.units += 1
    return ctx.memo.get(_subtree_keys, ctx, spec).get(scope, set())


class NameUses:
    """The innermost statements that mention one name in one scope's subtree, in source order."""

    __slots__ = ("statements", "rows", "_suffixes")

    def __init__(self) -> None:
        self.statements: list[cst.CSTNode] = []
        self.rows: list[int] = []  # start row of each statement (filled on the first query)
        self._suffixes: dict[Callable, list[bool]] = {}

    def _first_below(self, ctx: FileContext, row: int) -> int:
        if len(self.rows) != len(self.statements):
            self.rows = [ctx.start_end(stmt)[0].row for stmt in self.statements]
            WORK.units += len(self.rows)
        WORK.units += 1
        return bisect.bisect_right(self.rows, row)

    def after(self, ctx: FileContext, row: int) -> list[cst.CSTNode]:
        """The statements that start below `row`."""
        start = self._first_below(ctx, row)
        WORK.units += len(self.statements) - start
        return self.statements[start:]

    def any_after(self, ctx: FileContext, row: int, predicate: Callable[[FileContext, cst.CSTNode], bool]) -> bool:
        """Does `predicate` hold for a statement that starts below `row`? Each statement is tested
        once per predicate, whatever the number of queries."""
        suffix = self._suffixes.get(predicate)
        if suffix is None:
            suffix = [False] * (len(self.statements) + 1)
            for i in range(len(self.statements) - 1, -1, -1):
                suffix[i] = suffix[i + 1] or predicate(ctx, self.statements[i])
            WORK.units += len(self.statements)
            self._suffixes[predicate] = suffix
        return suffix[self._first_below(ctx, row)]


class _NameStatements(Visitor):
    def __init__(self) -> None:
        self.open: list[dict[str, NameUses]] = []
        self.statements: list[cst.CSTNode] = []
        self.uses: dict[cst.CSTNode, dict[str, NameUses]] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        if type(node) in _FUNCTIONS_AND_MODULE:
            self.open.append(self.uses.setdefault(node, {}))
        if type(node) in _STATEMENTS:
            self.statements.append(node)
        elif type(node) is cst.Name and self.statements:
            stmt = self.statements[-1]
            for uses in self.open:
                found = uses.get(node.value)
                if found is None:
                    found = uses[node.value] = NameUses()
                if not found.statements or found.statements[-1] is not stmt:
                    found.statements.append(stmt)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if type(original_node) in _STATEMENTS:
            self.statements.pop()
        if type(original_node) in _FUNCTIONS_AND_MODULE:
            self.open.pop()


def _name_statements(ctx: FileContext, module: cst.Module) -> dict[cst.CSTNode, dict[str, NameUses]]:
    index = _NameStatements()
    walk(module, index)
    return index.uses


_NO_USES = NameUses()


def name_uses(ctx: FileContext, scope: cst.CSTNode, name: str) -> NameUses:
    """The statements of `scope` (the module or a function, nested code included) that mention
    `name` as a Name (also as the last part of an attribute: `self.returns`)."""
    if ctx.module is None:
        return _NO_USES
    WORK.units += 1
    return ctx.memo.get(_name_statements, ctx, ctx.module).get(scope, {}).get(name, _NO_USES)


def _following(ctx: FileContext, parent: cst.CSTNode) -> dict[cst.CSTNode, cst.CSTNode | None]:
    body = getattr(parent, "body", None)
    if not isinstance(body, (list, tuple)):
        return {}
    return {stmt: (body[i + 1] if i + 1 < len(body) else None) for i, stmt in enumerate(body)}


def next_statement(ctx: FileContext, parent: cst.CSTNode, stmt: cst.CSTNode) -> cst.CSTNode | None:
    """The statement after `stmt` in `parent`'s body (a block or the module), or None."""
    WORK.units += 1
    return ctx.memo.get(_following, ctx, parent).get(stmt)


# ---- the simple statements of a block, and what one statement reads -------------------------------
class _Statements(Visitor):
    """Simple statements of a subtree (with their paths), nested functions and classes skipped."""

    def __init__(self) -> None:
        self.stack: list[cst.CSTNode] = []
        self.found: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            return False
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            self.found.append((node, tuple(self.stack)))
            return False
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _simple_statements(ctx: FileContext, root: cst.CSTNode) -> tuple[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]], ...]:
    collector = _Statements()
    walk(root, collector)
    return tuple(collector.found)


def simple_statements(ctx: FileContext, root: cst.CSTNode) -> tuple[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]], ...]:
    """The simple statement lines (and one-line suites) under `root` (a loop, a block), in source
    order, each with its path from `root` down to it; nested functions and classes are skipped.
    Once per root."""
    return ctx.memo.get(_simple_statements, ctx, root)


class Reads(Visitor):
    """Names read in a statement (attribute names and keyword names are not reads) and its calls."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.calls: list[cst.Call] = []

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        walk(node.value, self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        walk(node.value, self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _reads(ctx: FileContext, node: cst.CSTNode) -> Reads:
    reads = Reads()
    walk(node, reads)
    return reads


def reads(ctx: FileContext, node: cst.CSTNode) -> Reads:
    """The names `node` reads and the calls it makes (nested code included); once per node."""
    return ctx.memo.get(_reads, ctx, node)


def target_names(target: cst.BaseExpression) -> list[str]:
    """The names an assignment target binds: `x`, `(a, [b, *c])` -> a, b, c; attributes and
    subscripts bind none."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        out: list[str] = []
        for el in target.elements:
            out += target_names(el.value)
        return out
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return []

"""Per-file state that rules read: names through imports, enclosing nodes, bindings, positions.

Everything here is cheap or lazy. The import table is built from the module's import statements
(no LibCST metadata providers); positions are resolved once, and only for files that report
something; bindings are collected only for the function a rule has singled out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import libcst as cst
from libcst._nodes.internal import CodegenState

from mllint.diagnostics import Diagnostic, Edit, Fix, Location, line_starts, location_at
from mllint.engine.memo import Memo
from mllint.engine.positions import Positions
from mllint.engine.traversal import preorder_spans, walk

if TYPE_CHECKING:
    from mllint.engine.rule import Rule

_FUNC_NODES = (cst.FunctionDef, cst.Lambda)


@dataclass(frozen=True)
class Binding:
    """One place where a name gets a value inside a scope.

    kind: assign, augassign, annassign, unpack (tuple target; `index` says which element),
    for (loop target; `value` is the iterable), with, walrus, param, comp (comprehension target).
    """

    name: str
    kind: str
    value: cst.BaseExpression | None
    node: cst.CSTNode
    index: int | None = None


class Visitor(cst.CSTVisitor):
    """A CSTVisitor without LibCST's per-attribute callbacks (visit_<Node>_<attr>), which mllint
    never uses: the base class for the rules' own sub-visitors (much cheaper on large subtrees)."""

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None


class _BindingCollector(cst.CSTVisitor):
    """Collects the bindings of one scope without descending into nested scopes."""

    def __init__(self, root: cst.CSTNode):
        self.root = root
        self.bindings: dict[str, list[Binding]] = {}

    def _add(self, target: cst.BaseExpression, kind: str, value, node, index=None):
        if isinstance(target, cst.Name):
            self.bindings.setdefault(target.value, []).append(Binding(target.value, kind, value, node, index))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, el in enumerate(target.elements):
                inner = el.value
                sub_kind = kind if kind in ("for", "comp") else "unpack"
                self._add(inner, sub_kind, value, node, i if index is None else index)
        elif isinstance(target, cst.StarredElement):
            self._add(target.value, kind, value, node, index)

    # (per-type hooks: the walk looks each up once per node type)
    def _scope(self, node: cst.CSTNode) -> bool:
        return node is self.root  # a nested scope's names are its own

    visit_FunctionDef = visit_Lambda = visit_ClassDef = _scope

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._add(t.target, "assign", node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._add(node.target, "annassign", node.value, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._add(node.target, "augassign", node.value, node)

    def visit_For(self, node: cst.For) -> None:
        self._add(node.target, "for", node.iter, node)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._add(node.target, "comp", node.iter, node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._add(node.asname.name, "with", node.item, node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._add(node.target, "walrus", node.value, node)

    def visit_Param(self, node: cst.Param) -> None:
        self._add(node.name, "param", node.default, node)


def dotted_name(expr: cst.CSTNode | None) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


def _import_target_name(node: cst.BaseExpression) -> str:
    return dotted_name(node) or ""


class FileContext:
    """What the engine knows about the file being linted; shared by every rule on that file."""

    def __init__(self, path: str, source: str, kind: str = "python", module: cst.Module | None = None,
                 project: Any = None):
        self.path = path
        self.source = source
        self.kind = kind
        self.module = module
        self.project = project  # cross-file state (the linted roots, config), or None
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[str] = []  # one-line notes for the user (a config that cannot be read)
        self.stack: list[cst.CSTNode] = []  # ancestors of the node being visited, itself last
        self.imports: dict[str, str] = {}  # local name -> fully qualified name
        self._positions = None
        self._bindings: dict[int, dict[str, list[Binding]]] = {}
        self._order: dict[int, tuple[int, int]] | None = None
        self._line_starts: list[int] | None = None
        self.memo = Memo()  # facts derived from this file (mllint.analysis), each computed once
        if module is not None:
            self._collect_module_imports(module.body)

    # ---- imports and names ------------------------------------------------------------------
    def _collect_module_imports(self, body) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        self.record_import(small)
            elif isinstance(stmt, (cst.If, cst.Try, cst.With)):
                # `try: import torch` / `if TYPE_CHECKING:` blocks at module level
                self._collect_module_imports(stmt.body.body)
                for extra in getattr(stmt, "handlers", ()):
                    self._collect_module_imports(extra.body.body)
                orelse = getattr(stmt, "orelse", None)
                if orelse is not None and hasattr(orelse, "body"):
                    inner = orelse.body
                    self._collect_module_imports(inner.body if hasattr(inner, "body") else [orelse])

    def record_import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _import_target_name(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.imports[alias.asname.name.value] = full
                else:
                    top = full.split(".")[0]
                    self.imports.setdefault(top, top)
        else:
            if node.relative or node.module is None:
                base = ""
            else:
                base = _import_target_name(node.module)
            if isinstance(node.names, cst.ImportStar):
                return
            for alias in node.names:
                name = _import_target_name(alias.name)
                local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
                self.imports[local] = f"{base}.{name}" if base else name

    def is_local_name(self, name: str) -> bool:
        """True if `name` is a parameter of an enclosing function (so it is not the import)."""
        for node in reversed(self.stack):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                params = node.params
                for p in (*params.posonly_params, *params.params, *params.kwonly_params):
                    if p.name.value == name:
                        return True
                for p in (params.star_arg, params.star_kwarg):
                    if isinstance(p, cst.Param) and p.name.value == name:
                        return True
        return False

    def qualified_name(self, expr: cst.CSTNode | None) -> str | None:
        """The fully qualified name of a Name/Attribute chain, resolved through imports.

        `T.nan_to_num` with `import torch as T` -> `torch.nan_to_num`; `nn.Parameter` with
        `from torch import nn` -> `torch.nn.Parameter`. A name that is not imported comes back
        as written; a name shadowed by a function parameter comes back as None.
        """
        dotted = dotted_name(expr)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.imports:
            if self.is_local_name(head):
                return None
            full = self.imports[head]
            return f"{full}.{rest}" if rest else full
        return dotted

    def call_name(self, call: cst.Call) -> str | None:
        return self.qualified_name(call.func)

    # ---- structure ----------------------------------------------------------------------------
    @property
    def node(self) -> cst.CSTNode:
        return self.stack[-1]

    @property
    def parent(self) -> cst.CSTNode | None:
        return self.stack[-2] if len(self.stack) > 1 else None

    def ancestors(self) -> Iterator[cst.CSTNode]:
        """Ancestors of the node being visited, nearest first (excluding the node itself)."""
        return reversed(self.stack[:-1])

    def enclosing(self, *types: type) -> cst.CSTNode | None:
        for node in self.ancestors():
            if isinstance(node, types):
                return node
        return None

    def enclosing_function(self) -> cst.FunctionDef | None:
        return self.enclosing(cst.FunctionDef)  # type: ignore[return-value]

    def enclosing_class(self) -> cst.ClassDef | None:
        """The class whose body (directly or inside a method) holds the current node."""
        return self.enclosing(cst.ClassDef)  # type: ignore[return-value]

    def enclosing_statement(self) -> cst.CSTNode | None:
        return self.enclosing(cst.SimpleStatementLine, cst.BaseCompoundStatement)

    def scope(self) -> cst.CSTNode:
        """The innermost function (or lambda) around the current node, else the module."""
        return self.enclosing(*_FUNC_NODES) or self.module  # type: ignore[return-value]

    def bindings(self, scope: cst.CSTNode | None = None) -> dict[str, list[Binding]]:
        """name -> bindings inside `scope` (default: the current function, else the module)."""
        scope = scope if scope is not None else self.scope()
        key = id(scope)
        if key not in self._bindings:
            collector = _BindingCollector(scope)
            walk(scope, collector)
            self._bindings[key] = collector.bindings
        return self._bindings[key]

    def order(self, node: cst.CSTNode) -> tuple[int, int]:
        """(first, last): the node's number in a pre-order walk of the module, and the number of
        its last descendant. `a` precedes `b` in the source when order(a)[0] < order(b)[0], and
        `a` ends before `b` starts when order(a)[1] < order(b)[0]: what rules that only compare
        places ask, at a fraction of the cost of positions (one walk, no code generation)."""
        if self._order is None:
            self._order = preorder_spans(self.module)
        return self._order[id(node)]

    # ---- positions, code and edits ------------------------------------------------------------
    def position(self, node: cst.CSTNode):
        """The node's syntactic range as a LibCST CodeRange (same ranges as PositionProvider)."""
        if self._positions is None:
            self._positions = Positions(self.module, self.line_starts(), self.source)
        return self._positions[node]

    @property
    def exact_positions(self) -> bool:
        """False when LibCST's text of the module could not be mapped onto the source: positions
        are then approximate, and no fix is offered (its edits could land in the wrong place)."""
        return self._positions is None or self._positions.exact

    def start_end(self, node: cst.CSTNode) -> tuple[Location, Location]:
        rng = self.position(node)
        return Location(rng.start.line, rng.start.column + 1), Location(rng.end.line, rng.end.column + 1)

    def code(self, node: cst.CSTNode) -> str:
        """Source for `node` as it would print at the current position (block indentation kept,
        so multi-line calls inside functions stay indented)."""
        state = CodegenState(default_indent=self.module.default_indent, default_newline=self.module.default_newline)
        for anc in self.stack:
            if isinstance(anc, cst.IndentedBlock):
                state.indent_tokens.append(self.module.default_indent if anc.indent is None else anc.indent)
        node._codegen(state)
        return "".join(state.tokens)

    def replace(self, old: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        start, end = self.start_end(old)
        content = new if isinstance(new, str) else self.code(new)
        return Edit(start, end, content, old=self._positions.text(old))

    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = line_starts(self.source)
        return self._line_starts

    def location_at(self, offset: int) -> Location:
        """The Location of a character offset in the source (for parsers that count rows their
        own way, such as PyYAML, which also breaks lines at U+2028: use its marks' `index`)."""
        return location_at(self.line_starts(), offset)

    def line_text(self, row: int) -> str:
        starts = self.line_starts()
        begin = starts[row - 1]
        end = starts[row] if row < len(starts) else len(self.source)
        return self.source[begin:end].rstrip("\r\n")

    @property
    def newline(self) -> str:
        if self.module is not None:
            return self.module.default_newline
        return "\r\n" if "\r\n" in self.source else "\n"

    def insert_before_statement(self, stmt: cst.CSTNode, text: str) -> Edit:
        """An edit that puts `text` on its own line just above `stmt`, at the same indentation."""
        start, _ = self.start_end(stmt)
        indent = self.line_text(start.row)[: start.column - 1]
        return Edit(start, start, f"{text}{self.newline}{indent}")

    # ---- reporting ----------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def report_syntax_error(self, message: str, row: int, column: int) -> None:
        """ML000 for a file (YAML, shell, notebook) that a rule could not parse; reported once."""
        if any(d.code == "ML000" for d in self.diagnostics):
            return
        loc = Location(max(row, 1), max(column, 1))
        self.diagnostics.append(Diagnostic(code="ML000", name="syntax-error", message=message, path=self.path,
                                           start=loc, end=loc, noqa_row=None))

    def report(self, rule: Rule, node: cst.CSTNode | None, message: str, fix: Fix | None = None,
               *, start: Location | None = None, end: Location | None = None) -> None:
        if node is not None:
            start, end = self.start_end(node)
        assert start is not None and end is not None
        if fix is not None and not self.exact_positions:
            fix = None
        self.diagnostics.append(
            Diagnostic(code=rule.code, name=rule.name, message=message, path=self.path,
                       start=start, end=end, fix=fix, noqa_row=start.row)
        )



"""Forward data flow of one name inside one scope: the names derived from it (assigned from an
expression that mentions it, or bound by a `for` loop over it) and whether any of them reaches a
regression loss (`F.mse_loss(v, x)`, `(v - x) ** 2`, `x.pow(2)`): what a value head is trained with.

Built on `scopes.name_uses` (one walk per file); each statement's facts are computed once.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.names import leaf_name
from mllint.analysis.scopes import name_uses
from mllint.engine.context import FileContext, Visitor
from mllint.engine.traversal import WORK, walk

# Regression losses by their last name, lower-cased (`F.mse_loss`, `nn.MSELoss()(...)`, an instance
# `self.MseLoss(...)`, `self.huber(...)`).
REGRESSION_LOSSES = frozenset({"mse_loss", "mseloss", "mse", "smooth_l1_loss", "smoothl1loss", "l1_loss", "l1loss",
                               "huber_loss", "huberloss", "huber", "mean_squared_error"})
_MAX_NAMES = 24  # names followed at once along one chain (a function rarely has more)


class _Names(Visitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _names(node: cst.CSTNode) -> set[str]:
    finder = _Names()
    walk(node, finder)
    return finder.names


class _RegressionOperands(Visitor):
    """The names inside regression-loss calls and squares of one statement."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        leaf = leaf_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if leaf is None and isinstance(func, cst.Call):  # nn.MSELoss()(v, x)
            leaf = leaf_name(func.func)
        if leaf is not None and leaf.lower() in REGRESSION_LOSSES:
            for arg in node.args:
                self.names |= _names(arg.value)
        elif isinstance(func, cst.Attribute) and func.attr.value in ("pow", "square") \
                and (func.attr.value == "square" or _is_two(node.args[0].value if node.args else None)):
            self.names |= _names(func.value)
        elif leaf in ("square",) and node.args:  # torch.square(x)
            self.names |= _names(node.args[0].value)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Power) and _is_two(node.right):
            self.names |= _names(node.left)


def _is_two(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, (cst.Integer, cst.Float)) and expr.value in ("2", "2.0", "2.")


def regression_operands(ctx: FileContext, stmt: cst.CSTNode) -> frozenset[str]:
    """Names that appear inside a regression loss or a square in `stmt` (a statement from
    `name_uses`; for a compound statement only its header counts, as there)."""
    return ctx.memo.get(_regression_operands, ctx, stmt)


def _header(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(stmt, cst.SimpleStatementLine):
        return [stmt]
    return [part for part in (getattr(stmt, "test", None), getattr(stmt, "iter", None)) if part is not None]


def _regression_operands(ctx: FileContext, stmt: cst.CSTNode) -> frozenset[str]:
    finder = _RegressionOperands()
    for part in _header(stmt):
        walk(part, finder)
    return frozenset(finder.names)


def _derived(ctx: FileContext, stmt: cst.CSTNode) -> list[tuple[frozenset[str], frozenset[str]]]:
    """(names read, names bound) pairs of one statement: `a, b = f(x)` -> ({f, x}, {a, b});
    `for (lp, v), R in zip(saved, returns)` -> ({saved}, {lp, v}) and ({returns}, {R})."""
    pairs: list[tuple[frozenset[str], frozenset[str]]] = []
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                bound = set().union(*(_names(t.target) for t in small.targets))
                pairs.append((frozenset(_names(small.value)), frozenset(bound)))
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)) and small.value is not None:
                pairs.append((frozenset(_names(small.value)), frozenset(_names(small.target))))
    elif isinstance(stmt, cst.For):
        it, target = stmt.iter, stmt.target
        if isinstance(it, cst.Call) and leaf_name(it.func) == "zip" and isinstance(target, (cst.Tuple, cst.List)) \
                and len(target.elements) == len(it.args) and not any(a.star for a in it.args):
            for arg, element in zip(it.args, target.elements):
                pairs.append((frozenset(_names(arg.value)), frozenset(_names(element.value))))
        elif isinstance(it, cst.Call) and leaf_name(it.func) == "enumerate" and it.args \
                and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            pairs.append((frozenset(_names(it.args[0].value)), frozenset(_names(target.elements[1].value))))
        else:
            pairs.append((frozenset(_names(it)), frozenset(_names(target))))
    return pairs


def reaches_regression_loss(ctx: FileContext, scope: cst.CSTNode, name: str, row: int) -> bool:
    """Does `name`'s value after line `row`, directly or through the names derived from it in
    `scope`, reach a regression loss or a square (`F.mse_loss(values, R)`, `adv.pow(2)`)?"""
    WORK.units += 1
    return _last_reach(ctx, scope, name, set()) > row


def _last_reach(ctx: FileContext, scope: cst.CSTNode, name: str, open_names: set[str]) -> int:
    """The start row of the last statement from which `name` reaches a regression loss (0 if none),
    computed once per (scope, name): so a query is a comparison, whatever the number of queries."""
    cache = ctx.memo.get(_reach_rows, ctx, scope)
    if name in cache:
        return cache[name]
    if name in open_names or len(open_names) >= _MAX_NAMES:
        return 0  # a cycle (`R = r + gamma * R`) or a chain too long to follow
    open_names.add(name)
    last = 0
    for stmt in name_uses(ctx, scope, name).after(ctx, 0):
        start = ctx.start_end(stmt)[0].row
        if start <= last:
            continue
        if name in regression_operands(ctx, stmt):
            last = start
            continue
        for read, bound in ctx.memo.get(_derived, ctx, stmt):
            WORK.units += 1
            if name in read and any(derived != name and _last_reach(ctx, scope, derived, open_names) >= start
                                    for derived in bound):
                last = start
                break
    open_names.discard(name)
    cache[name] = last
    return last


def _reach_rows(ctx: FileContext, scope: cst.CSTNode) -> dict[str, int]:
    return {}


# ---- where plain names are passed ---------------------------------------------------------------
class _Sinks(Visitor):
    def __init__(self) -> None:
        self.sinks: dict[str, list[str]] = {}

    def _add(self, expr: cst.BaseExpression | None, sink: str) -> None:
        if isinstance(expr, cst.Name):
            self.sinks.setdefault(expr.value, []).append(sink)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        sink = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else "?"
        for arg in node.args:
            self._add(arg.value, sink)

    def visit_Return(self, node: cst.Return) -> None:
        self._add(node.value, "?")

    def visit_Assign(self, node: cst.Assign) -> None:
        self._add(node.value, "?")  # `self.total_steps = total_steps`: used elsewhere


def _name_sinks(ctx: FileContext, scope: cst.CSTNode) -> dict[str, list[str]]:
    sinks = _Sinks()
    walk(scope, sinks)
    return sinks.sinks


def name_sinks(ctx: FileContext, scope: cst.CSTNode) -> dict[str, list[str]]:
    """name -> where the bare name is passed in `scope` (nested code included), in source order: the
    last name of each call it is an argument of (`tqdm`, `CosineAnnealingLR`), "?" where it is
    returned or assigned as is (or passed to a call without a name). One walk per scope."""
    return ctx.memo.get(_name_sinks, ctx, scope)

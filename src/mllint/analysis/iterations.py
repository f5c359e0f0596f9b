"""Which iterations an event of the training-step timeline (`analysis/timeline.py`) runs in: the
accumulation gate around it (`if (i + 1) % n == 0:`, a counter compared and reset: `gate_of`,
`accumulation_gate`), and whether its branch leaves the iteration before another event runs
(`if not finite: opt.zero_grad(); continue` before `opt.step()`: `leaves_before`).
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.timeline import Event, shared_frames
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk


# ---- accumulation gates ----------------------------------------------------------------------
def _is_zero(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer) and expr.value == "0"


def _modulo(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
        return expr.right
    return None


def _is_literal_one(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer) and expr.value == "1"


def accumulation_gate(node: cst.CSTNode) -> cst.BaseExpression | None:
    """N for an `if` whose test is an accumulation condition: `(i + 1) % N == 0`,
    `i % N == N - 1`, `not (i + 1) % N`, `counter == N` / `counter >= N` (a counter the branch
    resets), possibly joined with `or`/`and` (`... or last_batch`). None otherwise."""
    if not isinstance(node, cst.If):
        return None
    return _gate_test(node.test, node)


def _gate_test(test: cst.BaseExpression, node: cst.If) -> cst.BaseExpression | None:
    if isinstance(test, cst.BooleanOperation):
        return _gate_test(test.left, node) or _gate_test(test.right, node)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        n = _modulo(test.expression)
        return n if n is not None and not _is_literal_one(n) else None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comp = test.comparisons[0]
        n = _modulo(test.left)
        if n is not None and isinstance(comp.operator, cst.Equal) and not _is_literal_one(n):
            return n
        left = dotted_name(test.left)
        if left is not None and isinstance(comp.operator, (cst.Equal, cst.GreaterThanEqual)) \
                and _resets(node, left) and not _is_literal_one(comp.comparator):
            return comp.comparator
    return None


class _Reset(Visitor):
    def __init__(self, name: str):
        self.name = name
        self.found = False

    def visit_Assign(self, node: cst.Assign) -> None:
        if _is_zero(node.value) and any(dotted_name(t.target) == self.name for t in node.targets):
            self.found = True


def _resets(node: cst.If, name: str) -> bool:
    finder = _Reset(name)
    walk(node.body, finder)
    return finder.found


# ---- branches that leave the iteration -----------------------------------------------------------
_EXITS = {cst.Continue: "continue", cst.Break: "break", cst.Return: "return", cst.Raise: "raise"}


def _branch_exits(node: cst.If, part: str) -> set[str]:
    """How a branch of an `if` (or an `except` block) ends the iteration: the exits among its own
    statements."""
    suite = node.body if part == "body" or part == "except" else node.orelse
    if type(suite) is cst.Else:
        suite = suite.body
    elif type(suite) is not cst.IndentedBlock and type(suite) is not cst.SimpleStatementSuite:
        return set()  # an `elif`: its own frames say more
    lines = suite.body if type(suite) is cst.IndentedBlock else [suite]
    return {_EXITS[type(small)] for line in lines if type(line) in (cst.SimpleStatementLine, cst.SimpleStatementSuite)
            for small in line.body if type(small) in _EXITS}


def leaves_before(event: Event, other: Event) -> bool:
    """`event` sits in a branch that leaves the iteration (or the function) without reaching
    `other`: `if not finite: opt.zero_grad(); continue` before `opt.step()`. Read where both are
    written in the same function (a helper's `return` only ends the helper)."""
    if len(event.via) != len(other.via) or any(a is not b for a, b in zip(event.via, other.via)):
        return False
    common = shared_frames(event.path, other.path)
    # `break` out of a loop whose `else:` holds `other` skips it: `for ...: ... break` / `else: step()`
    else_loop = common < len(event.path) and common < len(other.path) and \
        event.path[common][0] is other.path[common][0] and other.path[common][1] == "loop_else"
    loops = 0  # `continue` / `break` in a loop of its own leaves only that loop
    for node, part in event.path[common:]:
        if part == "loop":
            loops += 1
        elif type(node) is cst.If or type(node) is cst.ExceptHandler:
            exits = _branch_exits(node, part)
            if "return" in exits or "raise" in exits or not loops and exits or \
                    loops == 1 and else_loop and "break" in exits:
                return True
    return False


def gate_of(event: Event) -> tuple[cst.If, cst.BaseExpression] | None:
    """The innermost accumulation gate around the event (its `if` node and N), inside the
    event's innermost loop."""
    for node, part in reversed(event.path):
        if part == "loop":
            return None
        if part == "body":
            n = accumulation_gate(node)
            if n is not None:
                return node, n
    return None

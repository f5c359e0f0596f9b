"""Backward discounted recursions (`R = r + gamma * R`, GAE) and what episode ends look like
around them: which loops run backward over time, the termination sequences (`dones`, `masks`) and
their local aliases in a scope, which names were built from a mask, and the index the rewards are
read with. Words decide roles here (`dones`, `gamma`): these are the names RL code uses.

Scope facts are memoised per (scope, imports known so far) in `ctx.memo`; loop facts are read
from one walk of the loop's body.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.classes import self_assignments
from mllint.analysis.names import flat_code, last_name
from mllint.analysis.astutil import number
from mllint.engine.candidates import callee
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

# The RL vocabulary of returns, shared by the rules about them: a discount factor, and (for a
# recursion) also GAE's lambda.
DISCOUNT_FACTOR = re.compile(r"gamma|discount|^γ$", re.I)
DISCOUNT = re.compile(rf"{DISCOUNT_FACTOR.pattern}|lambda|lmbda|lam\b|^lam|gae_lam|^λ$", re.I)
DONE_TOKENS = {"done", "dones", "terminal", "terminals", "terminated", "terminateds", "termination",
               "terminations"}
MASK_WORDS = re.compile(r"mask|nonterminal|non_terminal|not_?done|notdone|alive|continues?$|not_terminal", re.I)
# Also mean "an episode boundary is handled here", but are not usable as `(1 - x)` in a fix.
BOUNDARY_WORDS = re.compile(r"episode_?starts?|is_?first|firsts|resets?$|episode_?ends?|truncat|timeout", re.I)
NEXT_WORDS = re.compile(r"next|last|bootstrap", re.I)
STARTS = re.compile(r"episode_?starts?|is_?first|firsts", re.I)
# Masks that are not about episode ends (a class may hold them next to its rewards).
OTHER_MASKS = re.compile(r"action|attn|attention|pad|token|loss|valid|invalid|obs|seq|input|label", re.I)


def last(expr: cst.CSTNode) -> str | None:
    return last_name(expr, through_subscripts=True)


def kind(name: str | None) -> str | None:
    """'done' for a termination flag/sequence, 'mask' for a not-done mask, 'boundary' for other
    episode-boundary names, else None."""
    if not name:
        return None
    if MASK_WORDS.search(name):
        return "mask"
    tokens = set(name.lower().strip("_").split("_"))
    if tokens & DONE_TOKENS or name.lower() in ("is_terminal", "is_terminals", "isterminal"):
        return "done"
    if BOUNDARY_WORDS.search(name):
        return "boundary"
    return None


def flat(node: cst.CSTNode) -> str:
    return flat_code(node, outer_parens=False)


def operands(expr: cst.BaseExpression, sign: int = 1, top: bool = True) -> list[tuple[int, cst.BaseExpression]]:
    """`a + b - c` -> [(+1, a), (+1, b), (-1, c)] (parenthesised inner sums stay whole)."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract)) \
            and (top or not expr.lpar):
        right_sign = sign if isinstance(expr.operator, cst.Add) else -sign
        return operands(expr.left, sign, False) + operands(expr.right, right_sign, False)
    return [(sign, expr)]


def factors(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
        return factors(expr.left) + factors(expr.right)
    return [expr]


class _Names(Visitor):
    """Every Name / dotted chain in an expression, plus whether it holds a `1 - x`/`~x`/`not x`."""

    def __init__(self):
        self.names: list[str] = []
        self.negation = False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.names.append(node.attr.value)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Subtract) and number(node.left) == 1:
            self.negation = True

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        if isinstance(node.operator, (cst.BitInvert, cst.Not)):
            self.negation = True

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("logical_not", "logical_not_"):
            self.negation = True


def names_in(node: cst.CSTNode) -> _Names:
    v = _Names()
    walk(node, v)
    return v


def mentions_boundary(node: cst.CSTNode, aliases: frozenset[str] = frozenset()) -> bool:
    found = names_in(node)
    return found.negation or any(kind(n) or n in aliases for n in found.names)


def backward(it: cst.BaseExpression, ctx) -> bool:
    """reversed(...), range(a, b, -1), x[::-1], or zip/enumerate over one of those."""
    if isinstance(it, cst.Call):
        name = ctx.call_name(it)
        if name in ("reversed", "builtins.reversed"):
            return True
        if name in ("range", "builtins.range") and len(it.args) == 3:
            step = number(it.args[2].value)
            return step is not None and step < 0
        if name in ("zip", "builtins.zip", "enumerate", "builtins.enumerate") and it.args:
            return any(backward(a.value, ctx) for a in it.args if not a.star)
        if flipped(it) is not None:
            return True
    if isinstance(it, cst.Subscript) and len(it.slice) == 1 and isinstance(it.slice[0].slice, cst.Slice):
        step = it.slice[0].slice.step
        return step is not None and (number(step) or 0) < 0
    return False


def maybe_backward(it: ast.expr) -> bool:
    """What `backward` accepts, on CPython's AST (any explicit step counts: its sign is not read)."""
    if isinstance(it, ast.Call):
        name = callee(it)
        if name == "reversed" or name == "range" and len(it.args) == 3 or name in FLIPS:
            return True
        return name in ("zip", "enumerate") and any(maybe_backward(arg) for arg in it.args)
    return isinstance(it, ast.Subscript) and isinstance(it.slice, ast.Slice) and it.slice.step is not None


def while_counter(loop: cst.While) -> str | None:
    """`while t >= 0: ...; t -= 1`: the name a `while` loop counts down with (a backward loop)."""
    for stmt in loop.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.SubtractAssign) \
                    and isinstance(small.target, cst.Name) and number(small.value) == 1:
                return small.target.value
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) \
                    and isinstance(small.value, cst.BinaryOperation) and isinstance(small.value.operator, cst.Subtract) \
                    and isinstance(small.value.left, cst.Name) and small.value.left.value == small.targets[0].target.value \
                    and number(small.value.right) == 1:
                return small.value.left.value
    return None


def maybe_counting_down(loop: ast.While) -> bool:
    """What `while_counter` accepts, on CPython's AST."""
    return any(isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Sub) and isinstance(stmt.target, ast.Name)
               or isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Sub)
               for stmt in loop.body)


FLIPS = ("flip", "flipud")


def flipped(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """`x` of `torch.flip(x, [0])`, `np.flip(x)`, `np.flipud(x)`, `x.flip(0)`, else None."""
    if not (isinstance(expr, cst.Call) and last(expr.func) in FLIPS):
        return None
    func = expr.func
    if isinstance(func, cst.Attribute) and dotted_name(func.value) not in ("torch", "np", "numpy", "jnp"):
        return func.value  # x.flip(0)
    return expr.args[0].value if expr.args else None


def reversed_in(expr: cst.BaseExpression) -> bool:
    """Does `expr` reverse a sequence (`flip`, `[::-1]`) somewhere inside?"""
    found = []

    class _Find(Visitor):
        def visit_Call(self, node: cst.Call) -> None:
            if flipped(node) is not None:
                found.append(node)

        def visit_Subscript(self, node: cst.Subscript) -> None:
            part = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(part, cst.Slice) and part.step is not None and (number(part.step) or 0) < 0:
                found.append(node)

    walk(expr, _Find())
    return bool(found)


def reversed_position(expr: cst.BaseExpression, counter: str) -> bool:
    """`T - 1 - t`, `T - t - 1`, `len(x) - t - 1`, `-t - 1`, `-(t + 1)`: position `t` from the end."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = expr.expression
        return isinstance(inner, cst.Name) and inner.value == counter or isinstance(inner, cst.BinaryOperation) \
            and isinstance(inner.operator, cst.Add) and isinstance(inner.left, cst.Name) and inner.left.value == counter
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract):
        return isinstance(expr.right, cst.Name) and expr.right.value == counter or \
            reversed_position(expr.left, counter)
    return False


def _ast_reversed_position(expr: ast.expr, counter: str) -> bool:
    """What `reversed_position` accepts, on CPython's AST."""
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = expr.operand
        return isinstance(inner, ast.Name) and inner.id == counter or isinstance(inner, ast.BinOp) \
            and isinstance(inner.op, ast.Add) and isinstance(inner.left, ast.Name) and inner.left.id == counter
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub):
        return isinstance(expr.right, ast.Name) and expr.right.id == counter or \
            _ast_reversed_position(expr.left, counter)
    return False


def maybe_reversed_position(loop: ast.For) -> bool:
    """On CPython's AST: `for t in range(T)` whose body reads a position from the end with `t`."""
    if not (isinstance(loop.target, ast.Name) and isinstance(loop.iter, ast.Call) and callee(loop.iter) == "range"):
        return False
    counter = loop.target.id
    return any(isinstance(node, (ast.BinOp, ast.UnaryOp)) and _ast_reversed_position(node, counter)
               for stmt in loop.body for node in ast.walk(stmt))


def iterated(it: cst.BaseExpression) -> cst.BaseExpression:
    """The sequence behind reversed(x) / x[::-1] / torch.flip(x, [0])."""
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "reversed" and it.args:
        return iterated(it.args[0].value)
    if flipped(it) is not None:
        return flipped(it)
    if isinstance(it, cst.Subscript) and isinstance(it.slice[0].slice, cst.Slice):
        return it.value
    return it


class LoopAssignments(Visitor):
    """Assignments inside a loop body, not entering nested scopes or nested backward loops; what
    the `if` statements about episode ends (`if dones[t]: R = 0`) reset; and, for a forward
    `for t in range(T)`, whether it reads positions from the end (`i = T - 1 - t`, `rewards[-t - 1]`)."""

    def __init__(self, ctx, root: cst.For | cst.While, aliases: frozenset[str]):
        self.ctx = ctx
        self.root = root
        self.aliases = aliases
        self.counter = root.target.value if isinstance(root, cst.For) and isinstance(root.target, cst.Name) else None
        self.found: list[cst.Assign] = []
        self.augmented: list[cst.AugAssign] = []
        self.boundary_ifs: list[cst.If] = []  # the open ifs that test an episode end
        self.reset: set[str] = set()  # targets assigned under such an if (their recursion restarts there)
        self.stops = False  # such an if leaves the loop (`if done: break`): one episode only
        self.reversed_index: str | None = None  # the name bound to a position from the end, or the counter

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)  # exact types: isinstance against LibCST's ABCs is slow at every node
        if kind is cst.FunctionDef or kind is cst.ClassDef or kind is cst.Lambda:
            return False
        if kind is cst.For and node is not self.root and backward(node.iter, self.ctx):
            return False
        if kind is cst.While and node is not self.root and while_counter(node) is not None:
            return False
        if kind is cst.Assign:
            self.found.append(node)
            self._reset(t.target for t in node.targets)
            if self.counter and reversed_position(node.value, self.counter) and len(node.targets) == 1 \
                    and isinstance(node.targets[0].target, cst.Name):
                self.reversed_index = node.targets[0].target.value
        elif kind is cst.AugAssign:
            self.augmented.append(node)
            self._reset([node.target])
        elif kind is cst.If and mentions_boundary(node.test, self.aliases):
            self.boundary_ifs.append(node)
        elif (kind is cst.Break or kind is cst.Return) and self.boundary_ifs:
            self.stops = True
        elif kind is cst.Subscript and self.counter and self.reversed_index is None and any(
                isinstance(part.slice, cst.Index) and reversed_position(part.slice.value, self.counter)
                for part in node.slice):
            self.reversed_index = self.counter
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.boundary_ifs and original_node is self.boundary_ifs[-1]:
            self.boundary_ifs.pop()

    def _reset(self, targets) -> None:
        if self.boundary_ifs:
            for target in targets:
                self.reset.add(flat(target))
                if isinstance(target, cst.Subscript):
                    self.reset.add(flat(target.value))  # returns[t] = 0 restarts `returns[t + 1]`


class _SequenceFinder(Visitor):
    """For _termination_sequences: names / attribute chains that look like done flags or masks
    (first node per dotted name), the names that are indexed or iterated, and the calls whose
    arguments count as iterated when the call is zip / reversed / enumerate."""

    def __init__(self):
        self.out: dict[str, cst.BaseExpression] = {}
        self.indexed: set[str] = set()
        self.calls: list[cst.Call] = []

    def _add(self, node: cst.BaseExpression) -> None:
        dotted = dotted_name(node)
        if dotted and kind(dotted.rsplit(".", 1)[-1]) is not None:
            self.out.setdefault(dotted, node)

    def visit_Name(self, node: cst.Name) -> None:
        self._add(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self._add(node)
        walk(node.value, self)
        return False  # the attribute's own Name is not a local variable

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self.indexed.add(dotted_name(node.value) or "")

    def visit_Call(self, node: cst.Call) -> None:
        if node.args:
            self.calls.append(node)

    def visit_For(self, node: cst.For) -> None:
        self.indexed.add(dotted_name(iterated(node.iter)) or "")


def _sequence_finder(ctx, scope: cst.CSTNode) -> _SequenceFinder:
    """One walk per scope: what does not depend on the imports known so far."""
    finder = _SequenceFinder()
    walk(scope, finder)
    return finder


def _termination_sequences(ctx, key: tuple[cst.CSTNode, int]) -> list[cst.BaseExpression]:
    finder = ctx.memo.get(_sequence_finder, ctx, key[0])
    indexed = set(finder.indexed)
    for call in finder.calls:
        if ctx.call_name(call) in ("zip", "reversed", "enumerate", "builtins.zip", "builtins.reversed"):
            for arg in call.args:
                indexed.add(dotted_name(iterated(arg.value)) or "")
    return [node for dotted, node in finder.out.items()
            if dotted in indexed or dotted.rsplit(".", 1)[-1].lower().endswith("s")]


def _class_sequences(ctx, cls: cst.ClassDef) -> list[cst.BaseExpression]:
    """`self.masks` / `self.dones` assigned in the class: its own done/mask sequences (not a
    counter of finished episodes: `self.done_episodes = 0`)."""
    return [assignments[0].target for attr, assignments in self_assignments(ctx, cls).items()
            if attr.endswith("s") and kind(attr) in ("done", "mask") and not OTHER_MASKS.search(attr)
            and not all(a.value is not None and number(a.value) is not None for a in assignments)]


def _boundary_value(ctx, value: cst.BaseExpression) -> bool:
    """Is `value` a done flag or mask itself (`dones[t]`, `1.0 - dones[t]`, `~d`)? A sum that
    merely uses one (`delta = r + gamma * v * nonterminal - v`) is not: a recursion over `delta`
    still needs its own mask."""
    return mentions_boundary(value) and all(
        number(term) is not None or mentions_boundary(term) for _, term in operands(value))


def _aliases(ctx, key: tuple[cst.CSTNode, int]) -> frozenset[str]:
    out: set[str] = set()
    for name, bindings in ctx.bindings(key[0]).items():
        for b in bindings:
            if b.kind == "for" and isinstance(b.value, cst.Call) and b.index is not None \
                    and ctx.call_name(b.value) in ("zip", "builtins.zip") and b.index < len(b.value.args):
                if kind(last(iterated(b.value.args[b.index].value))):
                    out.add(name)
            elif b.kind == "for" and b.index is None and b.value is not None \
                    and kind(last(iterated(b.value))):
                out.add(name)
            elif b.kind in ("assign", "annassign") and b.value is not None \
                    and ctx.memo.get(_boundary_value, ctx, b.value):
                out.add(name)
    return frozenset(out)


def _masked_name(ctx, key: tuple[cst.CSTNode, int, str]) -> bool:
    """`name` was built from a mask / `(1 - done)` where it is bound in the scope."""
    scope, _, name = key
    aliases = ctx.memo.get(_aliases, ctx, key[:2])
    for binding in ctx.bindings(scope).get(name, []):
        if binding.kind == "param":
            continue
        if binding.value is not None and mentions_boundary(binding.value, aliases):
            return True  # next_value = values[t + 1] * next_non_terminal, computed earlier
        if binding.kind == "augassign" and mentions_boundary(binding.node, aliases):
            return True
    return False


def _next_done(ctx, scope: cst.CSTNode) -> bool:
    return any(kind(name) == "done" and NEXT_WORDS.search(name) for name in ctx.bindings(scope))


def subscripts(expr: cst.CSTNode) -> list[cst.Subscript]:
    out: list[cst.Subscript] = []

    class Finder(Visitor):
        def visit_Subscript(self, node: cst.Subscript) -> None:
            out.append(node)

    walk(expr, Finder())
    return out


def reward_index_in(expr: cst.CSTNode) -> str | None:
    """The index that `expr` reads a reward with: `rewards[t]` -> "t"; with environments first
    (`rewards[:, t]`), ":, t" (the time index last, so that `index + 1` is the next step)."""
    for node in subscripts(expr):
        name = last(node.value) or ""
        parts = node.slice
        if ("rew" in name.lower() or name in ("r", "rs")) and isinstance(parts[-1].slice, cst.Index) and all(
                isinstance(p.slice, cst.Slice) and p.slice.lower is None and p.slice.upper is None
                and p.slice.step is None for p in parts[:-1]):
            return ":, " * (len(parts) - 1) + cst.Module([]).code_for_node(parts[-1].slice.value)
    return None


def _reward_index_of_name(ctx, key: tuple[cst.CSTNode, str]) -> str | None:
    """The reward index read by the first value assigned to a name in the scope that reads one."""
    scope, name = key
    for binding in ctx.bindings(scope).get(name, []):
        if binding.value is not None and binding.kind == "assign":
            index = reward_index_in(binding.value)
            if index is not None:
                return index
    return None




# ---- memoised per scope: `key` is (scope, how many imports are known so far) -----------------
def termination_sequences(ctx, key: tuple[cst.CSTNode, int]) -> list[cst.BaseExpression]:
    """Names / attribute chains in the scope that hold a *sequence* of done flags or masks: plural
    names (`dones`, `masks`, `memory.is_terminals`), or names that are indexed or iterated. A
    scalar `done` from `env.step` (a single-episode loop) is not one."""
    return ctx.memo.get(_termination_sequences, ctx, key)


def class_sequences(ctx, cls: cst.ClassDef) -> list[cst.BaseExpression]:
    """`self.masks` / `self.dones` assigned in the class: a rollout storage's own sequences."""
    return ctx.memo.get(_class_sequences, ctx, cls)


def aliases(ctx, key: tuple[cst.CSTNode, int]) -> frozenset[str]:
    """Local names that stand for a done flag: `for r, d in zip(rewards, dones)`, `d = dones[t]`."""
    return ctx.memo.get(_aliases, ctx, key)


def masked_name(ctx, key: tuple[cst.CSTNode, int], name: str) -> bool:
    """`name` was built from a mask / `(1 - done)` where it is bound in the scope."""
    return ctx.memo.get(_masked_name, ctx, (*key, name))


def next_done(ctx, scope: cst.CSTNode) -> bool:
    """A `next_done`/`next_dones` flag in scope: the layout where dones[t] starts an episode."""
    return ctx.memo.get(_next_done, ctx, scope)


def reward_index_of_name(ctx, scope: cst.CSTNode, name: str) -> str | None:
    return ctx.memo.get(_reward_index_of_name, ctx, (scope, name))


def _discounting(ctx, key: tuple[cst.CSTNode, str]) -> bool:
    scope, name = key
    return any(b.value is not None and any(DISCOUNT.search(n) for n in names_in(b.value).names)
               for b in ctx.bindings(scope).get(name, []))


def discounting(ctx, scope: cst.CSTNode, expr: cst.BaseExpression) -> bool:
    """`expr` uses a discount factor, directly or through a name bound from one
    (`disc = gamma ** np.arange(T)`)."""
    found = names_in(expr).names
    return any(DISCOUNT.search(n) for n in found) or any(ctx.memo.get(_discounting, ctx, (scope, n)) for n in found)

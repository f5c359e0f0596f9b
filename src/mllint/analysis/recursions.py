"""Backward discounted recursions (`R = r + gamma * R`, GAE): their vocabulary and how their
expressions read. The words that give a name its role (a discount factor, and for a recursion also
GAE's lambda; a done flag, a not-done mask, another episode boundary), the terms, factors and names
of an expression, the index the rewards are read with; and, per scope (memoised in `ctx.memo`), the
reward index a name was assigned with and whether an expression is discounted through a name;
and the shape of a discounted accumulation whatever its factor is called (`accumulates_itself`).
Words decide roles here (`dones`, `gamma`): these are the names RL code uses.

Which loops run backward over time, and what a loop's body assigns, are in `backward_loops`; the
episode ends of a scope (termination sequences, their aliases, masked names) in `episode_ends`.
"""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.names import flat_code, last_name
from mllint.analysis.astutil import number
from mllint.engine.context import Visitor
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
# Masks that are not about episode ends (a class may hold them next to its rewards); LLM RL's
# token masks (`eos_mask`, `response_mask`, `reward_mask`: which positions hold a token or a reward).
OTHER_MASKS = re.compile(r"action|attn|attention|pad|token|loss|valid|invalid|obs|seq|input|label|reward|eos|"
                         r"response|prompt", re.I)


# Masks over the positions of a sequence, not episode ends: LLM RL's `eos_mask`, `response_mask`,
# `reward_mask` (one response per row), attention and padding masks.
_TOKEN_MASKS = re.compile(r"eos|response|prompt|reward|attention|attn|pad|token", re.I)


def last(expr: cst.CSTNode) -> str | None:
    return last_name(expr, through_subscripts=True)


def kind(name: str | None) -> str | None:
    """'done' for a termination flag/sequence, 'mask' for a not-done mask, 'boundary' for other
    episode-boundary names, else None."""
    if not name:
        return None
    if MASK_WORDS.search(name):
        return None if _TOKEN_MASKS.search(name) else "mask"
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


def accumulates_itself(node: cst.Assign) -> bool:
    """`R = r + gamma * R`: a name assigned a sum one of whose terms multiplies the name itself
    (a discounted accumulation, whatever the factor is called)."""
    if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
        return False
    name = node.targets[0].target.value
    value = node.value
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Subtract)):
        for side in (value.left, value.right):
            while isinstance(side, cst.BinaryOperation) and isinstance(side.operator, cst.Multiply):
                if any(isinstance(part, cst.Name) and part.value == name for part in (side.left, side.right)):
                    return True
                side = side.left if isinstance(side.left, cst.BinaryOperation) else side.right
    return False

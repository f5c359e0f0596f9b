"""What episode ends look like around a discounted recursion (`recursions`), in a scope: the
termination sequences (`dones`, `masks`) and their local aliases, a class's own sequences, which
names were built from a mask, and a `next_done` flag. Words decide roles here, as in `recursions`.

Scope facts are memoised per (scope, imports known so far) in `ctx.memo`.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.astutil import number
from mllint.analysis.backward_loops import iterated
from mllint.analysis.classes import self_assignments
from mllint.analysis.recursions import NEXT_WORDS, OTHER_MASKS, kind, last, mentions_boundary, operands
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk


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

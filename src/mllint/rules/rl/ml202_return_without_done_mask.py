"""ML202 return-without-done-mask: docs in rules/ML202-return-without-done-mask.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param
from mllint.analysis.backward_loops import (
    FLIPS, LoopAssignments, backward, maybe_backward, maybe_counting_down, maybe_reversed_position, reversed_in,
    while_counter)
from mllint.analysis.episode_ends import aliases, class_sequences, masked_name, termination_sequences
from mllint.analysis.recursions import (
    DISCOUNT, NEXT_WORDS, discounting, factors, flat, kind, last, mentions_boundary, names_in, operands)
from mllint.analysis.astutil import number
from mllint.engine.candidates import Calls, Nodes, Ops, Words, callee
from mllint.diagnostics import Applicability
from mllint.engine.rule import Rule, register
from mllint.rules.rl._ml202_fix import Site, message_and_fix
from mllint.engine.traversal import walk


def _reverses(call: ast.Call) -> bool:
    """On CPython's AST: a flip or a negative-step slice among the call's parts."""
    return any(isinstance(node, ast.Call) and callee(node) in FLIPS or isinstance(node, ast.Subscript)
               and isinstance(node.slice, ast.Slice) and node.slice.step is not None for node in ast.walk(call))


@register
class ReturnWithoutDoneMask(Rule):
    code = "ML202"
    name = "return-without-done-mask"
    summary = "A backward discounted-return / GAE recursion ignores episode ends although done flags are in scope."
    fix_applicability = Applicability.UNSAFE
    # a product with a discount factor, a done flag or mask by name, and a backward loop (also a
    # forward one reading positions from the end) or a reverse cumulative sum
    candidates = Ops(ast.Mult) & Words(DISCOUNT) & Words(lambda word: kind(word) is not None) & (
        Nodes(ast.For, ast.AsyncFor, where=lambda loop: maybe_backward(loop.iter) or maybe_reversed_position(loop))
        | Nodes(ast.While, where=maybe_counting_down) | Calls("cumsum", "lfilter", where=_reverses))

    def visit_For(self, node: cst.For) -> None:
        if backward(node.iter, self.ctx):
            self._check_loop(node)
        elif isinstance(node.target, cst.Name) and isinstance(node.iter, cst.Call) and \
                self.ctx.call_name(node.iter) in ("range", "builtins.range"):
            self._check_loop(node, forward=True)  # for t in range(T): i = T - 1 - t

    def visit_While(self, node: cst.While) -> None:
        # t = T - 1; while t >= 0: ...; t -= 1
        if while_counter(node) is not None:
            self._check_loop(node)

    def visit_Call(self, node: cst.Call) -> None:
        """`torch.flip(torch.cumsum(torch.flip(r * discounts, [0]), 0), [0])`, `lfilter(..., x[::-1])`:
        discounting by a reverse cumulative sum runs across episode ends unless something masks it."""
        if last(node.func) not in ("cumsum", "lfilter") or not reversed_in(node) or \
                self.ctx.enclosing(cst.For, cst.While, cst.FunctionDef) is not self.ctx.enclosing_function():
            return  # (inside a loop: per-episode segments, `for start, end in episodes(dones)`)
        statement = self.ctx.enclosing_statement()
        scope, key = self._scope(), self._scope_key()
        if statement is None or not discounting(self.ctx, scope, statement) or not termination_sequences(self.ctx, key):
            return
        local = aliases(self.ctx, key)
        if mentions_boundary(statement, local) or any(masked_name(self.ctx, key, n) for n in names_in(statement).names):
            return
        named = termination_sequences(self.ctx, key)[0]
        self.report(node, f"Discounting by a reverse cumulative sum runs across episode ends although "
                          f"`{self.ctx.code(named)}` is in scope: an episode's returns include the next "
                          "episode's rewards; discount backward per step with `(1 - done)`, or per episode")

    def _check_loop(self, node: cst.For | cst.While, forward: bool = False) -> None:
        ctx = self.ctx
        sequences = termination_sequences(ctx, self._scope_key())
        own = False
        if not sequences:
            # in a method, the buffer's own `self.masks` / `self.dones` (a rollout storage)
            method, cls = enclosing_method(ctx)
            sequences = class_sequences(ctx, cls) if cls is not None and first_param(method) == "self" else []
            own = bool(sequences)
        if not sequences:
            return  # nothing to mask with: no termination sequence in scope
        self.aliases = aliases(ctx, self._scope_key())
        collected = LoopAssignments(ctx, node, self.aliases)
        walk(node.body, collected)
        if forward and collected.reversed_index is None or collected.stops:
            return  # a forward loop, or one that stops at the first episode end
        site = dict(loop=node, sequences=sequences, own_sequences=own, scope=self._scope(),
                    reversed_index=collected.reversed_index if forward else None)
        for assign in collected.found:
            term = self._unmasked_bootstrap(assign, collected.reset)
            if term is not None:
                self.report(term, *message_and_fix(ctx, Site(statement=assign, term=term, **site)))
        for scaled, added in self._split_recursions(collected.augmented):
            if flat(scaled.target) not in collected.reset:
                self.report(scaled.value, *message_and_fix(ctx, Site(statement=added, term=scaled.value, **site)))

    def _scope(self) -> cst.CSTNode:
        return self.ctx.enclosing_function() or self.ctx.module

    def _scope_key(self) -> tuple[cst.CSTNode, int]:
        """The scope, and how many imports are known so far: the facts of a scope that resolve
        names with `call_name` depend on both (function-local imports are recorded as the walk
        reaches them); every candidate in one scope resolves names the same way otherwise."""
        return self._scope(), len(self.ctx.imports)

    # ---- the recursion --------------------------------------------------------------------------
    def _unmasked_bootstrap(self, assign: cst.Assign, reset: set[str]) -> cst.BaseExpression | None:
        """The discounted bootstrap term (`gamma * R`, `gamma * values[t + 1]`) of a recursion
        that no mask touches and that no `if done:` of the loop restarts, else None."""
        targets = [t.target for t in assign.targets]
        terms = operands(assign.value)
        if len(terms) < 2:
            return None
        for sign, term in terms:
            if sign < 0:
                continue
            parts = factors(term)
            if len(parts) < 2 or not any(DISCOUNT.search(last(f) or "") for f in parts):
                continue
            carried = [f for f in parts if self._carried(f, targets) or self._next_value(f)]
            if not carried:
                continue
            if any(self._masked(f) for f in parts) or any(flat(t) in reset for t in targets) or \
                    any(flat(f) in reset or isinstance(f, cst.Subscript) and flat(f.value) in reset for f in carried):
                return None
            return term
        return None

    def _split_recursions(self, augmented: list[cst.AugAssign]) -> list[tuple[cst.AugAssign, cst.AugAssign]]:
        """`R *= gamma` then `R += rewards[t]`: the recursion in two in-place steps, (the `*=`, the
        `+=`) when no mask touches it (`R *= gamma * masks[t]`, or a separate `R *= 1 - d`)."""
        out = []
        for scaled in augmented:
            if not isinstance(scaled.operator, cst.MultiplyAssign):
                continue
            value = scaled.value
            if not (isinstance(value, (cst.Name, cst.Attribute)) or isinstance(value, cst.BinaryOperation)
                    and isinstance(value.operator, (cst.Multiply, cst.Divide)) and not value.lpar):
                continue  # ` * mask` is appended to it: a product, nothing that binds looser
            if not any(DISCOUNT.search(last(f) or "") for f in factors(value)):
                continue
            target = flat(scaled.target)
            same = [a for a in augmented if flat(a.target) == target]
            added = [a for a in same if isinstance(a.operator, cst.AddAssign)]
            masked = any(isinstance(a.operator, cst.MultiplyAssign) and any(self._masked(f) for f in factors(a.value))
                         for a in same)
            if added and not masked:
                out.append((scaled, added[0]))
        return out

    def _carried(self, factor: cst.BaseExpression, targets) -> bool:
        text = flat(factor)
        for target in targets:
            if flat(target) == text:
                return True
            if isinstance(target, cst.Subscript) and isinstance(factor, cst.Subscript) \
                    and flat(target.value) == flat(factor.value):
                return True  # returns[t] = rewards[t] + gamma * returns[t + 1]
        return False

    def _next_value(self, factor: cst.BaseExpression) -> bool:
        if NEXT_WORDS.search(last(factor) or ""):
            return True
        if isinstance(factor, cst.Subscript):
            return any(isinstance(s.slice, cst.Index) and isinstance(s.slice.value, cst.BinaryOperation)
                       and isinstance(s.slice.value.operator, cst.Add) and number(s.slice.value.right) == 1
                       for s in factor.slice)
        return False

    def _masked(self, factor: cst.BaseExpression) -> bool:
        """The factor is, or was built from, a mask / `(1 - done)` (here or where its name is bound)."""
        if mentions_boundary(factor, self.aliases):
            return True
        name = factor.value if isinstance(factor, cst.Name) else None
        if isinstance(factor, cst.Subscript) and isinstance(factor.value, cst.Name):
            name = factor.value.value
        return name is not None and masked_name(self.ctx, self._scope_key(), name)

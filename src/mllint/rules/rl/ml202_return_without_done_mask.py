"""ML202 return-without-done-mask: docs in rules/ML202-return-without-done-mask.md."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param, self_assignments
from mllint.analysis.names import flat_code, last_name
from mllint.analysis.astutil import number
from mllint.engine.candidates import Nodes, Ops, Words, callee
from mllint.engine.context import Visitor, dotted_name
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import walk

DISCOUNT = re.compile(r"gamma|discount|lambda|lmbda|lam\b|^lam|gae_lam|^γ$|^λ$", re.I)
DONE_TOKENS = {"done", "dones", "terminal", "terminals", "terminated", "terminateds", "termination",
               "terminations"}
MASK_WORDS = re.compile(r"mask|nonterminal|non_terminal|not_?done|notdone|alive|continues?$|not_terminal", re.I)
# Also mean "an episode boundary is handled here", but are not usable as `(1 - x)` in a fix.
BOUNDARY_WORDS = re.compile(r"episode_?starts?|is_?first|firsts|resets?$|episode_?ends?|truncat|timeout", re.I)
NEXT_WORDS = re.compile(r"next|last|bootstrap", re.I)
STARTS = re.compile(r"episode_?starts?|is_?first|firsts", re.I)
# Masks that are not about episode ends (a class may hold them next to its rewards).
OTHER_MASKS = re.compile(r"action|attn|attention|pad|token|loss|valid|invalid|obs|seq|input|label", re.I)


def _last(expr: cst.CSTNode) -> str | None:
    return last_name(expr, through_subscripts=True)


def _kind(name: str | None) -> str | None:
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


def _flat(node: cst.CSTNode) -> str:
    return flat_code(node, outer_parens=False)


def _operands(expr: cst.BaseExpression, sign: int = 1, top: bool = True) -> list[tuple[int, cst.BaseExpression]]:
    """`a + b - c` -> [(+1, a), (+1, b), (-1, c)] (parenthesised inner sums stay whole)."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract)) \
            and (top or not expr.lpar):
        right_sign = sign if isinstance(expr.operator, cst.Add) else -sign
        return _operands(expr.left, sign, False) + _operands(expr.right, right_sign, False)
    return [(sign, expr)]


def _factors(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
        return _factors(expr.left) + _factors(expr.right)
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


def _names(node: cst.CSTNode) -> _Names:
    v = _Names()
    walk(node, v)
    return v


def _mentions_boundary(node: cst.CSTNode, aliases: frozenset[str] = frozenset()) -> bool:
    found = _names(node)
    return found.negation or any(_kind(n) or n in aliases for n in found.names)


def _backward(it: cst.BaseExpression, ctx) -> bool:
    """reversed(...), range(a, b, -1), x[::-1], or zip/enumerate over one of those."""
    if isinstance(it, cst.Call):
        name = ctx.call_name(it)
        if name in ("reversed", "builtins.reversed"):
            return True
        if name in ("range", "builtins.range") and len(it.args) == 3:
            step = number(it.args[2].value)
            return step is not None and step < 0
        if name in ("zip", "builtins.zip", "enumerate", "builtins.enumerate") and it.args:
            return any(_backward(a.value, ctx) for a in it.args if not a.star)
    if isinstance(it, cst.Subscript) and len(it.slice) == 1 and isinstance(it.slice[0].slice, cst.Slice):
        step = it.slice[0].slice.step
        return step is not None and (number(step) or 0) < 0
    return False


def _maybe_backward(it: ast.expr) -> bool:
    """What `_backward` accepts, on CPython's AST (any explicit step counts: its sign is not read)."""
    if isinstance(it, ast.Call):
        name = callee(it)
        if name == "reversed" or name == "range" and len(it.args) == 3:
            return True
        return name in ("zip", "enumerate") and any(_maybe_backward(arg) for arg in it.args)
    return isinstance(it, ast.Subscript) and isinstance(it.slice, ast.Slice) and it.slice.step is not None


def _while_counter(loop: cst.While) -> str | None:
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


def _maybe_counting_down(loop: ast.While) -> bool:
    """What `_while_counter` accepts, on CPython's AST."""
    return any(isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Sub) and isinstance(stmt.target, ast.Name)
               or isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Sub)
               for stmt in loop.body)


def _iterated(it: cst.BaseExpression) -> cst.BaseExpression:
    """The sequence behind reversed(x) / x[::-1]."""
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "reversed" and it.args:
        return _iterated(it.args[0].value)
    if isinstance(it, cst.Subscript) and isinstance(it.slice[0].slice, cst.Slice):
        return it.value
    return it


class _Assignments(Visitor):
    """Assignments inside a loop body, not entering nested scopes or nested backward loops."""

    def __init__(self, ctx, root: cst.For):
        self.ctx = ctx
        self.root = root
        self.found: list[cst.Assign] = []
        self.augmented: list[cst.AugAssign] = []
        self.ifs: list[cst.If] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, cst.For) and node is not self.root and _backward(node.iter, self.ctx):
            return False
        if isinstance(node, cst.While) and node is not self.root and _while_counter(node) is not None:
            return False
        if isinstance(node, cst.Assign):
            self.found.append(node)
        elif isinstance(node, cst.AugAssign):
            self.augmented.append(node)
        elif isinstance(node, cst.If):
            self.ifs.append(node)
        return True


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
        if dotted and _kind(dotted.rsplit(".", 1)[-1]) is not None:
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
        self.indexed.add(dotted_name(_iterated(node.iter)) or "")


def _termination_sequences(ctx, key: tuple[cst.CSTNode, int]) -> list[cst.BaseExpression]:
    scope = key[0]
    finder = _SequenceFinder()
    walk(scope, finder)
    indexed = set(finder.indexed)
    for call in finder.calls:
        if ctx.call_name(call) in ("zip", "reversed", "enumerate", "builtins.zip", "builtins.reversed"):
            for arg in call.args:
                indexed.add(dotted_name(_iterated(arg.value)) or "")
    return [node for dotted, node in finder.out.items()
            if dotted in indexed or dotted.rsplit(".", 1)[-1].lower().endswith("s")]


def _class_sequences(ctx, cls: cst.ClassDef) -> list[cst.BaseExpression]:
    """`self.masks` / `self.dones` assigned in the class: its own done/mask sequences."""
    return [assignments[0].target for attr, assignments in self_assignments(ctx, cls).items()
            if attr.endswith("s") and _kind(attr) in ("done", "mask") and not OTHER_MASKS.search(attr)]


def _boundary_value(ctx, value: cst.BaseExpression) -> bool:
    """Is `value` a done flag or mask itself (`dones[t]`, `1.0 - dones[t]`, `~d`)? A sum that
    merely uses one (`delta = r + gamma * v * nonterminal - v`) is not: a recursion over `delta`
    still needs its own mask."""
    return _mentions_boundary(value) and all(
        number(term) is not None or _mentions_boundary(term) for _, term in _operands(value))


def _aliases(ctx, key: tuple[cst.CSTNode, int]) -> frozenset[str]:
    out: set[str] = set()
    for name, bindings in ctx.bindings(key[0]).items():
        for b in bindings:
            if b.kind == "for" and isinstance(b.value, cst.Call) and b.index is not None \
                    and ctx.call_name(b.value) in ("zip", "builtins.zip") and b.index < len(b.value.args):
                if _kind(_last(_iterated(b.value.args[b.index].value))):
                    out.add(name)
            elif b.kind == "for" and b.index is None and b.value is not None \
                    and _kind(_last(_iterated(b.value))):
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
        if binding.value is not None and _mentions_boundary(binding.value, aliases):
            return True  # next_value = values[t + 1] * next_non_terminal, computed earlier
        if binding.kind == "augassign" and _mentions_boundary(binding.node, aliases):
            return True
    return False


def _next_done(ctx, scope: cst.CSTNode) -> bool:
    return any(_kind(name) == "done" and NEXT_WORDS.search(name) for name in ctx.bindings(scope))


def _subscripts(expr: cst.CSTNode) -> list[cst.Subscript]:
    out: list[cst.Subscript] = []

    class Finder(Visitor):
        def visit_Subscript(self, node: cst.Subscript) -> None:
            out.append(node)

    walk(expr, Finder())
    return out


def _reward_index_in(expr: cst.CSTNode) -> str | None:
    """The index that `expr` reads a reward with: `rewards[t]` -> "t"."""
    for node in _subscripts(expr):
        name = _last(node.value) or ""
        if ("rew" in name.lower() or name in ("r", "rs")) and len(node.slice) == 1 \
                and isinstance(node.slice[0].slice, cst.Index):
            return cst.Module([]).code_for_node(node.slice[0].slice.value)
    return None


def _reward_index_of_name(ctx, key: tuple[cst.CSTNode, str]) -> str | None:
    """The reward index read by the first value assigned to a name in the scope that reads one."""
    scope, name = key
    for binding in ctx.bindings(scope).get(name, []):
        if binding.value is not None and binding.kind == "assign":
            index = _reward_index_in(binding.value)
            if index is not None:
                return index
    return None


@register
class ReturnWithoutDoneMask(Rule):
    code = "ML202"
    name = "return-without-done-mask"
    summary = "A backward discounted-return / GAE recursion ignores episode ends although done flags are in scope."
    fix_applicability = Applicability.UNSAFE
    # a backward loop, a product with a discount factor, and a done flag or mask by name
    candidates = (Nodes(ast.For, ast.AsyncFor, where=lambda loop: _maybe_backward(loop.iter))
                  | Nodes(ast.While, where=_maybe_counting_down)) & Ops(ast.Mult) & \
        Words(DISCOUNT) & Words(lambda word: _kind(word) is not None)

    def visit_For(self, node: cst.For) -> None:
        if _backward(node.iter, self.ctx):
            self._check_loop(node)

    def visit_While(self, node: cst.While) -> None:
        # t = T - 1; while t >= 0: ...; t -= 1
        if _while_counter(node) is not None:
            self._check_loop(node)

    def _check_loop(self, node: cst.For | cst.While) -> None:
        ctx = self.ctx
        sequences = self._termination_sequences()
        self._class_sequences = False
        if not sequences:
            sequences = self._class_attribute_sequences()
            self._class_sequences = bool(sequences)
        if not sequences:
            return  # nothing to mask with: no termination sequence in scope
        collected = _Assignments(ctx, node)
        walk(node.body, collected)
        self.aliases = self._aliases()
        # `if dones[t]: R = 0` style resets handle episode ends for the whole loop
        if any(_mentions_boundary(branch.test, self.aliases) for branch in collected.ifs):
            return
        for assign in collected.found:
            term = self._unmasked_bootstrap(assign)
            if term is not None:
                self._report(node, assign, term, sequences)
        for scaled, added in self._split_recursions(collected.augmented):
            self._report(node, added, scaled.value, sequences)

    # ---- what is in scope -----------------------------------------------------------------------
    def _scope(self) -> cst.CSTNode:
        return self.ctx.enclosing_function() or self.ctx.module

    def _termination_sequences(self) -> list[cst.BaseExpression]:
        """Names / attribute chains in the enclosing function that hold a *sequence* of done flags
        or masks: plural names (`dones`, `masks`, `memory.is_terminals`), or names that are indexed
        or iterated. A scalar `done` from `env.step` (a single-episode loop) is not one."""
        return self.ctx.memo.get(_termination_sequences, self.ctx, self._scope_key())

    def _scope_key(self) -> tuple[cst.CSTNode, int]:
        """The scope, and how many imports are known so far: the facts of a scope that resolve
        names with `call_name` depend on both (function-local imports are recorded as the walk
        reaches them); every candidate in one scope resolves names the same way otherwise."""
        return self._scope(), len(self.ctx.imports)

    def _class_attribute_sequences(self) -> list[cst.BaseExpression]:
        """In a method, the buffer's own sequences: `self.masks` / `self.dones` assigned anywhere in
        the class (a rollout storage whose `compute_returns` forgets them)."""
        method, cls = enclosing_method(self.ctx)
        if cls is None or first_param(method) != "self":
            return []
        return self.ctx.memo.get(_class_sequences, self.ctx, cls)

    def _aliases(self) -> frozenset[str]:
        """Local names that stand for a done flag: `for r, d in zip(rewards, dones)`, `d = dones[t]`."""
        return self.ctx.memo.get(_aliases, self.ctx, self._scope_key())

    # ---- the recursion --------------------------------------------------------------------------
    def _unmasked_bootstrap(self, assign: cst.Assign) -> cst.BaseExpression | None:
        """The discounted bootstrap term (`gamma * R`, `gamma * values[t + 1]`) of a recursion
        that no mask touches, else None."""
        targets = [t.target for t in assign.targets]
        operands = _operands(assign.value)
        if len(operands) < 2:
            return None
        for sign, term in operands:
            if sign < 0:
                continue
            factors = _factors(term)
            if len(factors) < 2 or not any(DISCOUNT.search(_last(f) or "") for f in factors):
                continue
            if not any(self._carried(f, targets) or self._next_value(f) for f in factors):
                continue
            if any(self._masked(f) for f in factors):
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
            if not any(DISCOUNT.search(_last(f) or "") for f in _factors(value)):
                continue
            target = _flat(scaled.target)
            same = [a for a in augmented if _flat(a.target) == target]
            added = [a for a in same if isinstance(a.operator, cst.AddAssign)]
            masked = any(isinstance(a.operator, cst.MultiplyAssign) and self._masked_value(a.value) for a in same)
            if added and not masked:
                out.append((scaled, added[0]))
        return out

    def _masked_value(self, value: cst.BaseExpression) -> bool:
        return any(self._masked(f) for f in _factors(value))

    def _carried(self, factor: cst.BaseExpression, targets) -> bool:
        text = _flat(factor)
        for target in targets:
            if _flat(target) == text:
                return True
            if isinstance(target, cst.Subscript) and isinstance(factor, cst.Subscript) \
                    and _flat(target.value) == _flat(factor.value):
                return True  # returns[t] = rewards[t] + gamma * returns[t + 1]
        return False

    def _next_value(self, factor: cst.BaseExpression) -> bool:
        if NEXT_WORDS.search(_last(factor) or ""):
            return True
        if isinstance(factor, cst.Subscript):
            return any(isinstance(s.slice, cst.Index) and isinstance(s.slice.value, cst.BinaryOperation)
                       and isinstance(s.slice.value.operator, cst.Add) and number(s.slice.value.right) == 1
                       for s in factor.slice)
        return False

    def _masked(self, factor: cst.BaseExpression) -> bool:
        """The factor is, or was built from, a mask / `(1 - done)` (here or where its name is bound)."""
        if _mentions_boundary(factor, self.aliases):
            return True
        name = factor.value if isinstance(factor, cst.Name) else None
        if isinstance(factor, cst.Subscript) and isinstance(factor.value, cst.Name):
            name = factor.value.value
        if name is None:
            return False
        return self.ctx.memo.get(_masked_name, self.ctx, (*self._scope_key(), name))

    # ---- report and fix -------------------------------------------------------------------------
    def _report(self, loop: cst.For, assign: cst.Assign | cst.AugAssign, term: cst.BaseExpression,
                sequences: list[cst.BaseExpression]) -> None:
        ctx = self.ctx
        # The class's own sequences: their layout (masks[t] or masks[t + 1]) is not seen here.
        mask = None if self._class_sequences else self._mask_expression(loop, assign, sequences)
        shown = f"`{mask}`" if mask else "`(1 - done)` of that step"
        named = sorted(sequences, key=lambda s: _kind(_last(s)) not in ("done", "mask"))[0]
        index = self._reward_index(assign, loop)
        if mask is not None and index is not None and self._next_done_in_scope():
            # cleanrl's layout: dones[t] says that obs t *starts* an episode and `next_done` is the
            # flag after the last step, so the mask of step t is 1 - dones[t + 1]: not guessed
            seq = mask[len("(1 - "):].split("[")[0] if mask.startswith("(1 - ") else None
            shown = (f"`(1 - {seq}[{index} + 1])` (and `1 - next_done` at the last step) if `{seq}[{index}]` "
                     f"marks the first step of an episode, as with a `next_done` flag; `{mask}` if it marks "
                     "the last") if seq else shown
            mask = None
        elif mask is None and index is not None and STARTS.search(_last(named) or ""):
            # an episode-start flag marks the step *after* an end
            shown = f"`(1 - {ctx.code(named)}[{index} + 1])` (an episode start marks the step after an end)"
        elif self._class_sequences and index is not None:
            seq = ctx.code(named)
            value = seq if _kind(_last(named)) == "mask" else f"(1 - {seq}"
            close = "" if _kind(_last(named)) == "mask" else ")"
            shown = (f"`{value}[{index} + 1]{close}` if `{seq}` holds one more entry than the rewards (the "
                     f"flag before the first step at index 0, as rollout storages keep it), else "
                     f"`{value}[{index}]{close}`")
        message = (f"Discounted recursion ignores episode ends although `{ctx.code(named)}` is in scope: "
                   "the return at an episode's last step leaks the next episode's rewards; multiply the "
                   f"bootstrapped term by {shown}")
        fix = None
        if mask is not None:
            _, end = ctx.start_end(term)
            fix = Fix(Applicability.UNSAFE, f"Multiply the bootstrapped term by `{mask}`",
                      (Edit(end, end, f" * {mask}"),))
        self.report(term, message, fix)

    def _next_done_in_scope(self) -> bool:
        """A `next_done`/`next_dones` flag in scope: the layout where dones[t] starts an episode."""
        return self.ctx.memo.get(_next_done, self.ctx, self._scope())

    def _mask_expression(self, loop: cst.For, assign: cst.Assign, sequences) -> str | None:
        """`(1 - dones[t])` / `masks[t]` indexed like the rewards, or the zipped element `(1 - done)`."""
        ctx = self.ctx
        # for reward, done in zip(reversed(rewards), reversed(dones))
        target, it = (loop.target, loop.iter) if isinstance(loop, cst.For) else (None, None)
        if isinstance(it, cst.Call) and ctx.call_name(it) in ("enumerate", "builtins.enumerate") and it.args \
                and isinstance(target, cst.Tuple) and len(target.elements) == 2:
            target, it = target.elements[1].value, it.args[0].value
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "reversed" and it.args:
            it = it.args[0].value
        if isinstance(it, cst.Call) and ctx.call_name(it) in ("zip", "builtins.zip") \
                and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == len(it.args):
            for element, arg in zip(target.elements, it.args):
                kind = _kind(_last(_iterated(arg.value)))
                if kind in ("done", "mask") and isinstance(element.value, cst.Name):
                    return self._wrap(element.value.value, kind)
        index = self._reward_index(assign, loop)
        if index is None:
            return None
        usable = [s for s in sequences if _kind(_last(s)) in ("done", "mask")]
        rewards = self._reward_container(assign)
        if rewards is not None and "." in rewards:
            prefix = rewards.rsplit(".", 1)[0]
            same = [s for s in usable if (dotted_name(s) or "").rsplit(".", 1)[0] == prefix]
            usable = same + [s for s in usable if s not in same]
        # prefer sequences (plural names) over per-step flags
        usable.sort(key=lambda s: not (_last(s) or "").endswith("s"))
        if not usable:
            return None
        seq = usable[0]
        return self._wrap(f"{ctx.code(seq)}[{index}]", _kind(_last(seq)))

    @staticmethod
    def _wrap(expr: str, kind: str) -> str:
        return expr if kind == "mask" else f"(1 - {expr})"

    def _reward_container(self, assign: cst.Assign) -> str | None:
        for node in _subscripts(assign.value):
            name = dotted_name(node.value)
            if name and "rew" in name.lower():
                return name
        return None

    def _reward_index(self, assign: cst.Assign, loop: cst.For) -> str | None:
        """The index the rewards are read with here (or in the names this statement uses)."""
        index = _reward_index_in(assign.value)
        scope = self._scope()
        for name in _names(assign.value).names:
            if index is not None:
                return index
            index = self.ctx.memo.get(_reward_index_of_name, self.ctx, (scope, name))
        if index is not None:
            return index
        if isinstance(loop, cst.While):
            return _while_counter(loop)
        # for t in reversed(range(T)): the loop index
        it = loop.iter
        if isinstance(it, cst.Call) and self.ctx.call_name(it) in ("reversed", "builtins.reversed") and it.args:
            it = it.args[0].value
        if isinstance(loop.target, cst.Name) and isinstance(it, cst.Call) \
                and self.ctx.call_name(it) in ("range", "builtins.range"):
            return loop.target.value
        return None

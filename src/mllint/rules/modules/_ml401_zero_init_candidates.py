"""ML401's candidate tests for zero inits on CPython's AST (`nn.init.zeros_(self.w)`,
`self.w.data.zero_()`, `fill_(0)`): a zeroed `self.<attr>` that the file creates as an
`nn.Parameter`, a lookup table's weight, and helpers that zero the weight of the layer they are
given (`init(nn.Linear(...))`) outside a head/last-layer guard, read with line maps built once per
file. Whatever cannot be decided keeps the file (see `_ml401_candidates` for the parameter
creations)."""

from __future__ import annotations

import ast

from mllint.analysis.parameters import (
    APPLY_NAMES, HIDDEN_TOKENS, LAST_LAYER_WORDS, LAYER_TYPES, LOOKUP_TOKENS, PARAMETER,
    maybe_zeroed_target, row_set_name, tokens)
from mllint.engine.candidates import Calls, Facts, Pattern, Words, callee, dotted_leaf, leaves
from mllint.rules.modules._ml401_candidates import ast_number


def _zero_fill(call: ast.Call, position: int, keyword: str | None = None) -> bool:
    """The fill value at `position` (or `keyword=`; any keyword when None, as the rule reads
    `fill_`'s first argument) is a literal zero, as the rule requires, or hidden behind `*`/`**`."""
    if any(type(a) is ast.Starred for a in call.args) or any(k.arg is None for k in call.keywords):
        return True
    value = call.args[position] if len(call.args) > position else \
        next((k.value for k in call.keywords if keyword is None or k.arg == keyword), None)
    return ast_number(value) == 0


def _init_target(call: ast.Call) -> ast.expr | None:
    """The tensor an `nn.init` call fills (first argument or `tensor=`); a `*`/`**` argument: None."""
    if call.args:
        return None if type(call.args[0]) is ast.Starred else call.args[0]
    return next((k.value for k in call.keywords if k.arg == "tensor"), None)


def zero_inits(facts: Facts) -> list[tuple[ast.Call, ast.expr | None]]:
    """(call, what it zeroes) for the file's zero inits; None for a target hidden behind `*`."""
    return facts.memo(_zero_inits)


def _zero_inits(facts: Facts) -> list[tuple[ast.Call, ast.expr | None]]:
    out = [(call, _init_target(call)) for call in facts.calls.get("zeros_", ())]
    out += [(call, _init_target(call)) for call in facts.calls.get("constant_", ()) if _zero_fill(call, 1, "val")]
    for leaf, position in (("zero_", None), ("fill_", 0)):
        for call in facts.calls.get(leaf, ()):
            if type(call.func) is ast.Attribute and (position is None or _zero_fill(call, position)):
                out.append((call, call.func.value))
    return out


def _strip_data(target: ast.expr) -> ast.expr:
    while type(target) is ast.Attribute and target.attr in ("data", "_data"):
        target = target.value
    return target


def _parameter_attributes(facts: Facts) -> set[str]:
    """Names given `nn.Parameter(...)` directly (`self.mus = nn.Parameter(...)`): the only
    creations the rule looks up for a zeroed `self.<attr>`."""
    calls = {id(c) for leaf in leaves(PARAMETER) for c in facts.calls.get(leaf, ())}
    out = set()
    for node in facts.of_type(ast.Assign, ast.AnnAssign):
        if id(node.value) in calls:
            for target in (node.targets if type(node) is ast.Assign else [node.target]):
                if type(target) is ast.Attribute:
                    out.add(target.attr)
    return out


class ZeroedAttributeCandidates(Pattern):
    """A zero init of an attribute the rule's name tests let through that the file creates as an
    `nn.Parameter`, or of the weight of a table named as a row set (`self.codebook.weight`)."""

    def __call__(self, facts: Facts) -> bool:
        created = None
        for _, target in zero_inits(facts):
            if target is None:
                return True
            if not maybe_zeroed_target(target):
                continue
            inner = _strip_data(target)
            if inner.attr == "weight" and not (type(inner.value) is ast.Name and inner.value.id == "self"):
                return True  # a table's weight: the rule looks for the table's creation
            if created is None:
                created = _parameter_attributes(facts)
            if inner.attr in created:
                return True
        return False


def _table_weight(target: ast.expr | None) -> bool:
    """`self.embed.weight`: a lookup table, a codebook when its size counts codes."""
    target = _strip_data(target) if target is not None else None
    return target is None or type(target) is ast.Attribute and target.attr == "weight" and \
        type(target.value) is ast.Attribute and bool(tokens(target.value.attr) & LOOKUP_TOKENS)


class TableZeroingCandidates(Pattern):
    def __call__(self, facts: Facts) -> bool:
        return any(_table_weight(target) for _, target in zero_inits(facts))


def _given_layer(call: ast.Call) -> bool:
    """`init(nn.Linear(...))`, `init(self.fc1)`, `init(self.hidden)`: a call given a layer that may be hidden."""
    return any(type(a) is ast.Call and callee(a) in LAYER_TYPES or type(a) is ast.Attribute
               and type(a.value) is ast.Name and a.value.id == "self"
               and (a.attr[-1:].isdigit() or bool(tokens(a.attr) & HIDDEN_TOKENS)) for a in call.args)


def _layer_types(expr: ast.expr) -> bool:
    elements = expr.elts if type(expr) is ast.Tuple else [expr]
    return all(dotted_leaf(e) in LAYER_TYPES for e in elements)


class HelperZeroingCandidates(Pattern):
    """`zeros_(layer.weight)` in a helper given `layer`, reached the way the rule's helper index
    (`analysis.zeroing_helpers`) takes it: not in a function named for output layers
    or for zeroing, and under no `if` other than `isinstance(layer, nn.Linear)` (a guard naming a
    head or last layer says which layers are zeroed). Places are compared by line ranges: the
    CPython AST has no parent links."""

    def __call__(self, facts: Facts) -> bool:
        layer_zeroing = []
        for call, target in zero_inits(facts):
            target = _strip_data(target) if target is not None else None
            if target is None:
                return True
            if type(target) is ast.Attribute and target.attr == "weight" and type(target.value) is ast.Name:
                layer_zeroing.append((call, target.value.id))
        if not layer_zeroing:
            return False
        # line -> the innermost function, and the ifs, around it: built once, linear in the file
        # (each line is visited once per function or `if` that spans it)
        innermost: dict[int, ast.AST] = {}
        for function in sorted(facts.of_type(ast.FunctionDef, ast.AsyncFunctionDef), key=lambda f: f.lineno):
            for line in range(function.lineno, function.end_lineno + 1):
                innermost[line] = function  # a nested function starts later and overwrites
        ifs_around: dict[int, list[ast.If]] = {}
        for branch in facts.nodes.get(ast.If, ()):
            for line in range(branch.lineno, branch.end_lineno + 1):
                ifs_around.setdefault(line, []).append(branch)
        for call, layer in layer_zeroing:
            function = innermost.get(call.lineno)
            if function is None:
                continue
            if LAST_LAYER_WORDS.search(function.name) or "zero" in tokens(function.name) or layer not in {
                    a.arg for a in (*function.args.posonlyargs, *function.args.args)} - {"self", "cls"}:
                continue
            at = (call.lineno, call.col_offset)
            guards = [b for b in ifs_around.get(call.lineno, ()) if function.lineno < b.lineno
                      and b.end_lineno <= function.end_lineno and (b.test.end_lineno, b.test.end_col_offset) < at]
            if all(self._type_test(g.test, layer) for g in guards):
                return True
        return False

    @staticmethod
    def _type_test(test: ast.expr, layer: str) -> bool:
        """`isinstance(layer, (nn.Linear, nn.Conv2d))`, naming no output layer."""
        return type(test) is ast.Call and dotted_leaf(test.func) == "isinstance" and len(test.args) == 2 \
            and type(test.args[0]) is ast.Name and test.args[0].id == layer and _layer_types(test.args[1]) \
            and not LAST_LAYER_WORDS.search(ast.unparse(test))


# A zero init the rule may report: of a parameter, of a row-set table, or inside a helper that is
# applied to a model or given layers.
ZERO_INIT_CANDIDATES = ZeroedAttributeCandidates() \
    | TableZeroingCandidates() & Words(row_set_name) \
    | (Calls(*APPLY_NAMES) | Calls(lambda name: True, where=_given_layer)) & HelperZeroingCandidates()

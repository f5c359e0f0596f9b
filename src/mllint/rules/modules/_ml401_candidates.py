"""ML401's candidate test for `nn.Parameter(<zeros>)` on CPython's AST: the rule's own name and
shape tests, decided there where they can be (a 1-row `cls_token = nn.Parameter(torch.zeros(1, 1, d))`
or a `bias` is never reported, so a file holding only those is not parsed by LibCST); whatever
cannot be decided keeps the file. A name re-initialised outside any `if` (`trunc_normal_(self.pos_embed)`) is not reported
either; one re-initialised under an `if` may sit behind an off-by-default flag, which the rule reports."""

from __future__ import annotations

import ast
import re

from mllint.analysis.astutil import SAME_VALUE_METHODS
from mllint.analysis.parameters import (
    INIT_FUNCTIONS, PARAMETER,
    ZEROS, row_set_name, zero_start_name)
from mllint.engine.candidates import Facts, Pattern, callee, dotted_leaf, leaves


def ast_number(expr: ast.expr | None) -> float | None:
    """`number` on CPython's AST: an int or float literal with unary +/- (True is not a number)."""
    if type(expr) is ast.UnaryOp and type(expr.op) in (ast.USub, ast.UAdd):
        inner = ast_number(expr.operand)
        return None if inner is None else -inner if type(expr.op) is ast.USub else inner
    if type(expr) is ast.Constant and type(expr.value) in (int, float):
        try:
            return float(expr.value)
        except OverflowError:
            return None
    return None


_UNKNOWN = "unknown"  # an AST mirror that cannot tell: the file stays a candidate


def _ast_arg(call: ast.Call, keyword: str, position: int | None = None):
    """`find_arg` on CPython's AST: the argument expression, None, or _UNKNOWN after `*`/`**`."""
    if any(type(a) is ast.Starred for a in call.args) or any(k.arg is None for k in call.keywords):
        return _UNKNOWN
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and position < len(call.args):
        return call.args[position]
    return None


def _ast_size_dims(call: ast.Call, leaf: str):
    """`_size_dims` on CPython's AST (int, None, or _UNKNOWN)."""
    if leaf == "zeros_like":
        return None
    if any(type(a) is ast.Starred for a in call.args) or any(k.arg is None for k in call.keywords):
        return _UNKNOWN
    size_kw = _ast_arg(call, "size")
    if size_kw is not None:
        sizes = [size_kw]
    elif leaf == "full":
        sizes = call.args[:1]
    else:
        sizes = list(call.args)
    if len(sizes) == 1 and type(sizes[0]) not in (ast.Tuple, ast.List):
        value = sizes[0]
        if ast_number(value) is not None or type(value) in (ast.BinOp, ast.Subscript):
            return 0 if ast_number(value) == 1 else 1
        if type(value) is ast.Name and not re.search(r"shape|size|dims", value.id, re.I):
            return 1
        return None
    if len(sizes) == 1:
        sizes = [e.value if type(e) is ast.Starred else e for e in sizes[0].elts]
    return sum(1 for s in sizes if ast_number(s) != 1)


def _ast_string_prefix(expr: ast.expr) -> str | None:
    if type(expr) is ast.Constant:
        return expr.value if type(expr.value) is str else None
    if type(expr) is ast.JoinedStr:
        return "".join(v.value for v in expr.values if type(v) is ast.Constant and type(v.value) is str) or None
    return None


def _flaggable_name(pname: str) -> bool:
    """The name tests `_check_parameter` applies before it looks at the shape. A weight or table
    name is let through: the rule still reports it when its size counts codes (a codebook)."""
    return not zero_start_name(pname)


def _pure_chain(expr: ast.expr) -> bool:
    """A Name/attribute chain (what `dotted_name` gives a name for)."""
    while type(expr) is ast.Attribute:
        expr = expr.value
    return type(expr) is ast.Name


def ast_chain_names(expr: ast.expr) -> set[str]:
    """`_chain_names` on CPython's AST."""
    while type(expr) is ast.Attribute and expr.attr in ("data", "_data"):
        expr = expr.value
    while type(expr) is ast.Subscript:
        expr = expr.value
    if type(expr) is ast.Name:
        return {expr.id}
    if type(expr) is ast.Attribute:
        out = {expr.attr}
        if type(expr.value) is ast.Attribute:
            out.add(f"{expr.value.attr}.{expr.attr}")
        return out
    return set()


class ZeroParameterCandidates(Pattern):
    """`nn.Parameter(<zeros>)` stored under a name the rule's tests let through, with a shape that
    may have two or more rows."""

    def __call__(self, facts: Facts) -> bool:
        parameter_calls = [c for leaf in leaves(PARAMETER) for c in facts.calls.get(leaf, ())]
        zeros_leaves = {leaf: leaf for leaf in (*leaves(ZEROS), "new_zeros")}
        for alias in facts.nodes.get(ast.alias, ()):
            leaf = alias.name.rsplit(".", 1)[-1]
            if alias.asname and leaf in zeros_leaves:
                zeros_leaves[alias.asname] = leaf
        return bool(parameter_calls) and self._parameter_case(facts, parameter_calls, zeros_leaves)

    def _parameter_case(self, facts: Facts, parameter_calls, zeros_leaves) -> bool:
        dims_of: dict[int, object] = {}  # Parameter call -> dims of its zero data (absent: no zeros)
        for call in parameter_calls:
            data = _ast_arg(call, "data", 0)
            grad = _ast_arg(call, "requires_grad", 1)
            if data is _UNKNOWN or grad is _UNKNOWN:
                dims_of[id(call)] = _UNKNOWN
                continue
            if data is None or (grad is not None and not (type(grad) is ast.Constant and grad.value is True)):
                continue
            while type(data) is ast.Call and type(data.func) is ast.Attribute and data.func.attr in SAME_VALUE_METHODS:
                data = data.func.value
            if type(data) is not ast.Call:
                continue
            leaf = zeros_leaves.get(callee(data) or "")
            if leaf is None:
                continue
            if leaf == "full":
                fill = _ast_arg(data, "fill_value", 1)
                if fill is not _UNKNOWN and ast_number(fill) != 0:
                    continue
            dims_of[id(call)] = _ast_size_dims(data, leaf)
        if not dims_of:
            return False
        names: dict[int, set[str]] = {}  # Parameter call -> the names it may be stored under
        for node in facts.of_type(ast.Assign, ast.AnnAssign):
            target = node.targets[0] if type(node) is ast.Assign else node.target
            while type(target) is ast.Subscript:
                target = target.value
            name = target.attr if type(target) is ast.Attribute else target.id if type(target) is ast.Name else None
            if name is None:
                continue
            for inner in ast.walk(node):
                if id(inner) in dims_of:
                    names.setdefault(id(inner), set()).add(name)
        for call in facts.calls.get("register_parameter", []) + facts.calls.get("setattr", []):
            strings = {_ast_string_prefix(a) for a in (*call.args, *(k.value for k in call.keywords))} - {None}
            for inner in ast.walk(call):
                if id(inner) in dims_of and inner is not call:
                    names.setdefault(id(inner), set()).update(strings)
        reinitialised = self._reinitialised(facts)
        for key, dims in dims_of.items():
            for name in names.get(key, ()):
                if not _flaggable_name(name) or name in reinitialised:
                    continue
                if dims is _UNKNOWN or (dims is None and row_set_name(name)) or (dims is not None and dims >= 2):
                    return True
        return False

    @staticmethod
    def _reinitialised(facts: Facts) -> set[str]:
        """Names the init index (`analysis.initialisation`) surely puts among the re-initialised (a subset of them)."""
        names: set[str] = set()
        conditional: set[int] = set()  # calls under an `if`: the init may sit behind an off-by-default flag
        for branch in facts.nodes.get(ast.If, ()):
            # a flag is a name or attribute (`if init:`, `if self.init and ...:`); a comparison
            # (`if self.pos_embed is not None:`) is not one
            if id(branch) not in conditional and type(branch.test) is not ast.Compare:
                conditional.update(id(node) for node in ast.walk(branch))
        for leaf in INIT_FUNCTIONS - {"constant_"}:
            for call in facts.calls.get(leaf, ()):
                if id(call) in conditional:
                    continue
                func = call.func
                is_function = type(func) is ast.Name or (
                    type(func) is ast.Attribute and _pure_chain(func.value) and
                    dotted_leaf(func.value) in ("init", "initialization", "nn_init", "layers"))
                if is_function and call.args and type(call.args[0]) is not ast.Starred:
                    names |= ast_chain_names(call.args[0])
        for node in facts.of_type(ast.Assign):
            if id(node) in conditional:
                continue
            for target in node.targets:
                if type(target) is ast.Subscript or (type(target) is ast.Attribute and target.attr in ("data", "_data")):
                    names |= ast_chain_names(target)
        return names


# ---- zero inits: nn.init.zeros_(t), constant_(t, 0), t.zero_(), t.fill_(0) ---------------------------

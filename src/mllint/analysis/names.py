"""Names of expressions: the one set of "last name of an expression" helpers the rules share.

`dotted_name` (in `mllint.engine.context`) gives `a.b.c` for a Name/Attribute chain; everything here
is derived from it, so `self.returns`, `returns` and `batch.returns` agree everywhere.
"""

from __future__ import annotations

import re

import libcst as cst

from mllint.engine.context import dotted_name


def leaf_name(expr: cst.CSTNode | None) -> str | None:
    """The last part of a Name/Attribute chain: `a.b.c` -> "c", `x` -> "x"; else None."""
    dotted = dotted_name(expr)
    return dotted.rsplit(".", 1)[-1] if dotted else None


def callee_leaf(call: cst.Call) -> str:
    """The last name of what a call calls (`x.append(...)` -> "append", `f(...)` -> "f"); "" for
    anything else (`fs[0](...)`)."""
    func = call.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""


def last_name(expr: cst.CSTNode | None, *, through_subscripts: bool = False,
              string_keys: bool = False) -> str | None:
    """`leaf_name`, optionally looking through subscripts (`dones[t]`, `self.masks[t]` -> the
    container's name) or taking a single string key as the name (`batch["returns"]` -> "returns")."""
    if string_keys and isinstance(expr, cst.Subscript):
        if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            key = expr.slice[0].slice.value
            if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str):
                return key.evaluated_value
        return None
    if through_subscripts:
        while isinstance(expr, cst.Subscript):
            expr = expr.value
    return leaf_name(expr)


def attribute_names(expr: cst.BaseExpression) -> list[str]:
    """Attribute names along a chain, outermost last: `p.grad.data` -> ['grad', 'data']."""
    out: list[str] = []
    while isinstance(expr, cst.Attribute):
        out.append(expr.attr.value)
        expr = expr.value
    return list(reversed(out))


_BLANKS = re.compile(r"\s+")
_EMPTY_MODULE = cst.Module([])


def flat_code(node: cst.CSTNode, *, outer_parens: bool = True) -> str:
    """The node's code without any whitespace (a key to compare expressions by), independent of
    where the node sits; `outer_parens=False` drops the node's own parentheses: `(x)` -> `x`."""
    if not outer_parens and getattr(node, "lpar", None):
        node = node.with_changes(lpar=[], rpar=[])
    return _BLANKS.sub("", _EMPTY_MODULE.code_for_node(node))


def imported_name(imports: dict[str, str], expr: cst.CSTNode | None) -> str | None:
    """`dotted_name` resolved through the file's imports (`D.DataLoader` with `import
    torch.utils.data as D` -> `torch.utils.data.DataLoader`), ignoring local shadowing: for facts
    computed outside the main traversal (where `FileContext.qualified_name` has no scope stack)."""
    dotted = dotted_name(expr)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    full = imports.get(head)
    if full is None:
        return dotted
    return f"{full}.{rest}" if rest else full

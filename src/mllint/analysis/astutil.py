"""Small LibCST helpers shared by rules: arguments by position or keyword, literal values,
and building argument lists that keep the call's own formatting."""

from __future__ import annotations

import math

import libcst as cst

from mllint.analysis.names import attribute_names
from mllint.engine.context import FileContext, dotted_name

NO_SPACE = cst.SimpleWhitespace("")
ONE_SPACE = cst.SimpleWhitespace(" ")


# Methods that keep a tensor's values (a move, a dtype change, a reshape, a copy): `torch.zeros(D, m).to(device)`
# is still zeros, `x.std().unsqueeze(0)` still the std, `std.item()` still zero when the std is.
SAME_VALUE_METHODS = frozenset({
    "item", "detach", "float", "double", "half", "bfloat16", "to", "cpu", "cuda", "numpy", "type", "type_as",
    "astype", "contiguous", "clone", "requires_grad_", "unsqueeze", "squeeze", "view", "view_as", "reshape",
    "expand", "expand_as", "flatten"})


def peel(expr: cst.BaseExpression, methods=SAME_VALUE_METHODS) -> cst.BaseExpression:
    """The tensor under value-preserving wrappers and indexing: `std[:, None].unsqueeze(0)` -> `std`."""
    while True:
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in methods:
            expr = expr.func.value
        else:
            return expr


def find_arg(call: cst.Call, keyword: str, position: int | None = None) -> cst.Arg | None:
    """The argument passed as `keyword=`, or at `position` (0-based) among the positional ones."""
    positional = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg
            continue
        if arg.star:
            return None  # *args: positions after it are unknown
        if position is not None and positional == position:
            return arg
        positional += 1
    return None


def has_star_args(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def number(expr: cst.BaseExpression | None) -> float | None:
    """The value of a numeric literal (with unary +/-), else None."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        inner = number(expr.expression)
        if inner is None:
            return None
        return -inner if isinstance(expr.operator, cst.Minus) else inner
    if isinstance(expr, (cst.Integer, cst.Float)):
        try:
            return float(expr.evaluated_value)
        except (ValueError, OverflowError):
            return None
    return None


_INF_NAMES = {"math.inf", "torch.inf", "numpy.inf", "numpy.Inf", "numpy.infty", "jax.numpy.inf", "cmath.inf"}


def infinity_sign(expr: cst.BaseExpression | None, ctx: FileContext) -> int | None:
    """+1 or -1 if `expr` is a spelling of (minus) infinity, else None.

    Knows float("inf"), float("-inf"), -float("inf"), math.inf, torch.inf, np.inf, float("infinity").
    """
    if expr is None:
        return None
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        inner = infinity_sign(expr.expression, ctx)
        if inner is None:
            return None
        return -inner if isinstance(expr.operator, cst.Minus) else inner
    if isinstance(expr, cst.Call) and ctx.qualified_name(expr.func) in ("float", "builtins.float") and len(expr.args) == 1:
        value = expr.args[0].value
        if isinstance(value, cst.SimpleString):
            try:
                parsed = float(value.evaluated_value)
            except (ValueError, TypeError):
                return None
            if math.isinf(parsed):
                return 1 if parsed > 0 else -1
        return None
    name = ctx.qualified_name(expr)
    if name in _INF_NAMES:
        return 1
    if isinstance(expr, cst.Float) and math.isinf(float(expr.evaluated_value)):
        return 1  # 1e999
    return None


def is_finite_constant(expr: cst.BaseExpression | None, ctx: FileContext) -> bool:
    """A value known to be finite: a number literal, or torch.finfo(...).max/.min."""
    if number(expr) is not None:
        return not math.isinf(number(expr))  # type: ignore[arg-type]
    if isinstance(expr, cst.UnaryOperation):
        return is_finite_constant(expr.expression, ctx)
    if isinstance(expr, cst.Attribute) and expr.attr.value in ("max", "min") and isinstance(expr.value, cst.Call):
        return ctx.qualified_name(expr.value.func) in ("torch.finfo", "numpy.finfo")
    return False


def is_none(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def keyword_arg(name: str, value: cst.BaseExpression, comma=cst.MaybeSentinel.DEFAULT) -> cst.Arg:
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=NO_SPACE, whitespace_after=NO_SPACE), comma=comma)


def with_arguments(call: cst.Call, replace: dict[cst.Arg, cst.BaseExpression],
                   append: list[tuple[str, cst.BaseExpression]]) -> cst.Call:
    """`call` with some argument values replaced and keyword arguments appended.

    Appended arguments follow the call's layout: one per line if the call is written that way
    (with its trailing comma kept), otherwise `, ` separated.
    """
    args = [arg.with_changes(value=replace[arg]) if arg in replace else arg for arg in call.args]
    if not append:
        return call.with_changes(args=args)
    new = [keyword_arg(name, value) for name, value in append]
    if not args:
        separated = [a.with_changes(comma=cst.Comma(whitespace_after=ONE_SPACE)) for a in new[:-1]] + [new[-1]]
        return call.with_changes(args=separated)
    last = args[-1]
    trailing = last.comma if isinstance(last.comma, cst.Comma) else None
    if trailing is not None:
        # multi-line call with a trailing comma: reuse the separator between earlier arguments;
        # a comment stays on the line of the argument it follows
        between = _uncommented(args[-2].comma) if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else \
            cst.Comma(whitespace_after=ONE_SPACE)
        args[-1] = last.with_changes(comma=_continued_like(trailing, between))
        new = [a.with_changes(comma=between) for a in new[:-1]] + \
            [new[-1].with_changes(comma=_uncommented(trailing))]
    else:
        sep = cst.Comma(whitespace_after=ONE_SPACE)
        if len(args) > 1 and isinstance(args[-2].comma, cst.Comma):
            sep = _uncommented(args[-2].comma)
        # the whitespace after the last argument (`\n` before a `)` on its own line) stays last
        args[-1] = last.with_changes(comma=sep, whitespace_after_arg=cst.SimpleWhitespace(""))
        new = [a.with_changes(comma=sep) for a in new[:-1]] + \
            [new[-1].with_changes(whitespace_after_arg=last.whitespace_after_arg)]
    return call.with_changes(args=args + new)


def _uncommented(comma: cst.Comma) -> cst.Comma:
    """The comma without the comment (and comment lines) after it: a separator to copy."""
    ws = comma.whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace):
        return comma.with_changes(whitespace_after=ws.with_changes(
            first_line=cst.TrailingWhitespace(newline=ws.first_line.newline), empty_lines=[]))
    return comma


def _continued_like(comma: cst.Comma, separator: cst.Comma) -> cst.Comma:
    """`comma` (keeping its comment) followed by the next line's indentation of `separator`."""
    ws, sep = comma.whitespace_after, separator.whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace) and isinstance(sep, cst.ParenthesizedWhitespace):
        return comma.with_changes(whitespace_after=ws.with_changes(indent=sep.indent, last_line=sep.last_line))
    return separator


def method_receiver(call: cst.Call, *names: str) -> cst.BaseExpression | None:
    """For `x.name(...)` with name in `names`, the receiver `x`; else None."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in names:
        return func.value
    return None


attr_chain_names = attribute_names  # one implementation, in mllint.analysis.names


__all__ = ["dotted_name", "find_arg", "number", "infinity_sign", "with_arguments", "method_receiver"]

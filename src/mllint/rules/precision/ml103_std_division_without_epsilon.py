"""ML103 std-division-without-epsilon: docs in rules/ML103-std-division-without-epsilon.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.astutil import find_arg, peel
from mllint.analysis.bindings import binding_scope
from mllint.analysis.fixed_tensors import of_fixed_tensor
from mllint.analysis.statistics import STD_FUNCS, STD_MEAN_FUNCS, STD_METHODS, is_std_call
from mllint.analysis.zero_guards import guarded, key_of
from mllint.diagnostics import Applicability, Fix
from mllint.engine.candidates import Calls, Ops, leaves
from mllint.engine.rule import Rule, register

SAME_VALUE_FUNCTIONS = {"float", "torch.as_tensor", "torch.tensor", "numpy.asarray", "numpy.array"}
# Functions whose result is a division: (qualified name, index of the divisor).
DIV_FUNCTIONS = {"torch.div": 1, "torch.divide": 1, "torch.true_divide": 1, "numpy.divide": 1,
                 "numpy.true_divide": 1, "operator.truediv": 1, "operator.itruediv": 1}
DIV_METHODS = ("div", "div_", "divide", "divide_", "true_divide", "true_divide_")
EPS = "1e-8"


def _plain_factor(expr: cst.BaseExpression) -> bool:
    """A number, a name or an attribute: a factor that cannot add an epsilon."""
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    return isinstance(expr, (cst.Integer, cst.Float, cst.Name, cst.Attribute))


def _unpacked(value: cst.BaseExpression | None, index: int | None) -> cst.BaseExpression | None:
    """Element `index` of a tuple/list display assigned by unpacking (`a, b = x, y`), if plain."""
    if not isinstance(value, (cst.Tuple, cst.List)) or index is None or index >= len(value.elements) or \
            any(isinstance(e, cst.StarredElement) for e in value.elements):
        return None
    return value.elements[index].value


@register
class StdDivisionWithoutEpsilon(Rule):
    code = "ML103"
    name = "std-division-without-epsilon"
    summary = "Division by a standard deviation with no epsilon: a constant batch or a batch of one gives inf/NaN."
    fix_applicability = Applicability.SAFE
    # a std is computed and something is divided
    candidates = Calls(*STD_METHODS, *leaves(STD_FUNCS | STD_MEAN_FUNCS)) & \
        (Ops(ast.Div) | Calls(*DIV_METHODS, *leaves(DIV_FUNCTIONS)))

    # ---- division sites -----------------------------------------------------------------------
    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Divide):
            self._check(node.right, parens=True)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.DivideAssign):
            self._check(node.value, parens=False)

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.call_name(node)
        if name in DIV_FUNCTIONS:
            arg = find_arg(node, "other", DIV_FUNCTIONS[name])
            if arg is None and name.startswith("numpy."):
                arg = find_arg(node, "x2", 1)
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in DIV_METHODS:
            arg = find_arg(node, "other", 0)
        else:
            return
        if arg is not None and not arg.star:
            self._check(arg.value, parens=False)

    # ---- what the divisor is ------------------------------------------------------------------
    def _std_source(self, divisor: cst.BaseExpression) -> tuple[str, cst.CSTNode] | None:
        """(guard key, scope) if `divisor` is a standard deviation without epsilon, else None."""
        ctx = self.ctx
        expr = peel(divisor)
        if isinstance(expr, cst.Call) and not isinstance(expr.func, cst.Attribute) and expr.args and \
                ctx.qualified_name(expr.func) in SAME_VALUE_FUNCTIONS:
            expr = peel(expr.args[0].value)
        if is_std_call(ctx, expr):
            if self._fixed(expr):
                return None
            return key_of(expr), ctx.scope()
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            # `2.0 * x.std()`, `std * self.scale`: a constant factor leaves a zero std zero
            for std, factor in ((expr.right, expr.left), (expr.left, expr.right)):
                if _plain_factor(factor):
                    found = self._std_source(std)
                    if found is not None:
                        return found
            return None
        if isinstance(expr, cst.Name):
            scope = binding_scope(ctx, expr.value)
            if scope is None:
                return None
            bindings = ctx.bindings(scope)[expr.value]
            # every value the name can hold must be a bare std (`std = x.std() + eps`, a second
            # `std = 1.0`, a parameter or `std += eps` all mean someone took care of it)
            for b in bindings:
                if b.kind in ("assign", "annassign", "walrus") and b.index is None:
                    value = peel(b.value)
                    if not is_std_call(ctx, value) or self._fixed(value):
                        return None
                elif b.kind == "unpack" and b.index == 0 and isinstance(b.value, cst.Call) and \
                        ctx.call_name(b.value) in STD_MEAN_FUNCS:
                    continue
                elif b.kind == "unpack" and _unpacked(b.value, b.index) is not None and \
                        is_std_call(ctx, peel(_unpacked(b.value, b.index))):
                    continue  # mean, std = x.mean(), x.std()
                else:
                    return None
            return expr.value, scope
        return None

    def _fixed(self, std: cst.Call) -> bool:
        """The std of a tensor built from shapes in this function (a position table): a constant."""
        return of_fixed_tensor(self.ctx, std, STD_FUNCS)

    def _check(self, divisor: cst.BaseExpression, parens: bool) -> None:
        ctx = self.ctx
        found = self._std_source(divisor)
        if found is None:
            return
        key, scope = found
        scopes = [scope] if scope is ctx.scope() else [scope, ctx.scope()]
        if guarded(ctx, key, scopes):
            return
        code = ctx.code(divisor)
        if divisor.lpar:
            # `/ (std)`: the node's range excludes its own parentheses, which stay around the sum
            new = f"{ctx.code(divisor.with_changes(lpar=[], rpar=[]))} + {EPS}"
        else:
            new = f"({code} + {EPS})" if parens else f"{code} + {EPS}"
        message = (f"Division by the standard deviation `{code}` without an epsilon: a constant batch makes it 0 "
                   f"and the result inf/NaN; divide by `({code} + {EPS})` or clamp it (a batch of one, whose "
                   f"unbiased std is NaN, also needs `unbiased=False` or a size check)")
        fix = Fix(Applicability.SAFE, f"Add {EPS} to the standard deviation", (ctx.replace(divisor, new),))
        self.report(divisor, message, fix)

"""ML103 std-division-without-epsilon: docs in rules/ML103-std-division-without-epsilon.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.bindings import last_binding
from mllint.analysis.names import flat_code
from mllint.analysis.scopes import KeyIndex, subtree_keys
from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls, Ops, leaves
from mllint.engine.context import FileContext
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

# Functions that compute a standard deviation (method forms: `.std(...)`, `.nanstd(...)`).
STD_FUNCTIONS = {"torch.std", "torch.Tensor.std", "numpy.std", "numpy.nanstd", "jax.numpy.std", "jax.numpy.nanstd"}
STD_METHODS = ("std", "nanstd")
# `std, mean = torch.std_mean(x)`: element 0 is the std
STD_MEAN_FUNCTIONS = {"torch.std_mean"}
# Calls that leave a zero std zero (reshape, move, convert): `/ std.unsqueeze(0)` is still a std.
SAME_VALUE_METHODS = {"item", "detach", "float", "double", "half", "bfloat16", "to", "cpu", "cuda", "numpy",
                      "unsqueeze", "view", "reshape", "expand", "expand_as", "view_as", "squeeze", "clone",
                      "contiguous", "type_as", "type", "astype", "flatten"}
SAME_VALUE_FUNCTIONS = {"float", "torch.as_tensor", "torch.tensor", "numpy.asarray", "numpy.array"}
# Functions whose result is a division: (qualified name, index of the divisor).
DIV_FUNCTIONS = {"torch.div": 1, "torch.divide": 1, "torch.true_divide": 1, "numpy.divide": 1,
                 "numpy.true_divide": 1, "operator.truediv": 1, "operator.itruediv": 1}
DIV_METHODS = ("div", "div_", "divide", "divide_", "true_divide", "true_divide_")
# Wrappers that a guard may put around the std it tests: `(std == 0).any()`, `std.min() > 0`, `abs(std)`.
GUARD_PEEL_METHODS = SAME_VALUE_METHODS | {"min", "max", "abs", "all", "any", "amin", "sum", "mean"}
GUARD_FUNCTIONS = ("isclose", "allclose", "isfinite", "isnan", "isinf", "nonzero", "count_nonzero", "all", "any",
                   "where")
EPS = "1e-8"
# A tensor the code builds from shapes (a sinusoidal position table: `torch.zeros(n, d)` filled with
# `torch.sin(torch.arange(n) * freq)`) holds the same values on every run: its std is a constant of
# the code, not of a batch, and a zero would show on the first run.
_PREFIXES = ("torch.", "numpy.", "jax.numpy.")
CONSTRUCTORS = {p + name for p in _PREFIXES for name in (
    "zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye")}  # not tensor(data)
ELEMENTWISE = {p + name for p in _PREFIXES for name in (
    "sin", "cos", "tan", "exp", "log", "log2", "log10", "sqrt", "pow", "power", "tanh", "sigmoid", "outer",
    "meshgrid", "stack", "cat", "concatenate")}
SCALAR_MODULES = ("math.", "numpy.", "torch.")


def _peel(expr: cst.BaseExpression, methods=SAME_VALUE_METHODS) -> cst.BaseExpression:
    """The tensor under value-preserving wrappers: `std[:, None].unsqueeze(0)` -> `std`."""
    while True:
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in methods:
            expr = expr.func.value
        else:
            return expr


def _tested_keys(expr: cst.BaseExpression | None, ctx: FileContext) -> list[str]:
    """The keys (see `_key_of`) of what a test on `expr` tests: `std`, `(std == 0).any()`,
    `std.min() > 0`, `abs(std)`, `torch.abs(std)`."""
    if expr is None:
        return []
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    if isinstance(expr, cst.Call) and expr.args and not isinstance(expr.func, cst.Attribute):
        if ctx.qualified_name(expr.func) in ("abs", "float", "bool"):
            expr = expr.args[0].value
    expr = _peel(expr, GUARD_PEEL_METHODS)
    keys = []
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in (
            "abs", "min", "all", "any", "amin"):
        # torch.abs(std), torch.min(std)
        if expr.args:
            keys.extend(_tested_keys(expr.args[0].value, ctx))
    key = _key_of(expr)
    if key is not None:
        keys.append(key)
    return keys


def _guard_keys(node: cst.CSTNode, ctx: FileContext) -> list[str]:
    """The stds that `node` tests or repairs: comparisons and tests that mention one, guard
    functions (isclose, where, ...) called on one, in-place updates of one. Indexed once per file
    (`subtree_keys`), so a candidate asks its scope instead of walking it."""
    if isinstance(node, cst.Comparison):
        keys = _tested_keys(node.left, ctx)
        for c in node.comparisons:
            keys.extend(_tested_keys(c.comparator, ctx))
        return keys
    if isinstance(node, (cst.If, cst.While, cst.IfExp, cst.Assert)):
        return _tested_keys(node.test, ctx)  # `if std:`
    if isinstance(node, cst.Call):
        func = node.func
        keys = []
        if isinstance(func, cst.Attribute):
            last = func.attr.value
            # std.clamp_(min=eps), std.add_(eps), std.masked_fill_(...): repaired in place
            if last.endswith("_") and not last.startswith("_"):
                key = _key_of(_peel(func.value))
                if key is not None:
                    keys.append(key)
        else:
            last = func.value if isinstance(func, cst.Name) else ""
        if last in GUARD_FUNCTIONS:
            for a in node.args:
                keys.extend(_tested_keys(a.value, ctx))
        return keys
    if isinstance(node, cst.Assign):
        keys = []
        for t in node.targets:  # std[std == 0] = 1.0
            if isinstance(t.target, cst.Subscript):
                key = _key_of(_peel(t.target.value))
                if key is not None:
                    keys.append(key)
        return keys
    return []


GUARDS = KeyIndex(frozenset({cst.Comparison, cst.If, cst.While, cst.IfExp, cst.Assert, cst.Call, cst.Assign}),
                  _guard_keys)


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


def _key_of(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, (cst.Call, cst.Attribute)):
        return flat_code(expr)
    return None


def _subscript_writes(ctx: FileContext, scope: cst.CSTNode) -> dict[str, list[cst.BaseExpression]]:
    """`name[...] = value` in `scope` (nested functions excluded): name -> the values written."""
    out: dict[str, list[cst.BaseExpression]] = {}

    class Writes(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is scope

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Assign(self, node: cst.Assign) -> None:
            for t in node.targets:
                if isinstance(t.target, cst.Subscript) and isinstance(t.target.value, cst.Name):
                    out.setdefault(t.target.value.value, []).append(node.value)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            if isinstance(node.target, cst.Subscript) and isinstance(node.target.value, cst.Name):
                out.setdefault(node.target.value.value, []).append(node.value)

    scope.visit(Writes())
    return out


@register
class StdDivisionWithoutEpsilon(Rule):
    code = "ML103"
    name = "std-division-without-epsilon"
    summary = "Division by a standard deviation with no epsilon: a constant batch or a batch of one gives inf/NaN."
    fix_applicability = Applicability.SAFE
    # a std is computed and something is divided
    candidates = Calls(*STD_METHODS, *leaves(STD_FUNCTIONS | STD_MEAN_FUNCTIONS)) & \
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
    def _is_std_call(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        name = self.ctx.call_name(expr)
        if name in STD_FUNCTIONS:
            return True
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in STD_METHODS:
            # `x.std()` on a tensor/array/Series; `statistics.std` etc. resolve to other modules
            return name is None or not name.startswith(("statistics.", "math."))
        return False

    def _std_source(self, divisor: cst.BaseExpression) -> tuple[str, cst.CSTNode] | None:
        """(guard key, scope) if `divisor` is a standard deviation without epsilon, else None."""
        ctx = self.ctx
        expr = _peel(divisor)
        if isinstance(expr, cst.Call) and not isinstance(expr.func, cst.Attribute) and expr.args and \
                ctx.qualified_name(expr.func) in SAME_VALUE_FUNCTIONS:
            expr = _peel(expr.args[0].value)
        if self._is_std_call(expr):
            if self._of_built_tensor(expr):
                return None
            return _key_of(expr), ctx.scope()
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            # `2.0 * x.std()`, `std * self.scale`: a constant factor leaves a zero std zero
            for std, factor in ((expr.right, expr.left), (expr.left, expr.right)):
                if _plain_factor(factor):
                    found = self._std_source(std)
                    if found is not None:
                        return found
            return None
        if isinstance(expr, cst.Name):
            scope = self._binding_scope(expr.value)
            if scope is None:
                return None
            bindings = ctx.bindings(scope)[expr.value]
            # every value the name can hold must be a bare std (`std = x.std() + eps`, a second
            # `std = 1.0`, a parameter or `std += eps` all mean someone took care of it)
            for b in bindings:
                if b.kind in ("assign", "annassign", "walrus") and b.index is None:
                    value = _peel(b.value)
                    if not self._is_std_call(value) or self._of_built_tensor(value):
                        return None
                elif b.kind == "unpack" and b.index == 0 and isinstance(b.value, cst.Call) and \
                        ctx.call_name(b.value) in STD_MEAN_FUNCTIONS:
                    continue
                elif b.kind == "unpack" and _unpacked(b.value, b.index) is not None and \
                        self._is_std_call(_peel(_unpacked(b.value, b.index))):
                    continue  # mean, std = x.mean(), x.std()
                else:
                    return None
            return expr.value, scope
        return None

    # ---- tensors built from shapes --------------------------------------------------------------
    def _of_built_tensor(self, std: cst.Call) -> bool:
        """`t.std()` / `torch.std(t)` where `t` is built in this function from constructors only."""
        if self.ctx.call_name(std) in STD_FUNCTIONS:
            if not std.args:
                return False
            tensor = std.args[0].value
        elif isinstance(std.func, cst.Attribute):
            tensor = std.func.value
        else:
            return False
        return self._built(_peel(tensor), set(), needs_tensor=True)

    def _built(self, expr: cst.BaseExpression, seen: set[int], needs_tensor: bool) -> bool:
        """`expr` holds values fixed by the code: constructors, elementwise math on them, numbers and
        (next to a built tensor) plain scalars such as `config.d_model`. With `needs_tensor`, a
        constructor must be part of it (`self.returns - self.baseline` is data)."""
        ctx = self.ctx
        if isinstance(expr, (cst.Integer, cst.Float)):
            return not needs_tensor
        if isinstance(expr, cst.UnaryOperation):
            return self._built(expr.expression, seen, needs_tensor)
        if isinstance(expr, cst.BinaryOperation):
            left, right = _peel(expr.left), _peel(expr.right)
            return (self._built(left, seen, needs_tensor) and self._built(right, seen, False)) or \
                (self._built(right, seen, needs_tensor) and self._built(left, seen, False))
        if isinstance(expr, cst.Attribute):
            return not needs_tensor  # a scalar setting next to a built tensor
        if isinstance(expr, cst.Call):
            name = ctx.call_name(expr)
            if name in CONSTRUCTORS:
                return True
            if name in ELEMENTWISE:
                return all(self._built(_peel(a.value), seen, False) for a in expr.args) and \
                    any(self._built(_peel(a.value), seen, needs_tensor) for a in expr.args)
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("mean", "sum", "std", "max", "min") \
                    and not expr.args:
                return self._built(_peel(expr.func.value), seen, needs_tensor)
            return not needs_tensor and name is not None and name.startswith(SCALAR_MODULES) and \
                all(self._built(_peel(a.value), seen, False) for a in expr.args)
        if isinstance(expr, cst.Name):
            scope = self._binding_scope(expr.value)
            if scope is None or scope is ctx.module:
                return False
            binding = last_binding(ctx, scope, expr)  # `t = t - t.mean()` reads the previous `t`
            if binding is None or binding.kind not in ("assign", "annassign") or binding.index is not None or \
                    binding.value is None or id(binding.node) in seen:
                return False
            seen = seen | {id(binding.node)}
            if not self._built(_peel(binding.value), seen, needs_tensor):
                return False
            writes = ctx.memo.get(_subscript_writes, ctx, scope).get(expr.value, [])
            return all(self._built(_peel(v), seen, False) for v in writes)  # `t[:] = returns` holds data
        return False

    def _binding_scope(self, name: str) -> cst.CSTNode | None:
        """The innermost function (or the module) around the current node that binds `name`."""
        ctx = self.ctx
        for node in ctx.ancestors():
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                if name in ctx.bindings(node):
                    return node
        if ctx.module is not None and name in ctx.bindings(ctx.module):
            return ctx.module
        return None

    def _guarded(self, key: str, scopes: list[cst.CSTNode]) -> bool:
        return any(key in subtree_keys(self.ctx, GUARDS, scope) for scope in scopes)

    def _check(self, divisor: cst.BaseExpression, parens: bool) -> None:
        ctx = self.ctx
        found = self._std_source(divisor)
        if found is None:
            return
        key, scope = found
        scopes = [scope] if scope is ctx.scope() else [scope, ctx.scope()]
        if self._guarded(key, scopes):
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

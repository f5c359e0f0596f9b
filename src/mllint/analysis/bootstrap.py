"""Where a tensor's gradient comes from: the network calls an expression is computed from, followed
backwards through the names of its function (`value_of`, tuple unpacking), tensor methods and torch
functions, and into the helpers of the same file that return it (`self._td_target(...)`).

The walk stops where autograd stops: `.detach()`, `.data`, `.item()`, `.numpy()`, index results
(`argmax`, `.max(1)[1]`, `.indices`), sampling, and any call written inside a no-grad region (a
`with torch.no_grad():` block, a `@torch.no_grad()` function, a function the file calls inside
such a block). A call that is none of those (`self.q_net(next_obs)`, `critic(s, a)`,
`self.critic.Q1(s, a)`) is a *source*: a network output that carries gradient. Each source also
says whether it was reached through a discount factor (`gamma * V(s')`, `gamma ** n * Q`): that
is what makes it a bootstrap.

`sources(frame, expr)` is memoised per (expression, function) in `ctx.memo`; the walk is bounded
in depth, so a query costs at most the size of the expressions it reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import libcst as cst

from mllint.analysis.bindings import Frame, value_of
from mllint.analysis.names import imported_name, leaf_name
from mllint.analysis.recursions import DISCOUNT_FACTOR
from mllint.analysis.timeline import file_facts
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import WORK, walk

# Networks that are copies kept apart from the trained one.
TARGET_NETWORK = re.compile(r"targ|tgt|(^|_)old(_|$)|^old|frozen|lagged|slow|(^|_)ema(_|$)|polyak|momentum", re.I)
MAX_DEPTH = 24  # expression steps followed from one query (names, methods, helpers)

# Tensor methods whose result carries the receiver's gradient (arguments are indices or shapes).
_RECEIVER_METHODS = frozenset({
    "max", "min", "amax", "amin", "mean", "sum", "gather", "squeeze", "unsqueeze", "view", "reshape", "flatten",
    "expand", "expand_as", "repeat", "clamp", "clip", "clamp_min", "clamp_max", "exp", "log", "float", "double",
    "to", "cuda", "cpu", "view_as", "reshape_as", "index_select", "masked_fill", "logsumexp", "softmax",
    "log_softmax", "t", "transpose", "permute", "contiguous", "abs", "neg", "sqrt", "tanh", "sigmoid", "relu",
    "chunk", "split", "unbind", "select", "narrow", "std", "var", "norm", "prod", "cumsum", "squeeze_",
    "unsqueeze_", "type", "type_as", "half", "bfloat16",
})
# Tensor methods that combine the receiver with their arguments.
_BINARY_METHODS = frozenset({"add", "sub", "mul", "div", "minimum", "maximum", "where", "lerp", "addcmul"})
# Results that carry no gradient.
_STOPS = frozenset({"detach", "detach_", "item", "numpy", "tolist", "argmax", "argmin", "argsort", "sample",
                    "long", "int", "bool", "nonzero", "sign", "round", "floor", "ceil", "eq", "ne", "gt", "lt",
                    "ge", "le", "size", "dim", "numel", "new_tensor", "zeros_like", "ones_like", "tensor",
                    "as_tensor", "from_numpy", "no_grad", "randn", "rand", "randint", "randn_like", "rand_like",
                    "zeros", "ones", "full", "arange", "len", "float", "int", "range", "isinstance", "topk",
                    "indices"})
_BUILTINS_ALONG = frozenset({"min", "max", "sum", "abs"})
# Plain calls that are not networks (the iterables and conversions of ordinary code).
_NOT_NETWORKS = frozenset({"zip", "enumerate", "reversed", "range", "list", "tuple", "dict", "set", "sorted", "map",
                           "filter", "iter", "next", "getattr", "print", "str", "len", "float", "int", "bool",
                           "super", "type", "round", "all", "any"})


@dataclass(frozen=True)
class Source:
    network: str  # the callee as written, without `.forward`: `self.q_net`, `critic`, `self.critic.Q1`
    call: cst.Call
    frame: Frame  # where the call is written
    discounted: bool  # reached through a discount factor: a bootstrap
    site: cst.Call | None = None  # the helper call, in the queried function, that leads to `call`

    @property
    def shown(self) -> cst.Call:
        """The call to name in a message: as written where the query was made."""
        return self.site if self.site is not None else self.call


def is_discount(expr: cst.BaseExpression) -> bool:
    """`gamma`, `self.gamma`, `args.discount`, `gamma ** n`, `self.gamma ** self.n_step`."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Power):
        return is_discount(expr.left)
    leaf = leaf_name(expr)
    return leaf is not None and DISCOUNT_FACTOR.search(leaf) is not None


def same_network(a: str, b: str) -> bool:
    """`self.critic` and `self.critic.Q1` are one network; `ac.v` and `ac.pi` are two."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def is_target_network(source: Source) -> bool:
    """Named as a target/old/EMA copy (`target_net`, `qf1_target`, `ac_targ`, `old_policy`), or bound
    to `copy.deepcopy(...)` (`self.target = copy.deepcopy(self.q)`, `q_targ = deepcopy(q)`)."""
    if any(TARGET_NETWORK.search(part) for part in source.network.split(".") if part != "self"):
        return True
    frame, func = source.frame, source.call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    if isinstance(func, cst.Name):
        return deep_copied(frame, func.value)
    if isinstance(func, cst.Attribute) and frame.cls is not None and frame.is_self(func.value):
        _, value = value_of(frame, func)
        return _is_deep_copy(value)
    return False


def _is_deep_copy(value: cst.BaseExpression | None) -> bool:
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
            value.func.attr.value in ("to", "cuda", "requires_grad_", "eval", "train"):
        value = value.func.value  # `copy.deepcopy(net).to(device)`
    return isinstance(value, cst.Call) and leaf_name(value.func) == "deepcopy"


class _Returns(Visitor):
    def __init__(self, root: cst.FunctionDef):
        self.root = root
        self.values: list[cst.BaseExpression] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and node is not self.root:
            return False
        if isinstance(node, cst.Return) and node.value is not None:
            self.values.append(node.value)
        return True


def _returns(ctx, function: cst.FunctionDef) -> list[cst.BaseExpression]:
    finder = _Returns(function)
    walk(function, finder)
    return finder.values


def _deep_copies(ctx, scope: cst.CSTNode) -> frozenset[str]:
    """Local names of `scope` bound to `copy.deepcopy(...)` (a target network built in a function)."""
    out = set()
    for name, bindings in ctx.bindings(scope).items():
        if any(b.kind == "assign" and _is_deep_copy(b.value) for b in bindings):
            out.add(name)
    return frozenset(out)


def deep_copied(frame: Frame, network: str) -> bool:
    scope = frame.func if frame.func is not None else frame.ctx.module
    return network in frame.ctx.memo.get(_deep_copies, frame.ctx, scope) or \
        network in frame.ctx.memo.get(_deep_copies, frame.ctx, frame.ctx.module)


def _unpacked(frame: Frame, name: cst.Name) -> tuple[Frame, cst.BaseExpression] | None:
    """What `name` holds when value_of cannot say: `a, b = f(x)` (the whole call, or the tuple's
    element); `for q in qs` / `[... for q in qs]` (the iterable: its elements carry its gradient)."""
    ctx = frame.ctx
    scope = frame.func if frame.func is not None else ctx.module
    use = ctx.position(name).start
    use = (use.line, use.column)
    last = None
    for b in ctx.bindings(scope).get(name.value, ()):
        where = ctx.position(b.node)
        # an assignment binds after its value is read (`q, _ = q.max(1)` reads the previous `q`)
        point = where.end if b.kind in ("unpack", "assign", "augassign", "annassign") else where.start
        if (point.line, point.column) < use:
            last = b
        elif b.kind == "comp" and last is None and where.start.line - use[0] <= 3:
            last = b  # `sum(F.mse_loss(q, y) for q in qs)`: the target is written after its use
            break
    if last is None or last.kind not in ("unpack", "assign", "annassign", "with", "comp", "for") or last.value is None:
        return None
    value = last.value
    if isinstance(value, (cst.Tuple, cst.List)) and last.index is not None and last.index < len(value.elements):
        value = value.elements[last.index].value
    return frame, value


def _in_no_grad(frame: Frame, call: cst.Call) -> bool:
    facts = file_facts(frame.ctx)
    if facts is None:
        return False
    if call in facts.calls_in_no_grad:
        return True
    func = frame.func
    return func is not None and (func in facts.no_grad_regions or func.name.value in facts.called_in_no_grad)


def _helper(frame: Frame, func: cst.BaseExpression) -> cst.FunctionDef | None:
    """A function (`compute_target(...)`) or method (`self._target(...)`) of this file."""
    facts = file_facts(frame.ctx)
    if facts is None:
        return None
    if isinstance(func, cst.Name):
        return facts.module_functions.get(func.value)
    if isinstance(func, cst.Attribute) and frame.cls is not None and frame.is_self(func.value):
        return facts.methods.get(frame.cls, {}).get(func.attr.value)
    return None


def sources(frame: Frame, expr: cst.BaseExpression) -> tuple[Source, ...]:
    """The network calls `expr`'s value carries gradient from (see the module docstring)."""
    return frame.ctx.memo.get(_sources_fact, frame.ctx, (frame, expr))


def _sources_fact(ctx, key: tuple[Frame, cst.BaseExpression]) -> tuple[Source, ...]:
    frame, expr = key
    out: list[Source] = []
    _walk(frame, expr, False, [0], out, set())
    return tuple(out)


def _walk(frame: Frame, expr: cst.BaseExpression, discounted: bool, steps: list[int], out: list[Source],
          seen: set, summand: bool = False) -> None:
    """`summand`: `expr` is a term of a sum or difference (`r + gamma * v`): only there does a
    product with a discount factor make a bootstrap (not a layer scale `gamma * x`)."""
    steps[0] += 1
    WORK.units += 1
    if steps[0] > MAX_DEPTH * 8 or (id(expr), discounted) in seen:
        return
    seen.add((id(expr), discounted))
    if isinstance(expr, cst.Name):
        if DISCOUNT_FACTOR.search(expr.value) or expr.value in ("None", "True", "False"):
            return
        where, value = value_of(frame, expr)
        if value is expr:
            found = _unpacked(frame, expr)
            if found is None:
                return  # a parameter, a loop variable: not followed
            where, value = found
        _walk(where, value, discounted, steps, out, seen)
    elif isinstance(expr, cst.Attribute):
        if expr.attr.value in ("data", "grad", "indices", "shape") or DISCOUNT_FACTOR.search(expr.attr.value):
            return
        if frame.cls is not None and frame.is_self(expr.value):
            where, value = value_of(frame, expr)
            if value is not expr:
                _walk(where, value, discounted, steps, out, seen)
            return
        _walk(frame, expr.value, discounted, steps, out, seen)
    elif isinstance(expr, cst.Subscript):
        inner = expr.value
        if isinstance(inner, cst.Call) and leaf_name(inner.func) in ("max", "min", "sort", "topk") and \
                len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) and \
                isinstance(expr.slice[0].slice.value, cst.Integer) and expr.slice[0].slice.value.value == "1":
            return  # `.max(1)[1]`: the indices
        _walk(frame, inner, discounted, steps, out, seen)
    elif isinstance(expr, cst.BinaryOperation):
        operator = expr.operator
        if isinstance(operator, cst.Power):
            _walk(frame, expr.left, discounted, steps, out, seen)
        elif isinstance(operator, (cst.Multiply, cst.Divide)):
            factors = _factors(expr)
            discounting = discounted or (summand and any(is_discount(f) for f in factors))
            for factor in factors:
                if not is_discount(factor):
                    _walk(frame, factor, discounting, steps, out, seen)
        else:
            summing = isinstance(operator, (cst.Add, cst.Subtract))
            _walk(frame, expr.left, discounted, steps, out, seen, summing)
            _walk(frame, expr.right, discounted, steps, out, seen, summing)
    elif isinstance(expr, cst.UnaryOperation):
        if not isinstance(expr.operator, cst.Not):
            _walk(frame, expr.expression, discounted, steps, out, seen)
    elif isinstance(expr, (cst.Tuple, cst.List)):
        for element in expr.elements:
            _walk(frame, element.value, discounted, steps, out, seen)
    elif isinstance(expr, cst.IfExp):
        _walk(frame, expr.body, discounted, steps, out, seen)
        _walk(frame, expr.orelse, discounted, steps, out, seen)
    elif isinstance(expr, cst.Call):
        _call(frame, expr, discounted, steps, out, seen)


def _factors(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)) \
            and not expr.lpar:
        return _factors(expr.left) + _factors(expr.right)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
        return _factors(expr.with_changes(lpar=[], rpar=[]))
    return [expr]


def _call(frame: Frame, call: cst.Call, discounted: bool, steps: list[int], out: list[Source], seen: set) -> None:
    ctx = frame.ctx
    if _in_no_grad(frame, call):
        return
    func = call.func
    positional = [arg.value for arg in call.args if not arg.keyword and not arg.star]
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if method in _STOPS:
            return
        receiver = func.value
        receiver_name = dotted_name(receiver)
        qualified = imported_name(ctx.imports, func)
        if receiver_name is not None and (qualified or "").split(".")[0] in ("torch", "numpy", "math", "np"):
            # torch.min(q1, q2), F.smooth_l1_loss: a function of its arguments
            if receiver_name.split(".")[0] in ctx.imports:
                for value in positional:
                    _walk(frame, value, discounted, steps, out, seen)
                return
        if method in _RECEIVER_METHODS or method in _BINARY_METHODS:
            _walk(frame, receiver, discounted, steps, out, seen)  # `q.max(1)`, `self.q_net(x).gather(1, a)`
            if method in _BINARY_METHODS:
                for value in positional:
                    _walk(frame, value, discounted, steps, out, seen)
            return
    elif isinstance(func, cst.Name):
        if func.value in _STOPS:
            return
        if func.value in _BUILTINS_ALONG and func.value not in ctx.imports:
            for value in positional:
                _walk(frame, value, discounted, steps, out, seen)
            return
        qualified = imported_name(ctx.imports, func)
        if qualified is not None and qualified.split(".")[0] in ("torch", "numpy", "math"):
            if qualified.rsplit(".", 1)[-1] in _STOPS:
                return
            for value in positional:
                _walk(frame, value, discounted, steps, out, seen)
            return
    else:
        return
    helper = _helper(frame, func)
    if helper is not None:
        facts = file_facts(ctx)
        if facts is not None and helper in facts.no_grad_regions:
            return
        inner = Frame(ctx, helper, frame.cls if isinstance(func, cst.Attribute) else None)
        found: list[Source] = []
        for value in ctx.memo.get(_returns, ctx, helper):
            _walk(inner, value, discounted, steps, found, seen)
        out.extend(replace(source, site=source.site or call) for source in found)
        return
    network = dotted_name(func)
    if network is None or network in _NOT_NETWORKS:
        return
    if network.endswith(".forward"):
        network = network[: -len(".forward")]
    qualified = imported_name(ctx.imports, func) or ""
    if network.split(".")[0] in ctx.imports and qualified.split(".")[0] in ("torch", "numpy", "math", "random"):
        return
    out.append(Source(network, call, frame, discounted))

"""ML401 zero-initialized-parameter: docs in rules/ML401-zero-initialized-parameter.md."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.classes import self_assignments
from mllint.astutil import find_arg, number
from mllint.candidates import Facts, Pattern, callee, dotted_leaf, leaves
from mllint.context import FileContext, Visitor, dotted_name
from mllint.diagnostics import Applicability, Fix
from mllint.rule import Rule, register
from mllint.traversal import walk

PARAMETER = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}
ZEROS = {"torch.zeros", "torch.zeros_like", "torch.full"}
UNINITIALISED = {"torch.empty", "torch.Tensor", "torch.FloatTensor", "torch.empty_like"}
ZERO_INITS = {"torch.nn.init.zeros_", "torch.nn.init.constant_"}
# Wrappers that keep a tensor's values: `torch.zeros(D, m).to(device)` is still zeros.
SAME_VALUE_METHODS = {"to", "float", "double", "half", "bfloat16", "cuda", "cpu", "contiguous", "type",
                      "requires_grad_", "detach", "clone"}

# Names of row sets whose rows are meant to differ (the seed's menu elements `mus`).
ROW_SET_TOKENS = {"mu", "mus", "means", "prototype", "prototypes", "proto", "protos", "centre", "centres",
                  "center", "centers", "centroid", "centroids", "codebook", "codebooks", "queries", "menu",
                  "menus", "anchors", "atoms", "slots", "clusters", "components"}
# Names of parameters that are meant to start at zero: biases, log-scales, gates and scales
# (residual gates, LayerScale, adaLN-Zero), LoRA's second factor, zero convs, and additive
# position tables whose rows are addressed by position and so never receive identical gradients.
ZERO_START_TOKENS = {"bias", "biases", "gate", "gates", "gating", "gamma", "alpha", "beta", "scale", "scales",
                     "ls", "layerscale", "lambda", "lamda", "temperature", "shift", "shifts", "offset", "offsets",
                     "zero", "adaln", "modulation", "pos", "position", "positions", "positional", "posemb",
                     "rel", "relative", "rpb", "ape", "time", "temporal", "residual", "delta", "deltas"}
# Weight matrices of a linear map: a zero matrix followed by randomly initialised layers still gets
# a different gradient per row (zero-init of heads, routers and projections is common and trains);
# quantised or loaded placeholders use the same names.
LINEAR_MAP_TOKENS = {"weight", "weights", "kernel", "proj", "projection"}
# ...but a layer class that explicitly zero-initialises its own `self.weight` (nn.init.zeros_) makes
# it zero in every instance, and a network built from it is the symmetric all-zero network whose
# hidden units never separate. (Created as `torch.zeros`, a weight is mostly a loading placeholder:
# quantised layers, MoE routers in transformers.)
OWN_WEIGHT_NAMES = {"weight", "weights", "kernel"}
# Lookup tables (embeddings, per-label tables): a row is trained when its index is used, with that
# index's own inputs and targets, so its gradient differs from the other rows'.
LOOKUP_TOKENS = {"embedding", "embeddings", "embed", "emb", "table", "label", "labels"}
NON_FLOAT_DTYPE = re.compile(r"int|float8|bool|long|uint|qint|byte|short", re.I)
# Random (re-)initialisations: functions called on the tensor, and in-place methods of it.
INIT_FUNCTIONS = {"normal_", "uniform_", "trunc_normal_", "trunc_normal_tf_", "xavier_uniform_", "xavier_normal_",
                  "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_", "eye_", "dirac_",
                  "lecun_normal_", "variance_scaling_", "copy_", "constant_", "ones_", "init_weights",
                  "default_init", "glorot_uniform_"}
INIT_METHODS = {"normal_", "uniform_", "copy_", "random_", "exponential_", "cauchy_", "log_normal_",
                "geometric_", "bernoulli_", "add_", "set_", "trunc_normal_", "fill_", "index_copy_",
                "data_copy_", "load_state_dict", "mul_", "sub_"}
GENERIC_LOOP_SOURCES = ("parameters", "named_parameters")
APPLY_NAMES = ("apply", "named_apply")
EPS_STD = "0.01"


def _tokens(name: str) -> set[str]:
    """`attnGate2` -> {"attn", "gate"}: words of a name, numbered copies (`gamma1`, `ls2`) included."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {t.lower() for t in re.split(r"[_\W\d]+", spaced) if t}


def _zero_start_name(name: str) -> bool:
    toks = _tokens(name)
    low = name.lower()
    # log-scales (log_std, actor_logstd, log_alpha) and logits: zero means scale 1 / uniform
    if toks & ZERO_START_TOKENS or low.startswith("log") or any(t.startswith("log") for t in toks):
        return True
    # LoRA's and adapters' B / up factor starts at zero on purpose (the down factor is random)
    return toks == {"b"} or bool(toks & {"lora", "adapter", "adapters"} and toks & {"b", "up"})


def _row_set_name(name: str) -> bool:
    return bool(_tokens(name) & ROW_SET_TOKENS)


def _maybe_zeroed_target(target: ast.expr) -> bool:
    """On CPython's AST, the name tests `_check_zero_init` applies to what it zeroes."""
    while isinstance(target, ast.Attribute) and target.attr in ("data", "_data"):
        target = target.value
    if not isinstance(target, ast.Attribute):
        return False
    own = isinstance(target.value, ast.Name) and target.value.id == "self"
    if target.attr == "weight" and not own:
        owner = target.value.attr if isinstance(target.value, ast.Attribute) else None
        return owner is not None and _row_set_name(owner) and not _zero_start_name(owner)
    return not (_zero_start_name(target.attr) or
                (_tokens(target.attr) & (LINEAR_MAP_TOKENS | LOOKUP_TOKENS) and not _row_set_name(target.attr)
                 and not (own and target.attr in OWN_WEIGHT_NAMES)))


def _is_zero(expr: cst.BaseExpression | None) -> bool:
    return expr is not None and number(expr) == 0


def _chain_names(expr: cst.BaseExpression) -> set[str]:
    """Names a re-initialisation of `expr` counts for: `module.mus.data` -> {"mus"},
    `self.codebook.weight` -> {"weight", "codebook.weight"}, `mus` -> {"mus"}."""
    while isinstance(expr, cst.Attribute) and expr.attr.value in ("data", "_data"):
        expr = expr.value
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Name):
        return {expr.value}
    if isinstance(expr, cst.Attribute):
        out = {expr.attr.value}
        if isinstance(expr.value, cst.Attribute):
            out.add(f"{expr.value.attr.value}.{expr.attr.value}")
        return out
    return set()


class _InitIndex(Visitor):
    """One pass over the file: which parameter names are (re-)initialised somewhere, and which
    classes (or the whole file) initialise parameters generically."""

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.names: set[str] = set()  # names an init call or an indexed/.data assignment touches
        self.assigned: dict[str, int] = {}  # name -> assignments with real values (creations included)
        self.generic_classes: set[int] = set()
        self.generic_file = False
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []
        self.module_functions: dict[str, cst.FunctionDef] = {}

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.classes and not self.functions:
            self.module_functions[node.name.value] = node
        self.functions.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()

    def _mark_generic(self) -> None:
        if self.classes:
            self.generic_classes.add(id(self.classes[0]))
        else:
            self.generic_file = True

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        is_function = not isinstance(func, cst.Attribute) or self._is_function_path(func)
        if is_function and last in INIT_FUNCTIONS and node.args:
            if last == "constant_" and len(node.args) > 1 and _is_zero(node.args[1].value):
                return  # constant_(w, 0) is a zero init, not a re-initialisation
            self.names |= _chain_names(node.args[0].value)
        elif isinstance(func, cst.Attribute) and not is_function and last in INIT_METHODS:
            if last == "fill_" and node.args and _is_zero(node.args[0].value):
                return
            self.names |= _chain_names(func.value)
        if last in APPLY_NAMES and node.args:
            # self.apply(fn) / named_apply(fn, self): a generic init unless we can see that fn only
            # handles other module types (names it touches are indexed wherever it is defined)
            fn = node.args[0].value
            if isinstance(fn, cst.Call) and fn.args and dotted_name(fn.func) in ("partial", "functools.partial"):
                fn = fn.args[0].value
            name = dotted_name(fn) or ""
            local = name.split(".")[-1]
            if not (local in self.module_functions or name.startswith("self.") or local in self._class_methods()):
                self._mark_generic()

    def _class_methods(self) -> set[str]:
        if not self.classes:
            return set()
        return {s.name.value for s in self.classes[0].body.body if isinstance(s, cst.FunctionDef)}

    def _is_function_path(self, func: cst.Attribute) -> bool:
        """`nn.init.normal_(w)`, `init.normal_(w)`, `torch.nn.init.xavier_uniform_(w)`: module
        functions, not tensor methods."""
        qn = self.ctx.qualified_name(func) or ""
        return ".init." in f".{qn}" or qn.startswith(("torch.", "timm.")) or \
            (dotted_name(func.value) or "").split(".")[-1] in ("init", "initialization", "nn_init", "layers")

    def visit_For(self, node: cst.For) -> None:
        # for p in self.parameters(): nn.init.xavier_uniform_(p)
        it = node.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
                it.func.attr.value in GENERIC_LOOP_SOURCES:
            finder = _HasInit()
            walk(node.body, finder)
            if finder.found:
                self._mark_generic()

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            target = t.target
            if isinstance(target, cst.Subscript) or (isinstance(target, cst.Attribute) and
                                                     target.attr.value in ("data", "_data")):
                self.names |= _chain_names(target)  # mus.data = init / mus[i] = v
            elif isinstance(target, cst.Attribute) and _looks_like_param_value(node.value, self.ctx):
                # an assignment of the attribute with real values: a random creation, a warm
                # start, or another branch's init
                name = target.attr.value
                self.assigned[name] = self.assigned.get(name, 0) + 1


def _looks_like_param_value(value: cst.BaseExpression, ctx: FileContext) -> bool:
    """Values that give a parameter real contents: anything but zeros, uninitialised memory,
    None and literals."""
    if isinstance(value, cst.Call) and ctx.call_name(value) in PARAMETER and value.args:
        value = value.args[0].value
    finder = _ZerosInside(ctx)
    walk(value, finder)
    if finder.found:
        return False  # the zero creation itself, also inside nn.ParameterList([...])
    if isinstance(value, cst.Call) and (ctx.call_name(value) in UNINITIALISED or (
            isinstance(value.func, cst.Attribute) and value.func.attr.value == "new_empty")):
        return False
    return not (isinstance(value, cst.Name) and value.value in ("None", "True", "False")) and \
        number(value) is None


class _ZerosInside(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        if _zeros_call(node, self.ctx) is not None:
            self.found = True


class _HasInit(Visitor):
    def __init__(self):
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if last in INIT_FUNCTIONS or last in ("normal_", "uniform_", "copy_"):
            self.found = True


def _zeros_call(expr: cst.BaseExpression | None, ctx: FileContext) -> cst.Call | None:
    """The zero-filled tensor creation inside `expr` (under value-preserving wrappers), else None."""
    while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            expr.func.attr.value in SAME_VALUE_METHODS:
        expr = expr.func.value
    if not isinstance(expr, cst.Call):
        return None
    name = ctx.call_name(expr)
    if name in ("torch.zeros", "torch.zeros_like"):
        return expr
    if name == "torch.full":
        fill = find_arg(expr, "fill_value", 1)
        return expr if fill is not None and _is_zero(fill.value) else None
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "new_zeros":
        return expr
    return None


def _creates_zeros(value: cst.BaseExpression, ctx: FileContext) -> bool:
    if isinstance(value, cst.Call) and ctx.call_name(value) in PARAMETER and value.args:
        return _zeros_call(value.args[0].value, ctx) is not None
    return _zeros_call(value, ctx) is not None


def _size_dims(call: cst.Call, ctx: FileContext) -> int | None:
    """How many sizes other than a literal 1 the creation has (None: not knowable here)."""
    name = ctx.call_name(call)
    if name == "torch.zeros_like":
        return None
    size_kw = find_arg(call, "size")
    if size_kw is not None:
        sizes = [size_kw.value]
    elif name == "torch.full":
        first = find_arg(call, "size", 0)
        sizes = [first.value] if first is not None else []
    else:
        sizes = [a.value for a in call.args if a.keyword is None and a.star != "**"]
        stars = [a for a in call.args if a.keyword is None and a.star == "*"]
        if stars and len(sizes) == 1:
            return None  # torch.zeros(*shape)
    if len(sizes) == 1 and not isinstance(sizes[0], (cst.Tuple, cst.List)):
        value = sizes[0]
        if number(value) is not None or isinstance(value, (cst.BinaryOperation, cst.Subscript)):
            return 0 if number(value) == 1 else 1
        if isinstance(value, cst.Name) and not re.search(r"shape|size|dims", value.value, re.I):
            return 1  # torch.zeros(dim)
        return None  # torch.zeros(shape), torch.zeros(x.shape)
    if len(sizes) == 1:
        sizes = [e.value for e in sizes[0].elements]
    return sum(1 for s in sizes if number(s) != 1)


def _ast_number(expr: ast.expr | None) -> float | None:
    """`number` on CPython's AST: an int or float literal with unary +/- (True is not a number)."""
    if type(expr) is ast.UnaryOp and type(expr.op) in (ast.USub, ast.UAdd):
        inner = _ast_number(expr.operand)
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
        if _ast_number(value) is not None or type(value) in (ast.BinOp, ast.Subscript):
            return 0 if _ast_number(value) == 1 else 1
        if type(value) is ast.Name and not re.search(r"shape|size|dims", value.id, re.I):
            return 1
        return None
    if len(sizes) == 1:
        sizes = [e.value if type(e) is ast.Starred else e for e in sizes[0].elts]
    return sum(1 for s in sizes if _ast_number(s) != 1)


def _ast_chain_names(expr: ast.expr) -> set[str]:
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


def _ast_string_prefix(expr: ast.expr) -> str | None:
    if type(expr) is ast.Constant:
        return expr.value if type(expr.value) is str else None
    if type(expr) is ast.JoinedStr:
        return "".join(v.value for v in expr.values if type(v) is ast.Constant and type(v.value) is str) or None
    return None


def _pure_chain(expr: ast.expr) -> bool:
    """A Name/attribute chain (what `dotted_name` gives a name for)."""
    while type(expr) is ast.Attribute:
        expr = expr.value
    return type(expr) is ast.Name


def _flaggable_name(pname: str) -> bool:
    """The name tests `_check_parameter` applies before it looks at the shape."""
    return not (_zero_start_name(pname) or
                _tokens(pname) & (LINEAR_MAP_TOKENS | LOOKUP_TOKENS) and not _row_set_name(pname))


class _Candidates(Pattern):
    """ML401's candidate pattern: the rule's own name, shape and re-initialisation tests, applied
    on CPython's AST where they can be decided there; whatever cannot be decided keeps the file.

    - `nn.Parameter(<zeros>)`: some name the parameter may be stored under (an assignment's
      target, a string given to register_parameter/setattr around it) passes the name tests, the
      shape may have two or more sizes (or is unknown for a row-set name), and that name is not
      re-initialised by an init function (`trunc_normal_(self.cls_token)`, `nn.init.normal_(...)`)
      or an indexed / `.data` assignment (a subset of what the rule counts as re-initialised).
    - `nn.init.zeros_/constant_(x, 0)`, `x.zero_()`, `x.fill_(0)`: what is zeroed passes
      `_maybe_zeroed_target`, the value is a literal zero, and unless it is another module's
      `.weight` (a row set), `self.<attr> = <...>.Parameter(...)` is assigned somewhere in the file
      (`_class_parameter` needs that creation)."""

    def __call__(self, facts: Facts) -> bool:
        parameter_calls = [c for leaf in leaves(PARAMETER) for c in facts.calls.get(leaf, ())]
        zero_inits = [c for leaf in (*leaves(ZERO_INITS), "zero_", "fill_") for c in facts.calls.get(leaf, ())]
        zeros_leaves = {leaf: leaf for leaf in (*leaves(ZEROS), "new_zeros")}
        for alias in facts.nodes.get(ast.alias, ()):
            leaf = alias.name.rsplit(".", 1)[-1]
            if alias.asname and leaf in zeros_leaves:
                zeros_leaves[alias.asname] = leaf
        return bool(parameter_calls) and self._parameter_case(facts, parameter_calls, zeros_leaves) or \
            bool(zero_inits) and self._zero_init_case(facts, parameter_calls, zero_inits)

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
                if fill is not _UNKNOWN and _ast_number(fill) != 0:
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
                if dims is _UNKNOWN or (dims is None and _row_set_name(name)) or (dims is not None and dims >= 2):
                    return True
        return False

    @staticmethod
    def _reinitialised(facts: Facts) -> set[str]:
        """Names the rule's _InitIndex surely puts among the re-initialised (a subset of them)."""
        names: set[str] = set()
        for leaf in INIT_FUNCTIONS - {"constant_"}:
            for call in facts.calls.get(leaf, ()):
                func = call.func
                is_function = type(func) is ast.Name or (
                    type(func) is ast.Attribute and _pure_chain(func.value) and
                    dotted_leaf(func.value) in ("init", "initialization", "nn_init", "layers"))
                if is_function and call.args and type(call.args[0]) is not ast.Starred:
                    names |= _ast_chain_names(call.args[0])
        for node in facts.of_type(ast.Assign):
            for target in node.targets:
                if type(target) is ast.Subscript or (type(target) is ast.Attribute and target.attr in ("data", "_data")):
                    names |= _ast_chain_names(target)
        return names

    def _zero_init_case(self, facts: Facts, parameter_calls, zero_inits) -> bool:
        created = {id(c) for c in parameter_calls if c.args or c.keywords}
        parameters: set[str] = set()  # self.<attr> = <...>.Parameter(...)
        for node in facts.of_type(ast.Assign, ast.AnnAssign):
            if id(node.value) not in created:
                continue
            for target in (node.targets if type(node) is ast.Assign else [node.target]):
                if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                    parameters.add(target.attr)
        for call in zero_inits:
            leaf = callee(call)
            if leaf in ("zero_", "fill_"):
                if type(call.func) is not ast.Attribute:
                    continue
                target = call.func.value
                if leaf == "fill_":
                    first = call.args[0] if call.args else call.keywords[0].value if call.keywords else None
                    if first is None or (type(first) is not ast.Starred and _ast_number(first) != 0):
                        continue
            else:
                target = call.args[0] if call.args else call.keywords[0].value if call.keywords else None
                if target is None:
                    continue
                if leaf == "constant_":
                    value = _ast_arg(call, "val", 1)
                    if value is not _UNKNOWN and _ast_number(value) != 0:
                        continue
            if not _maybe_zeroed_target(target):
                continue
            while type(target) is ast.Attribute and target.attr in ("data", "_data"):
                target = target.value
            own = type(target.value) is ast.Name and target.value.id == "self"
            if (target.attr == "weight" and not own) or target.attr in parameters:
                return True
        return False


@register
class ZeroInitializedParameter(Rule):
    code = "ML401"
    name = "zero-initialized-parameter"
    summary = "A learnable multi-row parameter starts as all zeros: its rows get identical gradients and never separate."
    fix_applicability = Applicability.UNSAFE
    # zeros created inside `nn.Parameter(...)` stored under a name the rule's tests let through and
    # not re-initialised, or a zero init of a parameter created in the file (see _Candidates)
    candidates = _Candidates()

    _index: _InitIndex | None = None

    def _init_index(self) -> _InitIndex:
        if self._index is None:
            self._index = _InitIndex(self.ctx)
            walk(self.ctx.module, self._index)
        return self._index

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.call_name(node)
        if name in PARAMETER:
            self._check_parameter(node)
        elif name in ZERO_INITS:
            self._check_zero_init(node, name)
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in ("zero_", "fill_"):
            self._check_zero_init(node, None)

    # ---- nn.Parameter(torch.zeros(...)) ----------------------------------------------------------
    def _check_parameter(self, node: cst.Call) -> None:
        ctx = self.ctx
        data = find_arg(node, "data", 0)
        grad = find_arg(node, "requires_grad", 1)
        if data is None or (grad is not None and not (isinstance(grad.value, cst.Name) and grad.value.value == "True")):
            return  # requires_grad=False (or unknown): not learnable
        zeros = _zeros_call(data.value, ctx)
        if zeros is None:
            return
        pname = self._target_name(node)
        if pname is None or _zero_start_name(pname):
            return
        if _tokens(pname) & (LINEAR_MAP_TOKENS | LOOKUP_TOKENS) and not _row_set_name(pname):
            return  # (a `torch.zeros` weight in a constructor is mostly a placeholder for loaded weights)
        dtype = find_arg(zeros, "dtype")
        if dtype is not None and NON_FLOAT_DTYPE.search(ctx.code(dtype.value)):
            return  # integer / float8 storage: loaded, not trained from this init
        dims = _size_dims(zeros, ctx)
        if dims is None:
            if not _row_set_name(pname):
                return  # unknown shape: only named row sets are flagged
        elif dims < 2:
            return
        if self._reinitialised(pname):
            return
        fix = self._fix_creation(zeros, wrapped=zeros is not data.value)
        what = f"{dims}-D parameter" if dims is not None else "parameter (a set of rows)"
        self.report(zeros, self._message(pname, what), fix)

    # ---- nn.init.zeros_(self.mus), self.mus.data.zero_() -----------------------------------------
    def _check_zero_init(self, node: cst.Call, name: str | None) -> None:
        ctx = self.ctx
        if name == "torch.nn.init.constant_":
            value = find_arg(node, "val", 1)
            if value is None or not _is_zero(value.value):
                return
            target = node.args[0].value
        elif name == "torch.nn.init.zeros_":
            if not node.args:
                return
            target = node.args[0].value
        else:
            func = node.func
            if func.attr.value == "fill_" and not (node.args and _is_zero(node.args[0].value)):
                return
            target = func.value
        inner = target
        while isinstance(inner, cst.Attribute) and inner.attr.value in ("data", "_data"):
            inner = inner.value
        if not isinstance(inner, cst.Attribute):
            return
        attr = inner.attr.value
        own = 0
        if attr == "weight" and not (isinstance(inner.value, cst.Name) and inner.value.value == "self"):
            # a submodule's weight: flagged only for row sets (`self.codebook = nn.Embedding(...)`)
            owner = inner.value.attr.value if isinstance(inner.value, cst.Attribute) else None
            if owner is None or not _row_set_name(owner) or _zero_start_name(owner):
                return
            pname, key = owner, f"{owner}.weight"
        else:
            # the name tests first: they decide alone, and cost nothing next to finding the creation
            if _zero_start_name(attr) or (_tokens(attr) & (LINEAR_MAP_TOKENS | LOOKUP_TOKENS) and
                                          not _row_set_name(attr) and not self._own_weight(attr)):
                return
            creation = self._class_parameter(attr)
            if creation is None:
                return
            dims = _size_dims(creation, ctx) if isinstance(creation, cst.Call) else None
            if dims is None and not _row_set_name(attr) or dims is not None and dims < 2:
                return
            pname, key = attr, attr
            own = 1 if _looks_like_param_value(creation, ctx) else 0  # randn(...) then zeros_: zero
        if self._reinitialised(key, own):
            return
        self.report(node, self._message(pname, "parameter"), self._fix_zero_init(node, name))

    def _own_weight(self, name: str) -> bool:
        """`self.weight` of a layer class (not one named as zero-initialised: `ZeroLinear`)."""
        cls = self.ctx.enclosing_class()
        return name in OWN_WEIGHT_NAMES and cls is not None and "zero" not in _tokens(cls.name.value)

    def _class_parameter(self, attr: str) -> cst.BaseExpression | None:
        """The tensor passed to `self.<attr> = nn.Parameter(<tensor>)` in the enclosing class."""
        cls = self.ctx.enclosing_class()
        if cls is None:
            return None
        # The class's `self.<attr> = ...` assignments are collected once per file (analysis.classes);
        # whether the call is nn.Parameter is decided here, with the names in scope at this node.
        tensor = None
        for assignment in self_assignments(self.ctx, cls).get(attr, ()):
            call = assignment.value
            if isinstance(call, cst.Call) and call.args and self.ctx.call_name(call) in PARAMETER:
                tensor = call.args[0].value
        return tensor

    # ---- shared -------------------------------------------------------------------------------
    def _target_name(self, node: cst.Call) -> str | None:
        """The name the parameter is stored under: `self.mus = ...` -> "mus"; also
        register_parameter("mus", ...), setattr(self, "mus", ...) and plain names."""
        for anc in self.ctx.ancestors():
            if isinstance(anc, cst.Call):
                last = anc.func.attr.value if isinstance(anc.func, cst.Attribute) else \
                    anc.func.value if isinstance(anc.func, cst.Name) else ""
                index = {"register_parameter": 0, "setattr": 1}.get(last)
                if index is not None and len(anc.args) > index:
                    return _string_prefix(anc.args[index].value)
            if isinstance(anc, cst.Assign):
                target = anc.targets[0].target
                break
            if isinstance(anc, cst.AnnAssign):
                target = anc.target
                break
            if isinstance(anc, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return None
        else:
            return None
        while isinstance(target, cst.Subscript):
            target = target.value
        if isinstance(target, cst.Attribute):
            return target.attr.value
        if isinstance(target, cst.Name):
            return target.value
        return None

    def _reinitialised(self, key: str, own_assignments: int = 0) -> bool:
        """Is `key` given real values anywhere else in the file? `own_assignments`: how many of its
        real-value assignments are the creation being zeroed (`nn.Parameter(torch.randn(...))`
        followed by `zeros_`), which do not count."""
        index = self._init_index()
        if index.generic_file or key in index.names or index.assigned.get(key, 0) > own_assignments:
            return True
        cls = self.ctx.enclosing_class()
        return cls is not None and id(cls) in index.generic_classes or \
            any(id(c) in index.generic_classes for c in self.ctx.ancestors() if isinstance(c, cst.ClassDef))

    def _message(self, pname: str, what: str) -> str:
        return (f"`{pname}` is a learnable {what} initialised to zeros and never re-initialised: every row starts "
                f"identical, gets identical gradients and never separates; initialise it randomly "
                f"(e.g. `torch.randn(...) * {EPS_STD}`)")

    def _torch_alias(self, func: cst.BaseExpression) -> str | None:
        if isinstance(func, cst.Attribute):
            return self.ctx.code(func.value)
        for local, full in self.ctx.imports.items():
            if full == "torch":
                return local
        return None

    def _fix_creation(self, zeros: cst.Call, wrapped: bool) -> Fix | None:
        ctx = self.ctx
        name = ctx.call_name(zeros)
        args = list(zeros.args)
        if name == "torch.full":
            fill = find_arg(zeros, "fill_value", 1)
            args = [a for a in args if a is not fill]
            if fill is zeros.args[-1] and args:
                args[-1] = args[-1].with_changes(comma=fill.comma)  # keep the call's own ending
        call = zeros.with_changes(args=args)
        if isinstance(zeros.func, cst.Attribute) and zeros.func.attr.value == "new_zeros" and name not in ZEROS:
            new = f"{ctx.code(call.with_changes(func=zeros.func.with_changes(attr=cst.Name('new_empty'))))}" \
                  f".normal_(std={EPS_STD})"
        else:
            alias = self._torch_alias(zeros.func)
            if alias is None:
                return None
            fn = "randn_like" if name == "torch.zeros_like" else "randn"
            new = f"{ctx.code(call.with_changes(func=cst.parse_expression(f'{alias}.{fn}')))} * {EPS_STD}"
            if wrapped:
                new = f"({new})"  # torch.zeros(D, m).to(device)
        return Fix(Applicability.UNSAFE, f"Initialise randomly with std {EPS_STD}", (ctx.replace(zeros, new),))

    def _fix_zero_init(self, node: cst.Call, name: str | None) -> Fix | None:
        ctx = self.ctx
        if name in ZERO_INITS:
            if isinstance(node.func, cst.Attribute):
                func = ctx.code(node.func.value) + ".normal_"
            else:
                alias = self._torch_alias(node.func)
                if alias is None:
                    return None
                func = f"{alias}.nn.init.normal_"
            new = f"{func}({ctx.code(node.args[0].value)}, std={EPS_STD})"
        else:
            new = f"{ctx.code(node.func.value)}.normal_(std={EPS_STD})"
        return Fix(Applicability.UNSAFE, f"Initialise randomly with std {EPS_STD}", (ctx.replace(node, new),))


def _string_prefix(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.FormattedString):
        return "".join(p.value for p in expr.parts if isinstance(p, cst.FormattedStringText)) or None
    return None

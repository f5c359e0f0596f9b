"""Learnable parameters and their initialisation: which tensor creations are zeros and of what
shape, what a parameter's name says about its role, and, once per file (`init_index`), which
parameters are given real values somewhere, only behind a flag that is off by default, or by a
generic initialiser (`self.apply(fn)`, a loop over `named_parameters()` that may skip names); and
the file's helpers that zero the weight of the layer they are given (`zeroing_helpers`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable

import libcst as cst

from mllint.analysis.astutil import SAME_VALUE_METHODS, find_arg, number
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.engine.traversal import walk

PARAMETER = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}
ZEROS = {"torch.zeros", "torch.zeros_like", "torch.full"}
UNINITIALISED = {"torch.empty", "torch.Tensor", "torch.FloatTensor", "torch.empty_like"}
ZERO_INITS = {"torch.nn.init.zeros_", "torch.nn.init.constant_"}
# Layers whose weight a zeroing helper may be given (`init(nn.Linear(4, 64))`).
LAYER_TYPES = {"Linear", "Conv1d", "Conv2d", "Conv3d", "LazyLinear", "Bilinear"}

# ---- what a name says about a parameter's role ---------------------------------------------------
# Row sets whose rows are meant to differ (the seed's menu elements `mus`, codebooks, prototypes).
ROW_SET_TOKENS = {"mu", "mus", "means", "prototype", "prototypes", "proto", "protos", "centre", "centres",
                  "center", "centers", "centroid", "centroids", "codebook", "codebooks", "code", "codes",
                  "codeword", "codewords", "queries", "menu", "menus", "anchors", "atoms", "slots", "cluster",
                  "clusters", "components"}
# Parameters meant to start at zero: biases, log-scales, gates and scales (residual gates,
# LayerScale, adaLN-Zero), zero convs, and additive position tables (rows addressed by position).
ZERO_START_TOKENS = {"bias", "biases", "gate", "gates", "gating", "gamma", "alpha", "beta", "scale", "scales",
                     "ls", "layerscale", "lambda", "lamda", "temperature", "shift", "shifts", "offset", "offsets",
                     "zero", "zeros", "adaln", "modulation", "pos", "position", "positions", "positional", "posemb",
                     "rel", "relative", "rpb", "ape", "time", "temporal", "residual", "delta", "deltas"}
# Weight matrices of a linear map (a zero matrix before random layers still gets a gradient per
# row; also the names of loading placeholders), and lookup tables (a row trains with its index).
LINEAR_MAP_TOKENS = {"weight", "weights", "kernel", "proj", "projection"}
LOOKUP_TOKENS = {"embedding", "embeddings", "embed", "emb", "table", "label", "labels"}
OWN_WEIGHT_NAMES = {"weight", "weights", "kernel"}
# Words of an `if` test around a zero init that say which layer it is meant for.
LAST_LAYER_WORDS = re.compile(r"zero|last|final|out|head|classif|logit|residual|skip|gate", re.I)
HIDDEN_TOKENS = {"hidden", "hid"}
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


def tokens(name: str) -> set[str]:
    """`attnGate2` -> {"attn", "gate"}: words of a name, numbered copies (`gamma1`, `ls2`) included."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {t.lower() for t in re.split(r"[_\W\d]+", spaced) if t}


def zero_start_name(name: str) -> bool:
    toks = tokens(name)
    low = name.lower()
    # log-scales (log_std, actor_logstd, log_alpha) and logits: zero means scale 1 / uniform
    if toks & ZERO_START_TOKENS or low.startswith("log") or any(t.startswith("log") for t in toks):
        return True
    # LoRA's and adapters' B / up factor starts at zero on purpose (the down factor is random)
    return toks == {"b"} or bool(toks & {"lora", "adapter", "adapters"} and toks & {"b", "up"})


def row_set_name(name: str) -> bool:
    return bool(tokens(name) & ROW_SET_TOKENS)


# Sizes that count rows meant to differ: `num_codes`, `n_prototypes`, `codebook_size`, `num_queries`.
COUNTED_ROW_TOKENS = {"code", "codes", "codebook", "codeword", "codewords", "prototype", "prototypes", "proto",
                      "protos", "cluster", "clusters", "centroid", "centroids", "centers", "centres", "queries",
                      "slots"}
COUNT_TOKENS = {"num", "n", "number", "size", "count", "k"}


def counts_row_set(size: cst.BaseExpression | None) -> bool:
    """A size named as a number of codes / prototypes / clusters (`num_codes`, `self.n_prototypes`,
    `codebook_size`): the tensor is a table of such rows, whatever it is called."""
    name = dotted_name(size) if size is not None else None
    words = tokens(name.rsplit(".", 1)[-1]) if name is not None else set()
    return bool(words & COUNTED_ROW_TOKENS and words & COUNT_TOKENS)


def excluded_matrix_name(name: str) -> bool:
    """A weight-matrix or lookup-table name not also named as a row set."""
    return bool(tokens(name) & (LINEAR_MAP_TOKENS | LOOKUP_TOKENS)) and not row_set_name(name)


def maybe_zeroed_target(target: ast.expr) -> bool:
    """On CPython's AST (the candidate pattern): could a zero init of `target` be reported by the
    name tests alone? (Tables sized by a count of codes and helpers' `layer.weight` have their
    own, narrower patterns in the rule.)"""
    while isinstance(target, ast.Attribute) and target.attr in ("data", "_data"):
        target = target.value
    if not isinstance(target, ast.Attribute):
        return False
    own = isinstance(target.value, ast.Name) and target.value.id == "self"
    if target.attr == "weight" and not own:
        owner = target.value.attr if isinstance(target.value, ast.Attribute) else None
        return owner is not None and row_set_name(owner) and not zero_start_name(owner)
    return not (zero_start_name(target.attr) or (excluded_matrix_name(target.attr)
                                                  and not (own and target.attr in OWN_WEIGHT_NAMES)))


# ---- tensor creations ----------------------------------------------------------------------------
def is_zero(expr: cst.BaseExpression | None) -> bool:
    return expr is not None and number(expr) == 0


def zeros_call(expr: cst.BaseExpression | None, ctx: FileContext) -> cst.Call | None:
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
        return expr if fill is not None and is_zero(fill.value) else None
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "new_zeros":
        return expr
    return None


def sizes(call: cst.Call, ctx: FileContext) -> list[cst.BaseExpression] | None:
    """The size arguments of a creation (None: not knowable here, `zeros_like`, `zeros(*shape)`)."""
    name = ctx.call_name(call)
    if name == "torch.zeros_like":
        return None
    size_kw = find_arg(call, "size")
    if size_kw is not None:
        found = [size_kw.value]
    elif name == "torch.full":
        first = find_arg(call, "size", 0)
        found = [first.value] if first is not None else []
    else:
        found = [a.value for a in call.args if a.keyword is None and a.star != "**"]
        if any(a.keyword is None and a.star == "*" for a in call.args) and len(found) == 1:
            return None  # torch.zeros(*shape)
    if len(found) == 1 and isinstance(found[0], (cst.Tuple, cst.List)):
        return [e.value for e in found[0].elements]
    return found


def size_dims(call: cst.Call, ctx: FileContext) -> int | None:
    """How many sizes other than a literal 1 the creation has (None: not knowable here)."""
    found = sizes(call, ctx)
    if found is None:
        return None
    if len(found) == 1 and not isinstance(found[0], (cst.Tuple, cst.List)):
        value = found[0]
        if number(value) is not None or isinstance(value, (cst.BinaryOperation, cst.Subscript)):
            return 0 if number(value) == 1 else 1
        if isinstance(value, cst.Name) and not re.search(r"shape|size|dims", value.value, re.I):
            return 1  # torch.zeros(dim)
        return None  # torch.zeros(shape), torch.zeros(x.shape)
    return sum(1 for s in found if number(s) != 1)


def looks_like_param_value(value: cst.BaseExpression, ctx: FileContext) -> bool:
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
    return not (isinstance(value, cst.Name) and value.value in ("None", "True", "False")) and number(value) is None


class _ZerosInside(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        if zeros_call(node, self.ctx) is not None:
            self.found = True


def stored_name(ctx: FileContext) -> str | None:
    """The name the call being visited is stored under: `self.mus = ...` -> "mus"; also
    register_parameter("mus", ...), setattr(self, "mus", ...) and plain names."""
    for anc in ctx.ancestors():
        if isinstance(anc, cst.Call):
            last = _last(anc.func)
            index = {"register_parameter": 0, "setattr": 1}.get(last)
            if index is not None and len(anc.args) > index:
                return _string_prefix(anc.args[index].value)
        if isinstance(anc, (cst.Assign, cst.AnnAssign)):
            target = anc.targets[0].target if isinstance(anc, cst.Assign) else anc.target
            while isinstance(target, cst.Subscript):
                target = target.value
            return target.attr.value if isinstance(target, cst.Attribute) else \
                target.value if isinstance(target, cst.Name) else None
        if isinstance(anc, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return None
    return None


def _string_prefix(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.FormattedString):
        return "".join(p.value for p in expr.parts if isinstance(p, cst.FormattedStringText)) or None
    return None


def _last(func: cst.BaseExpression) -> str:
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""


def chain_names(expr: cst.BaseExpression) -> set[str]:
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


def zeroed_tensor(call: cst.Call, ctx: FileContext) -> cst.BaseExpression | None:
    """What a zero init call zeroes: `nn.init.zeros_(w)`, `nn.init.constant_(w, 0)`, `w.zero_()`,
    `w.fill_(0)` -> `w`; else None."""
    name = ctx.call_name(call)
    if name == "torch.nn.init.constant_":
        value = find_arg(call, "val", 1)
        return call.args[0].value if value is not None and is_zero(value.value) else None
    if name == "torch.nn.init.zeros_":
        return call.args[0].value if call.args else None
    func = call.func
    if isinstance(func, cst.Attribute) and (func.attr.value == "zero_" or func.attr.value == "fill_"
                                            and call.args and is_zero(call.args[0].value)):
        return func.value
    return None


# ---- where parameters get real values: one walk per file -----------------------------------------
ALL_NAMES: Callable[[str], bool] = lambda name: True  # noqa: E731 - a generic init covers every name


@dataclass
class InitIndex:
    names: set[str] = field(default_factory=set)  # names an init call or an indexed/.data assignment touches
    flagged: dict[str, str] = field(default_factory=dict)  # name -> the off-by-default flag its only init needs
    assigned: dict[str, int] = field(default_factory=dict)  # name -> assignments with real values
    # class (id) or None for the file -> which parameter names its generic initialisers cover
    generic: dict[int | None, list[Callable[[str], bool]]] = field(default_factory=dict)

    def covers(self, classes: list[cst.ClassDef], name: str) -> bool:
        """Does a generic initialiser of the file or of one of `classes` cover parameter `name`?"""
        for key in (None, *(id(c) for c in classes)):
            if any(test(name) for test in self.generic.get(key, ())):
                return True
        return False


class _InitWalk(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.index = InitIndex()
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []
        self.module_functions: set[str] = set()
        self.branches: list[tuple[cst.If, bool]] = []  # enclosing ifs: (node, in the else branch)
        self.off_attrs: dict[int, dict[str, str]] = {}  # class -> `self.<attr> = <off-by-default parameter>`
        # loops over (named_)parameters(): (name variable, name tests of their inits, `continue` tests)
        self.loops: list[tuple[str | None, list | None, list]] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.classes and not self.functions:
            self.module_functions.add(node.name.value)
        self.functions.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_If(self, node: cst.If) -> None:
        if self.branches and self.branches[-1][0].orelse is node:
            self.branches[-1] = (self.branches[-1][0], True)  # an elif: the parent's else branch
        self.branches.append((node, False))
        body = node.body.body
        if self.loops and self.loops[-1][1] is not None and node.orelse is None and len(body) == 1 and \
                isinstance(body[0], (cst.SimpleStatementLine, cst.Continue)) and \
                (isinstance(body[0], cst.Continue) or isinstance(body[0].body[0], cst.Continue)):
            self.loops[-1][2].append(node.test)  # if "bias" in name: continue

    def leave_If(self, node: cst.If) -> None:
        self.branches.pop()

    def visit_Else(self, node: cst.Else) -> None:
        if self.branches:
            self.branches[-1] = (self.branches[-1][0], True)

    def _generic_key(self) -> int | None:
        return id(self.classes[0]) if self.classes else None

    def _add_generic(self, test: Callable[[str], bool]) -> None:
        self.index.generic.setdefault(self._generic_key(), []).append(test)

    def _touch(self, names: set[str]) -> None:
        loop = next((loop for loop in reversed(self.loops) if loop[1] is not None), None)
        if loop is not None:
            loop[1].append(self._name_test(loop))
        flag = self._off_flag()
        for name in names:
            if flag is None:
                self.index.names.add(name)
            elif name not in self.index.names:
                self.index.flagged.setdefault(name, flag)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = _last(func)
        is_function = not isinstance(func, cst.Attribute) or self._is_function_path(func)
        if is_function and last in INIT_FUNCTIONS and node.args:
            if not (last == "constant_" and len(node.args) > 1 and is_zero(node.args[1].value)):
                self._touch(chain_names(node.args[0].value))  # constant_(w, 0) is a zero init
        elif isinstance(func, cst.Attribute) and not is_function and last in INIT_METHODS:
            if not (last == "fill_" and node.args and is_zero(node.args[0].value)):
                self._touch(chain_names(func.value))
        if last in APPLY_NAMES and node.args:
            # self.apply(fn) / named_apply(fn, self): a generic init unless fn is in this file
            # (then the names it touches are indexed wherever it is defined)
            fn = node.args[0].value
            if isinstance(fn, cst.Call) and fn.args and dotted_name(fn.func) in ("partial", "functools.partial"):
                fn = fn.args[0].value
            name = dotted_name(fn) or ""
            local = name.split(".")[-1]
            methods = {s.name.value for s in self.classes[0].body.body if isinstance(s, cst.FunctionDef)} \
                if self.classes else set()
            if not (local in self.module_functions or name.startswith("self.") or local in methods):
                self._add_generic(ALL_NAMES)

    def _is_function_path(self, func: cst.Attribute) -> bool:
        """`nn.init.normal_(w)`, `init.normal_(w)`, `torch.nn.init.xavier_uniform_(w)`: module
        functions, not tensor methods."""
        qn = self.ctx.qualified_name(func) or ""
        return ".init." in f".{qn}" or qn.startswith(("torch.", "timm.")) or \
            (dotted_name(func.value) or "").split(".")[-1] in ("init", "initialization", "nn_init", "layers")

    def visit_For(self, node: cst.For) -> None:
        # for p in self.parameters(): nn.init.xavier_uniform_(p), possibly skipping names
        it = node.iter
        generic = isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
            it.func.attr.value in GENERIC_LOOP_SOURCES
        name = None
        if generic and isinstance(node.target, cst.Tuple) and node.target.elements and \
                isinstance(node.target.elements[0].value, cst.Name):
            name = node.target.elements[0].value.value
        self.loops.append((name, [] if generic else None, []))

    def leave_For(self, node: cst.For) -> None:
        name, tests, _ = self.loops.pop()
        for test in tests or ():
            self._add_generic(test)

    def _name_test(self, loop: tuple) -> Callable[[str], bool]:
        """Which parameter names reach the init being visited, from the tests on the loop's name
        variable (`if "weight" in name:`, `if name.endswith("bias"): continue`); other tests are
        assumed to let every name through."""
        variable, _, skips = loop
        if variable is None:
            return ALL_NAMES
        parts = [_string_test(branch.test, variable, in_else) for branch, in_else in self.branches]
        parts += [_string_test(test, variable, True) for test in skips]
        known = [p for p in parts if p is not None]
        return lambda pname: all(p(pname) for p in known)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            target = t.target
            if isinstance(target, cst.Subscript) or (isinstance(target, cst.Attribute) and
                                                     target.attr.value in ("data", "_data")):
                self._touch(chain_names(target))  # mus.data = init / mus[i] = v
            elif isinstance(target, cst.Attribute) and target.attr.value == "grad":
                # `p.grad = g` (an optimizer's test): the rows get the gradients written, not identical ones
                self._touch(chain_names(target.value))
            elif isinstance(target, cst.Attribute) and isinstance(node.value, cst.Name) and self.classes and \
                    dotted_name(target.value) == "self" and self._default_off(node.value) is not None:
                self.off_attrs.setdefault(id(self.classes[-1]), {})[target.attr.value] = node.value.value
            elif isinstance(target, cst.Attribute) and looks_like_param_value(node.value, self.ctx):
                # a random creation, a warm start, or another branch's init
                name = target.attr.value
                self.index.assigned[name] = self.index.assigned.get(name, 0) + 1

    def _off_flag(self) -> str | None:
        """The flag, off by default, that the current branch needs (`if init:` with `init=False`)."""
        for branch, in_else in self.branches:
            test, negated = branch.test, in_else
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
                test, negated = test.expression, not negated
            if negated:
                continue
            flag = self._default_off(test)
            if flag is not None:
                return flag
        return None

    def _default_off(self, test: cst.BaseExpression) -> str | None:
        if isinstance(test, cst.Attribute) and dotted_name(test.value) == "self" and self.classes:
            name = test.attr.value
            return name if name in self.off_attrs.get(id(self.classes[-1]), {}) else None
        if not isinstance(test, cst.Name) or "zero" in tokens(test.value):
            return None
        name = test.value
        for func in reversed(self.functions):
            for param in (*func.params.params, *func.params.kwonly_params):
                if param.name.value == name:
                    default = param.default
                    off = isinstance(default, cst.Name) and default.value in ("False", "None")
                    return name if off else None
        return None


def _string_test(test: cst.BaseExpression, variable: str, negated: bool) -> Callable[[str], bool] | None:
    """`"w" in name`, `name.endswith("w")`, `name.startswith(...)`, `not`, `and`, `or` of those, as a
    test of a parameter's own name; None when the test is about something else."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _string_test(test.expression, variable, not negated)
    inner = None
    if isinstance(test, cst.BooleanOperation):
        left, right = _string_test(test.left, variable, False), _string_test(test.right, variable, False)
        if left is None or right is None:
            return None
        both = isinstance(test.operator, cst.And)
        inner = (lambda n: left(n) and right(n)) if both else (lambda n: left(n) or right(n))
    elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.SimpleString) \
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == variable:
        text = test.left.evaluated_value
        if isinstance(text, str) and isinstance(test.comparisons[0].operator, (cst.In, cst.NotIn)):
            positive = isinstance(test.comparisons[0].operator, cst.In)
            inner = lambda n: (text in n) == positive  # noqa: E731
    elif isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and \
            isinstance(test.func.value, cst.Name) and test.func.value.value == variable and \
            test.func.attr.value in ("endswith", "startswith") and len(test.args) == 1 and \
            isinstance(test.args[0].value, cst.SimpleString):
        text = test.args[0].value.evaluated_value
        method = test.func.attr.value
        if isinstance(text, str):
            inner = (lambda n: n.endswith(text)) if method == "endswith" else (lambda n: n.split(".")[-1].startswith(text))
    if inner is None:
        return None
    return (lambda n: not inner(n)) if negated else inner


def _init_index(ctx: FileContext, _key: None) -> InitIndex:
    finder = _InitWalk(ctx)
    walk(ctx.module, finder)
    return finder.index


def init_index(ctx: FileContext) -> InitIndex:
    """Where parameters get real values in this file (computed once, on first use)."""
    return ctx.memo.get(_init_index, ctx, None)


# ---- helpers that zero the weight of the layer they are given --------------------------------
@dataclass(frozen=True)
class ZeroingHelper:
    """A function or method of the file that zeroes its layer argument's weight (`init(layer)`
    doing `nn.init.zeros_(layer.weight)`), and why some layer it is given is a hidden one."""

    name: str
    hidden: str  # e.g. "`self.fc1`, not the last layer", "every layer `self.apply` reaches"


class _Helpers(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.guards: list[list[cst.If]] = []  # per enclosing function, the ifs around the node
        self.zeroing: dict[str, list[tuple[cst.Call, str]]] = {}  # helper -> its zero inits, (call, layer)
        self.random: set[tuple[str, str]] = set()  # (helper, layer parameter) given a random init
        self.sites: dict[str, list[str | None]] = {}  # helper name -> per call, the hidden-layer evidence
        self.attrs: dict[int, set[str]] = {}  # class -> its `self.<attr>` assignment names
        self.inner_layers: set[int] = set()  # arguments of nn.Sequential(...) that other layers follow

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)
        self.attrs[id(node)] = set()

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)
        self.guards.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.guards.pop()

    def visit_If(self, node: cst.If) -> None:
        if self.guards:
            self.guards[-1].append(node)

    def leave_If(self, node: cst.If) -> None:
        if self.guards:
            self.guards[-1].pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            if self.classes and isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self":
                self.attrs[id(self.classes[-1])].add(t.target.attr.value)

    def _layer_param(self, expr: cst.BaseExpression) -> str | None:
        """`layer` when `expr` is `layer.weight(.data)` and `layer` a parameter of the function."""
        while isinstance(expr, cst.Attribute) and expr.attr.value in ("data", "_data"):
            expr = expr.value
        if not (self.functions and isinstance(expr, cst.Attribute) and expr.attr.value == "weight"
                and isinstance(expr.value, cst.Name)):
            return None
        params = self.functions[-1].params
        names = {p.name.value for p in (*params.posonly_params, *params.params)} - {"self", "cls"}
        return expr.value.value if expr.value.value in names else None

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        if ctx.call_name(node) == "torch.nn.Sequential":
            self.inner_layers.update(id(arg.value) for arg in node.args[:-1])
        zeroed = zeroed_tensor(node, ctx)
        if zeroed is not None:
            layer = self._layer_param(zeroed)
            if layer is not None and self._plain_guards(layer):
                self.zeroing.setdefault(self.functions[-1].name.value, []).append((node, layer))
        elif node.args and _last(node.func) in INIT_FUNCTIONS | INIT_METHODS:
            target = node.args[0].value if not isinstance(node.func, cst.Attribute) or \
                (dotted_name(node.func.value) or "").split(".")[-1] in ("init", "nn_init") else node.func.value
            layer = self._layer_param(target)
            if layer is not None:
                self.random.add((self.functions[-1].name.value, layer))
        self._call_site(node)

    def _plain_guards(self, layer: str) -> bool:
        """The zero init is unconditional, or only tests the layer's torch type."""
        function = self.functions[-1]
        for guard in self.guards[-1]:
            test = guard.test
            if LAST_LAYER_WORDS.search(cst.Module([]).code_for_node(test)) or not (
                    isinstance(test, cst.Call) and dotted_name(test.func) == "isinstance" and len(test.args) == 2
                    and dotted_name(test.args[0].value) == layer and _layer_types(test.args[1].value)):
                return False
        return not LAST_LAYER_WORDS.search(function.name.value)

    def _call_site(self, node: cst.Call) -> None:
        func = node.func
        name = func.value if isinstance(func, cst.Name) else \
            func.attr.value if isinstance(func, cst.Attribute) and dotted_name(func.value) == "self" else None
        if name is not None and node.args:
            self.sites.setdefault(name, []).append(self._hidden(node, node.args[0].value))
        if _last(func) in APPLY_NAMES and node.args:
            fn = node.args[0].value
            if isinstance(fn, cst.Call) and fn.args and dotted_name(fn.func) in ("partial", "functools.partial"):
                fn = fn.args[0].value
            applied = (dotted_name(fn) or "").split(".")[-1]
            if applied:
                self.sites.setdefault(applied, []).append(f"every layer `{dotted_name(func) or _last(func)}` reaches")

    def _hidden(self, call: cst.Call, layer: cst.BaseExpression) -> str | None:
        """Why the layer given to `call` is a hidden one, else None."""
        if id(call) in self.inner_layers:
            return "a layer of `nn.Sequential` followed by others"
        shown = dotted_name(layer)
        if shown is None or not shown.startswith("self.") or not self.classes:
            return None
        attr = shown.split(".", 1)[1]
        if tokens(attr) & HIDDEN_TOKENS:
            return f"`{shown}`"
        match = re.fullmatch(r"(.*?)(\d+)", attr)
        if match and any(re.fullmatch(rf"{re.escape(match.group(1))}(\d+)", other) and
                         int(other[len(match.group(1)):]) > int(match.group(2))
                         for other in self.attrs.get(id(self.classes[-1]), ())):
            return f"`{shown}`, not the last layer"
        return None


def _layer_types(expr: cst.BaseExpression) -> bool:
    elements = [e.value for e in expr.elements] if isinstance(expr, cst.Tuple) else [expr]
    return all((dotted_name(e) or "").split(".")[-1] in LAYER_TYPES for e in elements)


def _zeroing_helpers(ctx: FileContext, _key: None) -> dict[cst.Call, ZeroingHelper]:
    finder = _Helpers(ctx)
    walk(ctx.module, finder)
    out: dict[cst.Call, ZeroingHelper] = {}
    for name, calls in finder.zeroing.items():
        if "zero" in tokens(name):
            continue  # zero_module(...): named for what it does, used on output layers
        sites = finder.sites.get(name, [])
        evidence = next((e for e in sites if e and e.startswith("every")), None) or \
            next((e for e in sites if e), None) or (f"{len(sites)} layers" if len(sites) >= 2 else None)
        if evidence is None:
            continue
        for call, layer in calls:
            if (name, layer) not in finder.random:  # zeroed in one branch, drawn in another
                out[call] = ZeroingHelper(name, evidence)
    return out


def zeroing_helpers(ctx: FileContext) -> dict[cst.Call, ZeroingHelper]:
    """The zero inits, inside the file's helpers, of the weight of a layer they are given when some
    layer they are given is a hidden one (computed once per file)."""
    return ctx.memo.get(_zeroing_helpers, ctx, None)

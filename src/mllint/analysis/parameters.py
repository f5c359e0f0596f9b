"""Learnable parameters: the vocabulary of their initialisation (zero creations, initialiser
functions and methods, layer types), which tensor creations are zeros and of what shape, what a
parameter's name says about its role, the name a creation is stored under, and what a zero init
call zeroes. Where a file gives its parameters real values is in `initialisation`; the file's
helpers that zero the weight of the layer they are given are in `zeroing_helpers`.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.astutil import SAME_VALUE_METHODS, find_arg, number
from mllint.analysis.names import callee_leaf
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
ZERO_START_TOKENS = {"bias", "biases", "b", "gate", "gates", "gating", "gamma", "alpha", "beta", "scale", "scales",
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
            last = callee_leaf(anc)
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

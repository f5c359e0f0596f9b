"""The training-step timeline: for each function (and the module), the ordered events of the
optimisation step, with the control path (loops, branches, `with` regions) around each event and
the calls to functions and methods of the same file followed to a bounded depth.

Events (`Event.kind`):

- `backward`: `loss.backward()`, `scaler.scale(loss).backward()` and `scaled = scaler.scale(loss)`
  followed by `scaled.backward()` in the same function (`scaler` set; `loss` the scaled argument),
  `torch.autograd.backward(loss)`, and the framework forms `accelerator.backward(loss)`,
  `engine.backward(loss)`, `fabric.backward(loss)`, `self.manual_backward(loss)` (`framework` set:
  the receiver). `loss` is the expression that is backpropagated.
- `step`: `optimizer.step()` (`target`: the optimizer as written, e.g. `self.optimizer`;
  `closure` when it gets arguments, as LBFGS does), `scaler.step(opt)` (`target` = `opt`,
  `scaler` set).
- `scaler_update`, `unscale`: `scaler.update()`, `X.unscale_(opt)` (`target` = `opt`; any
  receiver: `unscale_` is GradScaler's own name).
- `zero_grad`: `x.zero_grad(...)` on an optimizer or a module (`target` = `x`), `p.grad = None`,
  `p.grad.zero_()` / `p.grad.data.zero_()`, and any other call whose name contains `zero_grad`
  (`zero_grad(model)` imported from a utility module) (`target` None: parameters directly).
- `clip`: `torch.nn.utils.clip_grad_norm_`/`clip_grad_value_` (any import form) and
  `x.clip_grad_norm_(...)` methods (Accelerate, FSDP, DeepSpeed); `node` is the call,
  `value_used` says whether its result (the norm) is used.
- `sched_step`: `scheduler.step(...)` (`closure` set when it gets arguments: a metric or epoch).
- `eval`, `train`: `model.eval()`, `model.train()` / `model.train(False)` (`target` = the model).
- `opt_create`: an optimizer constructed (`torch.optim.X(...)`, any import form, or a known
  optimizer class name); `target` = the name it is assigned to, if any (also through a wrapper:
  `optim = OptimWrapper(SGD(...))`).

Only with `timeline(..., forwards=True)` (the evaluation rules ask for them; the others do not
pay for them):
- `forward`: a call that may run a model: `model(x)`, `self.net(x)`, `self(x)`, `net.module(x)`,
  `model.forward(x)` (`target` = the receiver without `.forward`/`.module`: `model`, `self.net`).
  Recorded for names that are not imports or builtins, `self.<attr>` and `<param>.<attr>`.
- `grad_off`, `grad_on`: a bare `torch.set_grad_enabled(False)` / `(True)` statement.
- `loss`: a loss is created: an assignment to a name whose last part says loss (`loss = ...`,
  `self.d_loss = ...`, `total_loss = a + b`; not a literal or an empty container: `losses = []`)
  or from a loss function of `torch.nn.functional` (`out = F.cross_entropy(x, y)`); `target` =
  the name, `loss` = the value. A backward reads what it backpropagates in `Event.loss`.

What is an optimizer, a scheduler or a scaler is decided by binding first (`x = torch.optim.Adam`,
`self.sched = lr_scheduler.StepLR(...)`, `scaler = GradScaler()` anywhere in the file, keyed by
the dotted target; a receiver of `X.scale(loss).backward()` is a scaler), then by the receiver's
own name (`opt`, `optimizer_d`, `scheduler`, `lr_scheduler`, `scaler`). A `X.step(...)` whose
receiver is not known where it is written is decided once the whole file is read. Receivers that
are none of these (`env.step(action)`, a DeepSpeed `engine.step()`) are not events.

Each event carries `path`: the frames from the timeline's root function down to the event, each
`(node, part)` with part `"loop"` (a `for`/`while` body), `"body"`/`"orelse"` (a branch of an
`if`), `"no_grad"` (a `with torch.no_grad()`/`inference_mode()`/`set_grad_enabled(False)` region, or
the body of a function decorated with `@torch.no_grad()`/`@torch.inference_mode()`: the
function itself is the frame), `"accumulate"` (Accelerate's
`with accelerator.accumulate(...)`), `"loop_else"` (a loop's `else:` clause), `"except"` (an
`except` block). Events of a helper called from the root (a function of the module, a `def`
nested in the caller, a `self.<method>()` of its class) are spliced in at the
call, with the caller's path in front and the helper's parameters renamed to the caller's
arguments (`def step(opt): opt.step()` called as `step(self.g_opt)` gives target `self.g_opt`).
A helper's events under `if <param>:` are left out where the call (or the parameter's default)
makes that branch impossible with a literal: `self._loss(batch, do_backward=False)` has no backward.

Gradient mode is part of the same walk: `FileTimeline.no_grad_regions` holds every `with
torch.no_grad():` / `torch.inference_mode()` / `torch.set_grad_enabled(False)` block and every
function decorated with `@torch.no_grad()` (or `inference_mode`), and `called_in_no_grad` the last
names of the functions called inside them; `under_no_grad(ctx)` answers for the node being visited.

`timeline(ctx, function_or_module)` is computed from one walk of the module (cached in
`ctx.memo`); splicing is bounded in depth and in size, so the cost stays linear in the file.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field, replace

import libcst as cst

from mllint.analysis.frameworks import ACCUMULATE, BACKWARD_METHODS, framework_backward
from mllint.analysis.names import callee_leaf, imported_name
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.engine.traversal import WORK, walk

MAX_DEPTH = 3  # helper calls followed from a root
MAX_EVENTS = 2000  # events of one spliced timeline

_UTILS = ("torch.nn.utils.", "torch.nn.utils.clip_grad.")
CLIP_FUNCTIONS = frozenset(prefix + name for prefix in _UTILS
                           for name in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_"))
OPTIMIZER_CLASSES = frozenset({
    "SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "RMSprop", "Rprop", "NAdam", "RAdam", "LBFGS",
    "SparseAdam", "ASGD", "Adafactor", "Lion", "LAMB", "Lamb", "FusedAdam", "FusedLAMB", "AdamW8bit", "Adam8bit",
    "DeepSpeedCPUAdam", "Adan", "Muon", "Shampoo", "SOAP"})
_SCHEDULER_PREFIXES = ("torch.optim.lr_scheduler.", "transformers.get_", "transformers.optimization.get_")
NO_GRAD_CALLS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                           "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode"})
_OPT_NAME = re.compile(r"(^|_)(opt|optim|optimi[sz]er|optimi[sz]ers)(_|$)|^opt[A-Z_]|optimi[sz]er",
                       re.IGNORECASE)
SCHEDULER_NAME = re.compile(r"sched|(^|_)lr_?s(_|$)|(^|_)warmup(_|$)", re.IGNORECASE)
_SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
_BUILTINS = frozenset(dir(builtins))
_NO_GRAD_HELPER = re.compile(r"(^|_)(no_grad|inference_mode)$")
_MODULE_CHAIN = frozenset({"to", "cpu", "cuda", "float", "half", "double", "bfloat16", "requires_grad_", "eval",
                           "train"})  # nn.Module methods that return the module
EXTRA_KINDS = frozenset({"forward", "grad_off", "grad_on", "loss"})  # only in timeline(..., forwards=True)


@dataclass(frozen=True)
class Event:
    kind: str
    node: cst.CSTNode  # the call (or statement) in its own function
    path: tuple[tuple[cst.CSTNode, str], ...]
    target: str | None = None
    scaler: str | None = None
    framework: str | None = None
    loss: cst.BaseExpression | None = None
    closure: bool = False
    function: cst.CSTNode | None = None  # where `node` is written
    via: tuple[cst.Call, ...] = ()  # the helper calls from the root down to `node`
    value_used: bool = False  # the call's result is used (assigned, logged), not a bare statement
    argument: str | None = None  # an undecided `X.step(a)`'s first argument: `a` if X is a scaler

    def place(self) -> cst.CSTNode:
        """The node of the root function where the event happens: the helper call it comes
        through, or its own node."""
        return self.via[0] if self.via else self.node

    def loops(self) -> list[cst.CSTNode]:
        return [node for node, part in self.path if part == "loop"]

    def innermost_loop(self) -> cst.CSTNode | None:
        for node, part in reversed(self.path):
            if part == "loop":
                return node
        return None

    def within(self, frame_node: cst.CSTNode) -> bool:
        return any(node is frame_node for node, _ in self.path)


def exclusive(a: Event, b: Event) -> bool:
    """The two events lie in different branches of one `if` (never both in one run)."""
    return exclusive_paths(a.path, b.path)


def shared_frames(a: tuple[tuple[cst.CSTNode, str], ...], b: tuple[tuple[cst.CSTNode, str], ...]) -> int:
    """How many leading frames two paths share (same node, same part)."""
    common = 0
    for (na, pa), (nb, pb) in zip(a, b):
        if na is not nb or pa != pb:
            break
        common += 1
    return common


def exclusive_paths(a: tuple[tuple[cst.CSTNode, str], ...], b: tuple[tuple[cst.CSTNode, str], ...]) -> bool:
    """Two places (event paths, or `frames_at`) lie in different branches of one `if`."""
    for (na, pa), (nb, pb) in zip(a, b):
        if na is not nb:
            return False
        if pa != pb:
            return isinstance(na, cst.If)
    return False


def is_no_grad(imports: dict[str, str], expr: cst.BaseExpression) -> bool:
    """`torch.no_grad()`, `torch.inference_mode()` (any import form, or a `.no_grad()` /
    `.inference_mode()` method), `torch.set_grad_enabled(False)`; also the decorator forms
    without a call (`@torch.no_grad`), and a project's own wrappers named so
    (`@smart_inference_mode()`, `with utils.no_grad():`)."""
    call = expr if isinstance(expr, cst.Call) else None
    name = imported_name(imports, call.func if call is not None else expr)
    if name in NO_GRAD_CALLS or call is not None and (name or "").endswith((".no_grad", ".inference_mode")):
        return True
    if name is not None and _NO_GRAD_HELPER.search(name.rsplit(".", 1)[-1]):
        return True  # a project's own wrapper: yolov5's `@smart_inference_mode()`
    return name == "torch.set_grad_enabled" and call is not None and bool(call.args) and \
        isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "False"


# ---- what a receiver is ------------------------------------------------------------------------
def _qualified(ctx: FileContext, expr: cst.CSTNode | None) -> str | None:
    dotted = dotted_name(expr)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    full = ctx.imports.get(head)
    if full is None:
        return dotted
    return f"{full}.{rest}" if rest else full


def constructed_kind(ctx: FileContext, call: cst.Call) -> str | None:
    """"optimizer", "scheduler", "scaler" for a call that builds one, else None."""
    name = _qualified(ctx, call.func)
    if name is None:
        return None
    if name.startswith(_SCHEDULER_PREFIXES) or ".lr_scheduler." in name:
        return "scheduler"
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "GradScaler" or leaf == "ShardedGradScaler":
        return "scaler"
    if name.startswith("torch.optim.") and leaf[:1].isupper() and leaf != "Optimizer":
        return "optimizer"
    if leaf in OPTIMIZER_CLASSES:
        return "optimizer"
    return None


def _name_kind(dotted: str) -> str | None:
    leaf = dotted.rsplit(".", 1)[-1]
    if _SCALER_NAME.search(leaf):
        return "scaler"
    if SCHEDULER_NAME.search(leaf):
        return "scheduler"
    if _OPT_NAME.search(leaf):
        return "optimizer"
    return None


# ---- the walk ------------------------------------------------------------------------------------
@dataclass
class _Raw:
    """One function's own events and calls of local functions, in source order."""

    events: list  # Event, or ("call", call node, path, callee key)
    params: tuple[str, ...]
    scaled: dict[str, tuple[str | None, cst.BaseExpression]] = field(default_factory=dict)  # `s = X.scale(loss)`


class _Walk(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.stack: list[cst.CSTNode] = []
        self.scopes: list[tuple[cst.CSTNode, int]] = []  # (function or module, its stack depth)
        self.raw: dict[cst.CSTNode, _Raw] = {}
        self.class_of: dict[cst.CSTNode, cst.ClassDef | None] = {}
        self.kinds: dict[str, str] = {}  # dotted assignment target -> optimizer/scheduler/scaler
        self.disabled_scalers: set[str] = set()
        self.module_functions: dict[str, cst.FunctionDef] = {}
        self.local_functions: dict[cst.FunctionDef, dict[str, cst.FunctionDef]] = {}  # defs inside a def
        self.outer: dict[cst.FunctionDef, cst.FunctionDef] = {}  # a nested def -> the def around it
        self.methods: dict[cst.ClassDef, dict[str, cst.FunctionDef]] = {}
        self.with_kinds: dict[cst.With, str] = {}  # "no_grad" / "accumulate" regions
        self.no_grad_regions: set[cst.CSTNode] = set()  # With blocks and decorated functions
        self.called_in_no_grad: set[str] = set()
        self.calls_in_no_grad: set[cst.Call] = set()  # every call written inside a region
        self.no_grad_depth = 0

    # frames
    def _path(self) -> tuple[tuple[cst.CSTNode, str], ...]:
        _, depth = self.scopes[-1]
        return _frames(self.stack, depth, self.no_grad_regions, self.with_kinds)

    def _with_kind(self, node: cst.With) -> str | None:
        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call):
                if is_no_grad(self.ctx.imports, call):
                    return "no_grad"
                if isinstance(call.func, cst.Attribute) and call.func.attr.value == ACCUMULATE:
                    return "accumulate"
        return None

    def _grad_mode(self, node: cst.CSTNode, kind: type) -> None:
        """Enter a no-grad region (a `with` block or a decorated function)."""
        if kind is cst.With:
            part = self._with_kind(node)
            if part is None:
                return
            self.with_kinds[node] = part
            if part != "no_grad":
                return
        elif not any(is_no_grad(self.ctx.imports, d.decorator) for d in node.decorators):
            return
        self.no_grad_regions.add(node)
        self.no_grad_depth += 1

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        self.stack.append(node)
        if kind is cst.Lambda:
            return False
        WORK.units += 1
        if kind is cst.With or kind is cst.FunctionDef:
            self._grad_mode(node, kind)
        if kind is cst.Module or kind is cst.FunctionDef:
            if kind is cst.FunctionDef:
                owner = self.stack[-2] if len(self.stack) > 1 else None
                # a def directly in a class body (through its IndentedBlock)
                cls = self.stack[-3] if len(self.stack) > 2 and type(self.stack[-3]) is cst.ClassDef else None
                self.class_of[node] = cls
                params = node.params
                names = tuple(p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params))
                if cls is not None:
                    self.methods.setdefault(cls, {})[node.name.value] = node
                elif type(owner) is cst.Module:
                    self.module_functions[node.name.value] = node
                elif self.scopes and type(self.scopes[-1][0]) is cst.FunctionDef:
                    outer = self.scopes[-1][0]
                    self.local_functions.setdefault(outer, {})[node.name.value] = node
                    self.outer[node] = outer
            else:
                names = ()
            self.raw[node] = _Raw([], names)
            self.scopes.append((node, len(self.stack) - 1))
        elif kind is cst.Call:
            if self.no_grad_depth:
                self.calls_in_no_grad.add(node)
                callee = dotted_name(node.func)
                if callee is not None:
                    self.called_in_no_grad.add(callee.rsplit(".", 1)[-1])
            self._call(node)
        elif kind is cst.Assign:
            self._assign(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()
        if self.no_grad_depth and original_node in self.no_grad_regions:
            self.no_grad_depth -= 1
        if self.scopes and self.scopes[-1][0] is original_node:
            self.scopes.pop()

    def _loss(self, node: cst.Assign, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        dotted = dotted_name(target)
        if dotted is None:
            return
        # `d_loss`, `lossD`, `losses`; not `loss_fn`, `loss_weight` (the last word says what it is)
        named = "loss" in dotted.rsplit(".", 1)[-1].rsplit("_", 1)[-1].lower()
        if named and (isinstance(value, _LITERALS) or type(value) is cst.Name and value.value == "None" or
                      type(value) is cst.Call and (callee_leaf(value)[:1].isupper())):
            named = False  # `losses = []`, `loss = None`, a loss object: `loss = nn.MSELoss()`
        if named or _is_loss_function(self.ctx, value):
            self._emit("loss", node, target=dotted, loss=value)

    def _emit(self, kind: str, node: cst.CSTNode, **fields) -> None:
        root = self.scopes[-1][0]
        self.raw[root].events.append(Event(kind, node, self._path(), function=root, **fields))

    def _assign(self, node: cst.Assign) -> None:
        value = node.value
        if len(node.targets) == 1:
            self._loss(node, node.targets[0].target, value)
        if isinstance(value, cst.Call):
            kind = constructed_kind(self.ctx, value)
            if kind is not None:
                for target in node.targets:
                    dotted = dotted_name(target.target)
                    if dotted:
                        self.kinds[dotted] = kind
                        if kind == "scaler" and _literally_disabled(value):
                            self.disabled_scalers.add(dotted)
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and t.attr.value == "grad" and isinstance(value, cst.Name) \
                    and value.value == "None":
                self._emit("zero_grad", node, target=None)
            elif type(t) is cst.Name:
                scaled = self.raw[self.scopes[-1][0]].scaled
                if _is_scale(value):
                    scaled[t.value] = (dotted_name(value.func.value), value.args[0].value)
                else:
                    scaled.pop(t.value, None)  # rebound: no longer the scaled loss

    def _call(self, node: cst.Call) -> None:
        ctx = self.ctx
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            if method in BACKWARD_METHODS:
                self._backward(node, receiver)
                return
            if method == "clip_grad_norm_" or method == "clip_grad_value_":
                self._emit("clip", node, value_used=type(self.stack[-2]) is not cst.Expr)
                return
            dotted = dotted_name(receiver)
            if method in ("eval", "train"):
                # `model.to(device).train()`, `model.eval().cpu()`'s receiver: the model
                while dotted is None and isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) \
                        and receiver.func.attr.value in _MODULE_CHAIN:
                    receiver = receiver.func.value
                    dotted = dotted_name(receiver)
            if method == "zero_grad":
                self._emit("zero_grad", node, target=dotted)
                return
            if method == "zero_":
                chain = receiver
                while isinstance(chain, cst.Attribute) and chain.attr.value == "data":
                    chain = chain.value
                if isinstance(chain, cst.Attribute) and chain.attr.value == "grad":
                    self._emit("zero_grad", node, target=None)
                return
            if method in ("eval", "train") and dotted is not None:
                if method == "eval" and not node.args:
                    self._emit("eval", node, target=dotted)
                elif method == "train" and not node.args:
                    self._emit("train", node, target=dotted)
                elif method == "train" and len(node.args) == 1 and isinstance(node.args[0].value, cst.Name):
                    value = node.args[0].value.value
                    self._emit("eval" if value == "False" else "train", node, target=dotted)
                return
            if dotted is not None and dotted != "self" and method in ("step", "update", "unscale_"):
                first = dotted_name(node.args[0].value) if node.args else None
                if method == "unscale_":  # GradScaler's own name: any receiver
                    if node.args:
                        self._emit("unscale", node, target=first, scaler=dotted)
                    return
                kind = self.kinds.get(dotted) or _name_kind(dotted)
                if kind == "scaler":
                    if method == "step" and node.args:
                        self._emit("step", node, target=first, scaler=dotted)
                    elif method == "update":
                        self._emit("scaler_update", node, scaler=dotted)
                    return
                if method == "step":
                    if kind == "optimizer":
                        self._emit("step", node, target=dotted, closure=bool(node.args))
                    elif kind == "scheduler":
                        self._emit("sched_step", node, target=dotted, closure=bool(node.args))
                    elif node.args or dotted.partition(".")[0] in self.raw[self.scopes[-1][0]].params:
                        # `def update(opt): opt.step()`, `self.amp.step(opt)`: decided once the whole
                        # file is read (where the helper is called, or what the receiver is bound to)
                        self._emit("step?", node, target=dotted, closure=bool(node.args), argument=first)
                    else:
                        return  # `env.step()`... with nothing to decide it by
                    return
                if kind is not None:
                    return  # `optimizer.update()`, `sched.update()`
        name = _qualified(ctx, func)
        if name is not None:
            if name.endswith("set_grad_enabled") and name.startswith("torch.") and len(node.args) == 1 and \
                    type(self.stack[-2]) is cst.Expr and isinstance(node.args[0].value, cst.Name) and \
                    node.args[0].value.value in ("True", "False"):
                self._emit("grad_off" if node.args[0].value.value == "False" else "grad_on", node)
                return
            if name in CLIP_FUNCTIONS:
                self._emit("clip", node, value_used=type(self.stack[-2]) is not cst.Expr)
                return
            if name == "torch.autograd.backward" and node.args:
                self._emit("backward", node, loss=node.args[0].value)
                return
            kind = constructed_kind(ctx, node)
            if kind == "optimizer":
                # `opt = Adam(...)`, also through a wrapper: `optim = OptimWrapper(SGD(...))`
                value, i = node, len(self.stack) - 2
                while i >= 2 and type(self.stack[i]) is cst.Arg and type(self.stack[i - 1]) is cst.Call:
                    value, i = self.stack[i - 1], i - 2
                parent = self.stack[i] if i >= 0 else None
                target = None
                if isinstance(parent, cst.Assign) and parent.value is value and len(parent.targets) == 1:
                    target = dotted_name(parent.targets[0].target)
                self._emit("opt_create", node, target=target)
                return
        leaf = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if "zero_grad" in leaf:  # `zero_grad(model)`, `opt.zero_grad_all()`: a clearing helper not in this file
            self._emit("zero_grad", node, target=None)
            return
        self._forward(node, func)
        # a call of a function or method of this file: spliced in later
        if isinstance(func, cst.Name):
            self.raw[self.scopes[-1][0]].events.append(("call", node, self._path(), ("module", func.value)))
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            self.raw[self.scopes[-1][0]].events.append(("call", node, self._path(), ("self", func.attr.value)))

    def _forward(self, node: cst.Call, func: cst.BaseExpression) -> None:
        """A `forward` event for a call that may run a model (see the module docs)."""
        dotted = dotted_name(func)
        if dotted is None:
            return
        parts = dotted.split(".")
        head = parts[0]
        if head in self.ctx.imports or (len(parts) == 1 and head in _BUILTINS):
            return
        while len(parts) > 1 and parts[-1] in ("forward", "module"):
            parts.pop()
        if len(parts) == 2 and head != "self" and head not in self.raw[self.scopes[-1][0]].params:
            return  # `x.view(...)`, `loss.item()`: a method of a local value, not a model
        if len(parts) > 2:
            return
        self._emit("forward", node, target=".".join(parts))

    def _backward(self, node: cst.Call, receiver: cst.BaseExpression) -> None:
        # scaler.scale(loss).backward()
        scaled = None
        if _is_scale(receiver):
            scaled = (dotted_name(receiver.func.value), receiver.args[0].value)
        elif type(receiver) is cst.Name:  # `scaled = scaler.scale(loss)` ... `scaled.backward()`
            scaled = self.raw[self.scopes[-1][0]].scaled.get(receiver.value)
        if scaled is not None:
            scaler, loss = scaled
            if scaler is not None:
                self.kinds.setdefault(scaler, "scaler")
            self._emit("backward", node, scaler=scaler, loss=loss)
            return
        dotted = dotted_name(receiver)
        if node.args and not node.args[0].keyword and dotted is not None and framework_backward(dotted):
            self._emit("backward", node, framework=dotted, loss=node.args[0].value)
            return
        self._emit("backward", node, loss=receiver)


_LITERALS = (cst.Integer, cst.Float, cst.List, cst.Dict, cst.Tuple, cst.Set, cst.SimpleString)


def _is_loss_function(ctx: FileContext, value: cst.BaseExpression) -> bool:
    if type(value) is not cst.Call:
        return False
    name = _qualified(ctx, value.func) or ""
    return name.startswith("torch.nn.functional.") and (
        "loss" in name or name.endswith(("cross_entropy", "binary_cross_entropy_with_logits", "kl_div")))


def _is_scale(expr: cst.BaseExpression) -> bool:
    """`X.scale(loss)`: a GradScaler scaling a loss."""
    return type(expr) is cst.Call and type(expr.func) is cst.Attribute and expr.func.attr.value == "scale" \
        and bool(expr.args) and not expr.args[0].keyword


def _frames(nodes: list[cst.CSTNode], depth: int, no_grad_regions: set[cst.CSTNode],
            with_kinds: dict[cst.With, str]) -> tuple[tuple[cst.CSTNode, str], ...]:
    """The frames of the last node of `nodes` below the root function `nodes[depth]`."""
    root = nodes[depth]
    frames = [(root, "no_grad")] if root in no_grad_regions else []  # a decorated function
    for i in range(depth + 1, len(nodes) - 1):
        node, child = nodes[i], nodes[i + 1]
        kind = type(node)
        if kind is cst.For or kind is cst.While:
            if child is node.body:
                frames.append((node, "loop"))
            elif child is node.orelse:
                frames.append((node, "loop_else"))  # runs when the loop ends without `break`
        elif kind is cst.ExceptHandler:
            if child is node.body:
                frames.append((node, "except"))
        elif kind is cst.If:
            if child is node.body:
                frames.append((node, "body"))
            elif child is node.orelse:
                frames.append((node, "orelse"))
        elif kind is cst.With and child is node.body:
            part = with_kinds.get(node)
            if part:
                frames.append((node, part))
    return tuple(frames)


def _literally_disabled(call: cst.Call) -> bool:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "enabled" and isinstance(arg.value, cst.Name):
            return arg.value.value == "False"
    return False


@dataclass
class FileTimeline:
    """The walk's results for one file."""

    raw: dict[cst.CSTNode, _Raw]
    class_of: dict[cst.CSTNode, cst.ClassDef | None]
    kinds: dict[str, str]
    disabled_scalers: set[str]
    module_functions: dict[str, cst.FunctionDef]
    methods: dict[cst.ClassDef, dict[str, cst.FunctionDef]]
    spliced: dict[cst.CSTNode, list[Event]]
    no_grad_regions: set[cst.CSTNode]  # no-grad `with` blocks and functions decorated no-grad
    called_in_no_grad: set[str]  # last names of the functions called inside a no-grad region
    calls_in_no_grad: set[cst.Call]  # every call written inside a no-grad region
    with_kinds: dict[cst.With, str]  # `with` blocks that are frames: "no_grad", "accumulate"
    local_functions: dict[cst.FunctionDef, dict[str, cst.FunctionDef]]  # defs inside a def, by name
    outer: dict[cst.FunctionDef, cst.FunctionDef]  # a nested def -> the def around it
    spliced_all: dict[cst.CSTNode, list[Event]] = field(default_factory=dict)  # with EXTRA_KINDS
    _called: set[cst.CSTNode] | None = None

    def called(self) -> set[cst.CSTNode]:
        """The functions and methods of the file that some code of the file calls (by name, or as
        `self.<method>()` in the same class): the rest are entry points or called from elsewhere."""
        if self._called is None:
            self._called = set()
            for function, raw in self.raw.items():
                for item in raw.events:
                    if not isinstance(item, Event):
                        callee = self.callee(function, item[3])
                        if callee is not None and callee is not function:
                            self._called.add(callee)
        return self._called

    def kind_of(self, dotted: str | None) -> str | None:
        """"optimizer", "scheduler", "scaler" or None for a receiver as written."""
        if dotted is None:
            return None
        return self.kinds.get(dotted) or _name_kind(dotted)

    def callee(self, function: cst.CSTNode, key: tuple[str, str]) -> cst.FunctionDef | None:
        where, name = key
        if where == "self":  # the class of the method, or of the method a nested def sits in
            scope = function
            while scope is not None and self.class_of.get(scope) is None:
                scope = self.outer.get(scope)
            cls = self.class_of.get(scope) if scope is not None else None
            return self.methods.get(cls, {}).get(name) if cls is not None else None
        scope = function  # a def nested in the caller (or around it) comes before the module's
        while scope is not None:
            local = self.local_functions.get(scope, {}).get(name)
            if local is not None:
                return local
            scope = self.outer.get(scope)
        return self.module_functions.get(name)

    def functions(self) -> list[cst.CSTNode]:
        return list(self.raw)


def file_timeline(ctx: FileContext, module: cst.Module) -> FileTimeline:
    walker = _Walk(ctx)
    walk(module, walker)
    return FileTimeline(walker.raw, walker.class_of, walker.kinds, walker.disabled_scalers,
                        walker.module_functions, walker.methods, {}, walker.no_grad_regions,
                        walker.called_in_no_grad, walker.calls_in_no_grad, walker.with_kinds,
                        walker.local_functions, walker.outer)


def _rename(target: str | None, mapping: dict[str, str]) -> str | None:
    if target is None or not mapping:
        return target
    head, dot, rest = target.partition(".")
    if head in mapping:
        return mapping[head] + dot + rest
    return target


def _arguments(callee: cst.FunctionDef, call: cst.Call, method: bool) -> dict[str, str]:
    """The callee's parameter names -> the caller's argument expressions (dotted names only)."""
    params = callee.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    if method and positional and positional[0] == "self":
        positional = positional[1:]
    mapping: dict[str, str] = {}
    index = 0
    for arg in call.args:
        if arg.star:
            break
        dotted = dotted_name(arg.value)
        if arg.keyword is not None:
            if dotted:
                mapping[arg.keyword.value] = dotted
            continue
        if index < len(positional) and dotted:
            mapping[positional[index]] = dotted
        index += 1
    return {k: v for k, v in mapping.items() if k != v}


def _constant_arguments(callee: cst.FunctionDef, call: cst.Call, method: bool) -> dict[str, bool]:
    """The callee's parameters that this call sets to a literal True/False/None (by keyword or
    position), or leaves at such a default: `_step(batch, do_backward=False)` -> {do_backward: False}."""
    params = callee.params
    positional = [p for p in (*params.posonly_params, *params.params)]
    if method and positional and positional[0].name.value == "self":
        positional = positional[1:]
    values: dict[str, cst.BaseExpression | None] = {p.name.value: p.default
                                                    for p in (*positional, *params.kwonly_params)}
    for index, arg in enumerate(call.args):
        if arg.star:
            return {}
        if arg.keyword is not None:
            values[arg.keyword.value] = arg.value
        elif index < len(positional):
            values[positional[index].name.value] = arg.value
    return {name: value.value == "True" for name, value in values.items()
            if isinstance(value, cst.Name) and value.value in ("True", "False", "None")}


def _never_runs(event: Event, constants: dict[str, bool]) -> bool:
    """The event sits in a branch of `if <param>:` that the call's constant argument rules out."""
    for node, part in event.path:
        if (part == "body" or part == "orelse") and isinstance(node, cst.If) and isinstance(node.test, cst.Name):
            value = constants.get(node.test.value)
            if value is not None and value != (part == "body"):
                return True
    return False


def _own_backward(ft: FileTimeline, function: cst.CSTNode, event: Event) -> tuple | None:
    """`self.backward(loss)` in a class that defines `backward`: a call of that method (followed
    like any helper), not a framework's backward."""
    if event.kind != "backward" or event.framework != "self" or event.node.func.attr.value != "backward":
        return None
    if ft.callee(function, ("self", "backward")) is None:
        return None
    return ("call", event.node, event.path, ("self", "backward"))


def _splice(ft: FileTimeline, function: cst.CSTNode, depth: int, active: set, extra: bool) -> list[Event]:
    out: list[Event] = []
    for item in ft.raw[function].events:
        WORK.units += 1
        if isinstance(item, Event):
            own = _own_backward(ft, function, item)
            if own is None:
                if extra or item.kind not in EXTRA_KINDS:
                    out.append(item)
                continue
            item = own
        _, call, path, key = item
        callee = ft.callee(function, key)
        if callee is None or callee in active or depth >= MAX_DEPTH or callee not in ft.raw:
            continue
        active.add(callee)
        inner = _splice(ft, callee, depth + 1, active, extra)
        active.discard(callee)
        mapping = _arguments(callee, call, key[0] == "self")
        constants = _constant_arguments(callee, call, key[0] == "self")
        for event in inner:
            if len(out) >= MAX_EVENTS:
                break
            if constants and _never_runs(event, constants):
                continue
            out.append(replace(event, path=path + event.path, via=(call,) + event.via,
                               target=_rename(event.target, mapping), scaler=_rename(event.scaler, mapping),
                               argument=_rename(event.argument, mapping)))
    return out


def timeline(ctx: FileContext, function: cst.CSTNode, *, forwards: bool = False) -> list[Event]:
    """The events of `function` (a FunctionDef or the Module) in source order, helpers spliced in;
    with `forwards`, also the model calls and bare grad-mode switches (EXTRA_KINDS)."""
    if ctx.module is None:
        return []
    ft = ctx.memo.get(file_timeline, ctx, ctx.module)
    if function not in ft.raw:
        return []
    cache = ft.spliced_all if forwards else ft.spliced
    found = cache.get(function)
    if found is None:
        found = []
        for event in _splice(ft, function, 0, {function}, forwards):
            if event.kind == "step?":
                kind = ft.kind_of(event.target)
                if kind == "optimizer":
                    event = replace(event, kind="step")
                elif kind == "scheduler":
                    event = replace(event, kind="sched_step")
                elif kind == "scaler" and event.argument is not None:  # `self.amp.step(opt)`
                    event = replace(event, kind="step", scaler=event.target, target=event.argument,
                                    closure=False, argument=None)
                else:
                    continue
            found.append(event)
        cache[function] = found
    return found


def file_facts(ctx: FileContext) -> FileTimeline | None:
    return ctx.memo.get(file_timeline, ctx, ctx.module) if ctx.module is not None else None


def frames_at(ctx: FileContext, root: cst.CSTNode) -> tuple[tuple[cst.CSTNode, str], ...]:
    """The frames (as in `Event.path`) of the node being visited, below `root`, one of its
    enclosing functions (or the module): compare with events by `exclusive_paths`."""
    ft = file_facts(ctx)
    stack = ctx.stack
    depth = next(i for i, node in enumerate(stack) if node is root)
    return _frames(stack, depth, ft.no_grad_regions, ft.with_kinds) if ft is not None else ()


def under_no_grad(ctx: FileContext) -> bool:
    """Is the node being visited inside a no-grad region: a `with` around it, a decorator on an
    enclosing function, or an enclosing function that the file calls inside a no-grad region?"""
    ft = file_facts(ctx)
    if ft is None:
        return False
    for node in ctx.ancestors():
        if isinstance(node, (cst.With, cst.FunctionDef)) and node in ft.no_grad_regions:
            return True
        if isinstance(node, cst.FunctionDef) and node.name.value in ft.called_in_no_grad:
            return True
    return False


# ---- trained models ------------------------------------------------------------------------------
_PARAMETERS_OF = re.compile(r"([A-Za-z_][\w.]*)\.(?:named_)?parameters\(")


def _trained_models(ctx: FileContext, module: cst.Module) -> frozenset[str]:
    ft = ctx.memo.get(file_timeline, ctx, module)
    found: set[str] = set()
    for raw in ft.raw.values():
        for item in raw.events:
            if isinstance(item, Event):
                if item.kind == "train" and item.target:
                    found.add(item.target)
                elif item.kind == "opt_create":
                    found.update(_PARAMETERS_OF.findall(ctx.code(item.node)))
    return frozenset(found)


def trained_models(ctx: FileContext) -> frozenset[str]:
    """The models the file trains, as written at their use: receivers of `x.train()` and models
    whose `parameters()` an optimizer is built from (`Adam(self.net.parameters())` -> `self.net`).
    A model only ever put in eval mode (a frozen teacher, a target network) is not among them."""
    if ctx.module is None:
        return frozenset()
    return ctx.memo.get(_trained_models, ctx, ctx.module)

"""Data-loading facts of one file: where `DistributedSampler`s and `DataLoader`s are built and bound,
where they are iterated and whether that iteration repeats (an epoch loop), what is called with
them, and the `set_epoch` calls. One walk of the module, computed once per file (`data_loading`).

Names are dotted strings as written (`sampler`, `self.train_sampler`, `args.loader`); a loop
"repeats" when it sits inside another loop of the same function (`for epoch ...: for batch in
loader`, also `while True:` with a manual epoch counter), or when its function is called inside a
loop elsewhere in the file. These loop facts are deliberately small (enclosing function, loop
depth) so that a fuller training-step timeline can replace them later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.names import imported_name
from mllint.analysis.project import imported_function
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

DISTRIBUTED_SAMPLERS = {"torch.utils.data.DistributedSampler", "torch.utils.data.distributed.DistributedSampler"}
DATA_LOADERS = {"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader",
                "torchdata.stateful_dataloader.StatefulDataLoader"}
DDP_WRAPPERS = {"torch.nn.parallel.DistributedDataParallel", "torch.nn.DistributedDataParallel",
                "torch.nn.parallel.distributed.DistributedDataParallel"}
BATCH_SAMPLERS = {"torch.utils.data.BatchSampler", "torch.utils.data.sampler.BatchSampler"}
# Calls that only wrap an iterable for a `for` header (the loop still iterates the loader).
ITERATION_WRAPPERS = {"enumerate", "iter", "tqdm", "zip", "islice", "trange", "track", "progress_bar",
                      "MetricLogger.log_every", "log_every"}
# Calls that read a loader or sampler without taking it anywhere.
HARMLESS_CALLS = {"len", "print", "isinstance", "hasattr", "getattr", "type", "id", "repr", "str", "next"} | \
    ITERATION_WRAPPERS


@dataclass
class LoaderSite:
    """A `DistributedSampler(...)` or `DataLoader(...)` call and where its value goes."""

    call: cst.Call
    kind: str  # "sampler" or "loader"
    bound_to: str | None  # the dotted name it is assigned to, if any
    function: cst.FunctionDef | None
    shuffle_off: bool = False  # sampler built with shuffle=False
    loader: LoaderSite | None = None  # for a sampler passed inline: the DataLoader it goes to
    sampler_names: set[str] = field(default_factory=set)  # for a loader: the sampler names it takes


@dataclass(frozen=True)
class NameUse:
    """A dotted name iterated by a `for` loop, or passed to a call."""

    name: str
    function: cst.FunctionDef | None
    in_loop: bool  # inside a loop of the same function (other than the one iterating it)
    callee: str | None = None  # for a call argument: the callee's last name
    call: cst.Call | None = field(default=None, compare=False)  # for a call argument: the call


@dataclass
class DataLoadingFacts:
    samplers: list[LoaderSite] = field(default_factory=list)
    loaders: list[LoaderSite] = field(default_factory=list)
    iterated: list[NameUse] = field(default_factory=list)
    passed: list[NameUse] = field(default_factory=list)
    returned: set[str] = field(default_factory=set)
    set_epoch_receivers: list[str] = field(default_factory=list)  # dotted receivers of `.set_epoch(...)`
    called_in_loop: set[str] = field(default_factory=set)  # last names of functions called inside a loop
    ddp_wraps: list[cst.Call] = field(default_factory=list)  # `DistributedDataParallel(model, ...)` calls
    defined_functions: set[str] = field(default_factory=set)  # names of the functions and methods defined here
    batch_samplers: dict[str, str] = field(default_factory=dict)  # `b = BatchSampler(s, ...)`: b -> s


def _leaf(dotted: str | None) -> str | None:
    return dotted.rsplit(".", 1)[-1] if dotted else None


def _iterated_name(expr: cst.BaseExpression) -> str | None:
    """The loader a `for` header iterates, through `enumerate(...)`, `tqdm(...)`, `iter(...)`."""
    while isinstance(expr, cst.Call) and _leaf(dotted_name(expr.func)) in ITERATION_WRAPPERS and expr.args:
        expr = expr.args[0].value
    return dotted_name(expr)


def _false(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


class _Collector(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.facts = DataLoadingFacts()
        self.functions: list[cst.FunctionDef | None] = [None]
        self.loop_depths: list[int] = [0]
        self.assigns: list[cst.Assign] = []  # the single-target assignments around the node
        self.open_loaders: list[LoaderSite] = []  # DataLoader calls around the node

    def _qualified(self, expr: cst.BaseExpression) -> str | None:
        return imported_name(self.ctx.imports, expr)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            if isinstance(node, cst.FunctionDef):
                self.facts.defined_functions.add(node.name.value)
            self.functions.append(node if isinstance(node, cst.FunctionDef) else self.functions[-1])
            self.loop_depths.append(0)
        elif isinstance(node, cst.For):
            name = _iterated_name(node.iter)
            if name is not None:
                self.facts.iterated.append(NameUse(name, self.functions[-1], self.loop_depths[-1] > 0))
            walk(node.iter, self)
            walk(node.target, self)
            self.loop_depths[-1] += 1
            walk(node.body, self)
            self.loop_depths[-1] -= 1
            if node.orelse is not None:
                walk(node.orelse, self)
            return False
        elif isinstance(node, cst.While):
            self.loop_depths[-1] += 1
        elif isinstance(node, cst.Assign) and len(node.targets) == 1:
            self.assigns.append(node)
            walk(node.value, self)
            self.assigns.pop()
            return False
        elif isinstance(node, cst.Return) and node.value is not None:
            values = node.value.elements if isinstance(node.value, cst.Tuple) else [node.value]
            for value in values:
                name = dotted_name(value.value if isinstance(value, cst.Element) else value)
                if name is not None:
                    self.facts.returned.add(name)
        elif isinstance(node, cst.Call):
            self._call(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, (cst.FunctionDef, cst.Lambda)):
            self.functions.pop()
            self.loop_depths.pop()
        elif isinstance(original_node, cst.While):
            self.loop_depths[-1] -= 1
        elif isinstance(original_node, cst.Call) and self.open_loaders and self.open_loaders[-1].call is original_node:
            self.open_loaders.pop()

    def _call(self, node: cst.Call) -> None:
        facts = self.facts
        in_loop = self.loop_depths[-1] > 0
        qualified = self._qualified(node.func)
        callee = _leaf(dotted_name(node.func))
        if callee is not None and in_loop:
            facts.called_in_loop.add(callee)
        if callee == "set_epoch" and isinstance(node.func, cst.Attribute):
            receiver = dotted_name(node.func.value)
            if receiver is not None:
                facts.set_epoch_receivers.append(receiver)
        bound = None
        if self.assigns and self.assigns[-1].value is node:
            bound = dotted_name(self.assigns[-1].targets[0].target)
        if qualified in DISTRIBUTED_SAMPLERS:
            shuffle = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "shuffle"), None)
            site = LoaderSite(node, "sampler", bound, self.functions[-1], shuffle_off=_false(shuffle))
            if self.open_loaders and bound is None:
                site.loader = self.open_loaders[-1]
            facts.samplers.append(site)
        elif qualified in DATA_LOADERS:
            site = LoaderSite(node, "loader", bound, self.functions[-1])
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler"):
                    value = arg.value
                    if isinstance(value, cst.Call) and self._qualified(value.func) in BATCH_SAMPLERS and value.args:
                        value = value.args[0].value
                    name = dotted_name(value)
                    if name is not None:
                        site.sampler_names.add(name)
            facts.loaders.append(site)
            self.open_loaders.append(site)
        elif qualified in DDP_WRAPPERS:
            facts.ddp_wraps.append(node)
        if qualified in BATCH_SAMPLERS:
            inner = dotted_name(node.args[0].value) if node.args else None
            if bound is not None and inner is not None:
                facts.batch_samplers[bound] = inner
        elif qualified not in DISTRIBUTED_SAMPLERS and qualified not in DATA_LOADERS:
            for arg in node.args:
                name = dotted_name(arg.value)
                if name is not None:
                    facts.passed.append(NameUse(name, self.functions[-1], in_loop, callee, node))


def _data_loading(ctx: FileContext, module: cst.Module) -> DataLoadingFacts:
    collector = _Collector(ctx)
    walk(module, collector)
    return collector.facts


def data_loading(ctx: FileContext) -> DataLoadingFacts:
    """The file's data-loading facts (computed once per file)."""
    if ctx.module is None:
        return DataLoadingFacts()
    return ctx.memo.get(_data_loading, ctx, ctx.module)


@dataclass(frozen=True)
class HelperUse:
    """What a function of another project file does with one of its parameters."""

    iterates: bool  # a `for` loop over it (through enumerate/tqdm/log_every...)
    sets_epoch: bool  # `<param>.set_epoch(...)` or `<param>.sampler.set_epoch(...)`


def project_helper_use(ctx: FileContext, call: cst.Call, name: str) -> HelperUse | None:
    """For `train_one_epoch(model, loader, ...)` with `train_one_epoch` imported from a file of the
    user's project (read through `analysis.project`, noted for the cache): what the function does
    with the parameter that receives `name`. None when the callee is not such a function or the
    argument cannot be matched to a parameter."""
    found = imported_function(ctx, call.func)
    if found is None:
        return None
    other, function = found
    params = function.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    param = None
    for index, arg in enumerate(call.args):
        if arg.star:
            return None
        if dotted_name(arg.value) == name:
            if arg.keyword is not None:
                param = arg.keyword.value
            elif index < len(positional):
                param = positional[index]
            break
    if param is None:
        return None
    facts = data_loading(other)
    iterates = any(use.name == param and use.function is function for use in facts.iterated)
    sets_epoch = any(receiver == param or receiver.startswith(param + ".") for receiver in facts.set_epoch_receivers)
    return HelperUse(iterates, sets_epoch)


# ---- DataLoader calls with the names around them ---------------------------------------------------
LOADER_CALLS = {"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader", "DataLoader"}


class _LoaderCalls(Visitor):
    def __init__(self, imports: dict[str, str]):
        self.imports = imports
        self.names: list[str] = []
        self.found: list[tuple[str, cst.Call]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.names.append(node.name.value)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.names.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call):
            self.names.append(" ".join(dotted_name(t.target) or "" for t in node.targets))

    def leave_Assign(self, original_node: cst.Assign) -> None:
        if isinstance(original_node.value, cst.Call):
            self.names.pop()

    def visit_Call(self, node: cst.Call) -> None:
        if imported_name(self.imports, node.func) in LOADER_CALLS:  # also an unimported `DataLoader`
            self.found.append((" ".join(self.names), node))


def _loader_calls(ctx: FileContext, module: cst.Module) -> tuple[tuple[str, cst.Call], ...]:
    if "DataLoader" not in ctx.source:
        return ()
    collector = _LoaderCalls(ctx.imports)
    walk(module, collector)
    return tuple(collector.found)


def loader_calls(ctx: FileContext) -> tuple[tuple[str, cst.Call], ...]:
    """Every `DataLoader(...)` call of the file with the names around it (the functions it is in and
    the targets it is assigned to, space-separated: "main train_loader"), in source order."""
    return ctx.memo.get(_loader_calls, ctx, ctx.module) if ctx.module is not None else ()

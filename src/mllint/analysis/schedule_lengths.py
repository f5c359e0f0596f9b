"""Schedule lengths and run lengths as a Python file configures them: facts, not verdicts (ML302
decides). One walk of the module, computed once per file (`python_settings`).

- the vocabulary: which setting names are a schedule phase in steps (`warmup_steps`), a schedule's
  own length (`T_max`) or positions (`milestones`), and which are the run length (`epochs`);
- groups of settings configured together, each with its integer default: the fields of a config
  class (dataclass, attrs, pydantic), the argparse options one function (or the module) adds, the
  click options of one command, a function's parameters;
- scheduler constructions given a literal length (`CosineAnnealingLR(opt, T_max=90)`);
- the run lengths the file reads from a configuration object (`args.epochs`, `cfg["max_steps"]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import libcst as cst

from mllint.analysis.astutil import find_arg
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

# A schedule phase measured in steps: `warmup_steps`, `q_temperature_anneal_steps`,
# `epsilon_decay_steps`, `lr_decay_iters`, `num_warmup_steps`, `rampup_updates`. Epoch-valued
# keys (`warmup_epochs`) are left alone: they already scale with the dataset size.
SCHEDULE_KEY = re.compile(r"(warm_?up|anneal|decay|ramp_?up|ramp|cool_?down)[a-z0-9_]*?_?"
                          r"(steps?|iters?|iterations|updates|timesteps|frames)$")
# A schedule's own length: CosineAnnealingLR's `T_max`, timm's `t_initial`.
LENGTH_KEY = re.compile(r"(^|_)(t_max|t_initial)$")
# Where a step schedule changes, as a list: MultiStepLR's `milestones`, `lr_steps: [30, 60]`.
POSITIONS_KEY = re.compile(r"(^|_)milestones$|^(lr_)?decay_(steps|epochs|iters)$|^lr_(steps|epochs)$")
# The run length: if none of these is configurable next to the count, the count may be the design.
RUN_LENGTH = re.compile(r"^(num_|n_|max_|total_|train_|num_train_|num_training_|total_train_|total_training_"
                        r"|max_train_)?"
                        r"(epochs|steps|iters|iterations|timesteps|updates|train_steps|training_steps)$"
                        r"|^(t_total|dataset_size|num_samples|num_train_samples|train_size|n_samples|epoch)$")
# The run length in steps (same unit as the count), used to suggest the ratio.
TOTAL_STEPS = re.compile(r"^(num_|max_|total_|num_train_|num_training_|total_train_|total_training_|max_train_)"
                         r"(steps|iters|iterations|timesteps|updates|train_steps|training_steps)$|^t_total$")
NOT_RUN_LENGTH = {"n_steps", "steps", "updates", "n_updates"}  # SB3's n_steps is the rollout length

# Scheduler constructions whose length argument fixes how long the schedule runs (keyword,
# position or None). Warmup lengths (`LinearLR(total_iters=5)`, `num_warmup_steps`) and periods
# (`StepLR(step_size=30)`, `T_0`) are not among them: they are meant to be absolute.
SCHEDULER_LENGTHS = {
    "CosineAnnealingLR": ("T_max", 1), "MultiStepLR": ("milestones", 1), "OneCycleLR": ("total_steps", 2),
    "PolynomialLR": ("total_iters", 1), "CosineLRScheduler": ("t_initial", 1),
    **{name: ("num_training_steps", 2) for name in (
        "get_linear_schedule_with_warmup", "get_cosine_schedule_with_warmup",
        "get_cosine_with_hard_restarts_schedule_with_warmup", "get_polynomial_decay_schedule_with_warmup")},
    "get_scheduler": ("num_training_steps", None),
}
SCHEDULER_MODULES = ("torch.optim.lr_scheduler", "transformers", "transformers.optimization", "timm.scheduler",
                     "timm.scheduler.cosine_lr", "diffusers.optimization")

CONFIG_DECORATORS = {
    "dataclasses.dataclass", "attr.s", "attr.attrs", "attr.define", "attr.frozen", "attr.mutable",
    "attrs.define", "attrs.frozen", "attrs.mutable", "pydantic.dataclasses.dataclass", "chex.dataclass",
    "flax.struct.dataclass", "dataclass", "define", "frozen",
}
CONFIG_BASES = {"pydantic.BaseModel", "pydantic.BaseSettings", "pydantic_settings.BaseSettings", "BaseModel",
                "BaseSettings"}
FIELD_CALLS = {"dataclasses.field", "field", "attr.ib", "attr.attrib", "attrs.field", "attr.field",
               "pydantic.Field", "Field"}
BENCHMARK = re.compile(r"bench|profil|timeit|timing|latency|throughput", re.I)

Value = Union[int, tuple[int, ...], None]  # an integer literal, a list/tuple of them, or not known


def normalise(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_").lower()


def is_schedule_key(key: str) -> bool:
    """A warmup/anneal/decay phase counted in steps."""
    return bool(SCHEDULE_KEY.search(normalise(key)))


def is_length_key(key: str) -> bool:
    """A schedule's own length or change points (`T_max`, `milestones`)."""
    key = normalise(key)
    return bool(LENGTH_KEY.search(key) or POSITIONS_KEY.search(key))


def is_run_length(key: str) -> bool:
    key = normalise(key)
    return key not in NOT_RUN_LENGTH and bool(RUN_LENGTH.search(key))


# Config sections whose lengths are not the training run's (`eval.max_iters`: batches per evaluation).
_OTHER_RUNS = re.compile(r"^(eval|evaluation|evaluator|val|valid|validation|test|testing|log|logging|logger|"
                         r"benchmark|profil\w*|generat\w*|sampl\w*|inference|predict\w*)$", re.I)


def is_run_length_path(path: str) -> bool:
    """A dotted config key (`train.max_steps`) that sets the training run's length: not one in an
    evaluation, logging or generation section (`eval.max_iters`)."""
    *sections, key = path.split(".")
    return is_run_length(key) and not any(_OTHER_RUNS.match(section) for section in sections)


def is_total_steps(key: str) -> bool:
    return bool(TOTAL_STEPS.search(normalise(key)))


def schedule_kind(name: str, value: Value) -> str | None:
    """What an absolute value of this setting fixes: "count" (a warmup/anneal/decay phase in steps),
    "length" (a schedule's own length), "positions" (a step schedule's change points), else None
    (no positive literal, or a name of none of these)."""
    key = normalise(name)
    if isinstance(value, tuple):
        return "positions" if POSITIONS_KEY.search(key) and min(value) > 0 else None
    if value is None or value <= 0:
        return None
    if LENGTH_KEY.search(key):
        return "length"
    return "count" if SCHEDULE_KEY.search(key) and not is_run_length(key) else None


def scheduler_length(qualified: str | None) -> tuple[str, int | None] | None:
    """(length keyword, position) of a scheduler construction, by its qualified name."""
    if not qualified:
        return None
    module, _, leaf = qualified.rpartition(".")
    spec = SCHEDULER_LENGTHS.get(leaf)
    if spec is None or (module and module not in SCHEDULER_MODULES):
        return None
    if not module and not (leaf.endswith("LR") or leaf.endswith("_with_warmup")):
        return None  # a bare `get_scheduler` is anybody's; a bare `CosineAnnealingLR` is torch's
    keyword, position = spec
    return keyword, position if module.startswith(("torch", "transformers")) else None


def literal_int(expr: cst.BaseExpression | None) -> int | None:
    """An integer literal (`5000`, `50_000`, `int(1e5)` and `1e5`/`5000.0` when integral)."""
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.evaluated_value)
        except ValueError:
            return None
    if isinstance(expr, cst.Float):
        value = float(expr.evaluated_value)
        return int(value) if value.is_integer() else None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "int" \
            and len(expr.args) == 1:
        return literal_int(expr.args[0].value)
    return None


def literal_value(expr: cst.BaseExpression | None) -> Value:
    """An integer literal, or a list/tuple of integer literals (`[30, 60, 90]`)."""
    if isinstance(expr, (cst.List, cst.Tuple)) and expr.elements:
        values = [literal_int(el.value) if isinstance(el, cst.Element) else None for el in expr.elements]
        return tuple(values) if None not in values else None  # type: ignore[arg-type]
    if isinstance(expr, cst.Lambda):  # field(default_factory=lambda: [30, 60])
        return literal_value(expr.body) if isinstance(expr.body, (cst.List, cst.Tuple)) else None
    return literal_int(expr)


@dataclass(frozen=True)
class Setting:
    name: str  # as written: `warmup_steps`, `--warmup-steps` (match it through `normalise`)
    node: cst.CSTNode  # where it is named
    value: Value


@dataclass(frozen=True)
class SettingGroup:
    """Settings configured together; `sep` is how the source writes a name and its value."""

    settings: tuple[Setting, ...]
    sep: str
    function: cst.FunctionDef | None = None  # for a function's parameters: that function


@dataclass(frozen=True)
class SchedulerLength:
    call: cst.Call
    keyword: str  # the length parameter (`T_max`)
    node: cst.BaseExpression  # its literal argument
    value: Value
    functions: tuple[cst.FunctionDef, ...]  # the functions around the call, outermost first


@dataclass
class ScheduleSettings:
    groups: list[SettingGroup] = field(default_factory=list)
    scheduler_lengths: list[SchedulerLength] = field(default_factory=list)
    run_length_reads: list[str] = field(default_factory=list)  # `args.epochs`, `cfg["max_steps"]`


class _Collector(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.facts = ScheduleSettings()
        self.functions: list[cst.FunctionDef | None] = [None]
        self.benchmark: list[bool] = [False]  # inside a benchmark's class or function
        self.argparse: dict[int, list[Setting]] = {}  # per function (or module) that adds the options

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ClassDef):
            self.benchmark.append(self.benchmark[-1] or bool(BENCHMARK.search(node.name.value)))
            if self._is_config_class(node):
                self._config_class(node)
        elif isinstance(node, cst.FunctionDef):
            self.functions.append(node)
            self.benchmark.append(self.benchmark[-1] or bool(BENCHMARK.search(node.name.value)))
            self._function(node)
        elif isinstance(node, cst.Call):
            self._call(node)
        elif isinstance(node, cst.Attribute) and is_run_length(node.attr.value) and node.attr.value != "epoch":
            base = dotted_name(node.value)
            if base != "self":  # `self.epochs = 100` may be a constant; `self.hparams.epochs` is configured
                self.facts.run_length_reads.append(f"{base or '…'}.{node.attr.value}")
        elif isinstance(node, cst.Subscript) and len(node.slice) == 1:
            index = node.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                key = index.value.evaluated_value
                if isinstance(key, str) and is_run_length(key) and key != "epoch":
                    self.facts.run_length_reads.append(f'{dotted_name(node.value) or "…"}["{key}"]')
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.FunctionDef):
            self.functions.pop()
            self.benchmark.pop()
        elif isinstance(original_node, cst.ClassDef):
            self.benchmark.pop()
        elif isinstance(original_node, cst.Module):
            self.facts.groups.extend(SettingGroup(tuple(s), "=") for s in self.argparse.values())

    def _is_config_class(self, node: cst.ClassDef) -> bool:
        for dec in node.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.ctx.qualified_name(target) in CONFIG_DECORATORS:
                return True
        return any(self.ctx.qualified_name(base.value) in CONFIG_BASES for base in node.bases)

    def _config_class(self, node: cst.ClassDef) -> None:
        fields = []
        for stmt in node.body.body:
            for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    fields.append(Setting(small.target.value, small.target, self._field_default(small.value)))
                elif isinstance(small, cst.Assign) and len(small.targets) == 1 \
                        and isinstance(small.targets[0].target, cst.Name):
                    target = small.targets[0].target
                    fields.append(Setting(target.value, target, self._field_default(small.value)))
        self.facts.groups.append(SettingGroup(tuple(fields), " = "))

    def _field_default(self, value: cst.BaseExpression | None) -> Value:
        if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in FIELD_CALLS:
            arg = find_arg(value, "default", 0 if dotted_name(value.func) in ("Field", "pydantic.Field") else None)
            arg = arg or find_arg(value, "default_factory")
            return literal_value(arg.value) if arg is not None else None
        return literal_value(value)

    def _function(self, node: cst.FunctionDef) -> None:
        if self.benchmark[-1]:
            return  # a benchmark's warm-up iterations are not a training schedule (torch.utils.benchmark)
        params = node.params
        self.facts.groups.append(SettingGroup(tuple(
            Setting(p.name.value, p.name, literal_value(p.default))
            for p in (*params.posonly_params, *params.params, *params.kwonly_params)), "=", node))
        options = [entry for dec in node.decorators if isinstance(dec.decorator, cst.Call)
                   and self.ctx.qualified_name(dec.decorator.func) in ("click.option", "option")
                   for entry in self._option(dec.decorator)]
        self.facts.groups.append(SettingGroup(tuple(options), "="))  # one click command's options

    def _call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "add_argument":
            self.argparse.setdefault(id(self.functions[-1]), []).extend(self._option(node))
            return
        spec = scheduler_length(self.ctx.qualified_name(node.func))
        if spec is not None:
            arg = find_arg(node, *spec)
            value = literal_value(arg.value) if arg is not None else None
            if value is not None:
                functions = tuple(f for f in self.functions if f is not None)
                self.facts.scheduler_lengths.append(SchedulerLength(node, spec[0], arg.value, value, functions))

    def _option(self, call: cst.Call) -> list[Setting]:
        names = [a for a in call.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
        if not names:
            return []
        longest = max(names, key=lambda a: len(a.value.evaluated_value))  # `--warmup-steps` over `-w`
        default = find_arg(call, "default")
        return [Setting(str(longest.value.evaluated_value), longest.value,
                        literal_value(default.value) if default is not None else None)]


def _python_settings(ctx: FileContext, module: cst.Module) -> ScheduleSettings:
    collector = _Collector(ctx)
    walk(module, collector)
    return collector.facts


def python_settings(ctx: FileContext) -> ScheduleSettings:
    """The file's schedule and run-length settings (computed once per file)."""
    if ctx.module is None:
        return ScheduleSettings()
    return ctx.memo.get(_python_settings, ctx, ctx.module)

"""ML302 hardcoded-schedule-steps: docs in rules/ML302-hardcoded-schedule-steps.md.

An absolute warmup/anneal/decay step count sitting next to a configurable run length (epochs,
total steps, dataset size) only fits one run length. Checked in YAML configs and in Python config
classes (dataclass/attrs/pydantic fields), argparse/click option defaults and function defaults.
"""

from __future__ import annotations

import re

import libcst as cst
import yaml

from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Words
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register

# A schedule phase measured in steps: `warmup_steps`, `q_temperature_anneal_steps`,
# `epsilon_decay_steps`, `lr_decay_iters`, `num_warmup_steps`, `rampup_updates`. Epoch-valued
# keys (`warmup_epochs`) are left alone: they already scale with the dataset size.
SCHEDULE_KEY = re.compile(r"(warm_?up|anneal|decay|ramp_?up|ramp|cool_?down)[a-z0-9_]*?_?"
                          r"(steps?|iters?|iterations|updates|timesteps|frames)$")
# The run length: if none of these is configurable next to the count, the count may be the design.
RUN_LENGTH = re.compile(r"^(num_|n_|max_|total_|train_|num_train_|num_training_|total_train_|total_training_"
                        r"|max_train_)?"
                        r"(epochs|steps|iters|iterations|timesteps|updates|train_steps|training_steps)$"
                        r"|^(t_total|dataset_size|num_samples|num_train_samples|train_size|n_samples|epoch)$")
# The run length in steps (same unit as the count), used to suggest the ratio.
TOTAL_STEPS = re.compile(r"^(num_|max_|total_|num_train_|num_training_|total_train_|total_training_|max_train_)"
                         r"(steps|iters|iterations|timesteps|updates|train_steps|training_steps)$|^t_total$")
NOT_RUN_LENGTH = {"n_steps", "steps", "updates", "n_updates"}  # SB3's n_steps is the rollout length

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


def normalise(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_").lower()


def is_schedule_key(key: str) -> bool:
    return bool(SCHEDULE_KEY.search(normalise(key)))


def is_run_length(key: str) -> bool:
    key = normalise(key)
    return key not in NOT_RUN_LENGTH and bool(RUN_LENGTH.search(key))


def ratio_name(key: str) -> str:
    dashes = key.lstrip().startswith("-")
    base = re.sub(r"_?(steps?|iters?|iterations|updates|timesteps|frames)$", "", normalise(key))
    base = re.sub(r"^num_", "", base)
    name = f"{base}_ratio" if base else "ratio"
    return "--" + name.replace("_", "-") if dashes else name


def format_ratio(value: float) -> str:
    text = f"{value:.4g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text if "e" not in text else f"{value:.6f}".rstrip("0")


def message(key: str, value: int, run_keys: list[str], totals: dict[str, int], sep: str,
            names: list[str] = ()) -> str:
    """One line: what is wrong, and the ratio the current numbers imply when the total is known.
    `names`: the keys configured with it, where the ratio may already be."""
    where = ", ".join(f"`{k}`" for k in run_keys[:2])
    text = f"`{key}{sep}{value}` is an absolute step count but the run length ({where}) is configurable"
    existing = [n for n in names if normalise(n) == normalise(ratio_name(key))]
    if existing:  # the ratio is there already: the step count is what keeps it from applying
        return (f"{text}, and `{existing[0]}` is configured next to it; set `{key}` to 0 so the ratio "
                f"decides (a step count above 0 usually wins, as in transformers' TrainingArguments)")
    text += "; use a ratio of the total steps instead"
    for total_key, total in totals.items():
        if total > 0:
            ratio = value / total
            text += f" ({value} of {total} `{total_key}` → `{ratio_name(key)}{sep}{format_ratio(ratio)}`"
            if ratio > 1:
                text += ", longer than the whole run"
            text += ")"
            break
    return text


def parse_int(text: str) -> int | None:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            return None


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


# ---- YAML -------------------------------------------------------------------------------------

INT_TAG = "tag:yaml.org,2002:int"
STR_TAG = "tag:yaml.org,2002:str"


def yaml_pairs(root: yaml.Node):
    """Every (key node, value node) of every mapping under `root`, each node visited once.

    Aliases are shared node objects in the composed graph, so a visited set keeps a "billion
    laughs" document linear; the walk is iterative so deep nesting cannot blow the stack.
    """
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                yield key, value
                todo.append(value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


def yaml_documents(source: str):
    """Composed (never constructed) documents: no tag can build an object."""
    from mllint.analysis.hydra.configs import BoundedLoader  # refuses nesting that would take seconds to scan

    return list(yaml.compose_all(source, Loader=BoundedLoader))


@register
class HardcodedScheduleSteps(Rule):
    code = "ML302"
    name = "hardcoded-schedule-steps"
    summary = "An absolute warmup/anneal/decay step count does not scale with the configurable run length."
    file_kinds = ("python", "yaml")
    evidence = {"yaml": ("warmup", "warm_up", "anneal", "decay", "ramp", "cooldown", "cool_down")}
    # a schedule step count and a run length among the file's names and option strings
    candidates = Words(lambda word: is_schedule_key(word)) & Words(lambda word: is_run_length(word))

    def __init__(self, ctx, options):
        super().__init__(ctx, options)
        self._argparse: dict[int, list] = {}

    # ---- YAML ---------------------------------------------------------------------------------
    def check_file(self, ctx) -> None:
        try:
            documents = yaml_documents(ctx.source)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            at = ctx.location_at(mark.index) if mark is not None else None
            row, col = (at.row, at.column) if at is not None else (1, 1)
            problem = exc.problem or exc.context or "invalid YAML"
            ctx.report_syntax_error(f"YAML syntax error: {problem}", row, col)
            return
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            ctx.report_syntax_error(f"YAML could not be read: {type(exc).__name__}", 1, 1)
            return
        for doc in documents:
            if doc is not None:
                self._check_yaml_document(doc)

    def _check_yaml_document(self, doc: yaml.Node) -> None:
        candidates = []
        run_keys: list[str] = []
        names: list[str] = []
        totals: dict[str, int] = {}
        for key, value in yaml_pairs(doc):
            if not isinstance(key, yaml.ScalarNode) or key.tag != STR_TAG:
                continue
            name = key.value
            if not isinstance(value, yaml.ScalarNode):
                continue
            number = parse_int(value.value) if value.tag == INT_TAG else None
            if is_run_length(name):
                run_keys.append(name)
                if number is not None and TOTAL_STEPS.search(normalise(name)):
                    totals.setdefault(name, number)
            elif is_schedule_key(name) and number is not None and number > 0:
                candidates.append((key, name, number))
            names.append(name)
        if not run_keys:
            return
        for key, name, number in candidates:
            start, end = self.ctx.location_at(key.start_mark.index), self.ctx.location_at(key.end_mark.index)
            self.report(None, message(name, number, run_keys, totals, ": ", names), start=start, end=end)

    # ---- Python: config classes ---------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not self._is_config_class(node):
            return
        fields: list[tuple[str, cst.CSTNode, int | None]] = []
        for stmt in node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    fields.append((small.target.value, small.target, self._field_default(small.value)))
                elif isinstance(small, cst.Assign) and len(small.targets) == 1 \
                        and isinstance(small.targets[0].target, cst.Name):
                    fields.append((small.targets[0].target.value, small.targets[0].target,
                                   self._field_default(small.value)))
        self._check_group(fields, " = ")

    def _is_config_class(self, node: cst.ClassDef) -> bool:
        for dec in node.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.ctx.qualified_name(target) in CONFIG_DECORATORS:
                return True
        return any(self.ctx.qualified_name(base.value) in CONFIG_BASES for base in node.bases)

    def _field_default(self, value: cst.BaseExpression | None) -> int | None:
        if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in FIELD_CALLS:
            arg = find_arg(value, "default", 0 if dotted_name(value.func) in ("Field", "pydantic.Field") else None)
            return literal_int(arg.value) if arg is not None else None
        return literal_int(value)

    # ---- Python: function defaults ------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        klass = self.ctx.enclosing_class()
        if BENCHMARK.search(node.name.value) or (klass is not None and BENCHMARK.search(klass.name.value)):
            return  # a benchmark's warm-up iterations are not a training schedule (torch.utils.benchmark)
        params = node.params
        fields = [(p.name.value, p.name, literal_int(p.default))
                  for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        self._check_group(fields, "=")
        options = []  # click: @click.option("--warmup-steps", default=5000) on the same command
        for dec in node.decorators:
            call = dec.decorator
            if isinstance(call, cst.Call) and self.ctx.qualified_name(call.func) in ("click.option", "option"):
                options.extend(self._option_entries(call))
        self._check_group(options, "=")

    # ---- Python: argparse ---------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        """add_argument calls, grouped by the function (or module) that makes them."""
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "add_argument":
            scope = self.ctx.enclosing_function() or self.ctx.module
            self._argparse.setdefault(id(scope), []).extend(self._option_entries(node))

    def leave_Module(self, node: cst.Module) -> None:
        for entries in self._argparse.values():
            self._check_group(entries, "=")

    def _option_entries(self, call: cst.Call) -> list[tuple[str, cst.CSTNode, int | None]]:
        names = [a for a in call.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
        if not names:
            return []
        longest = max(names, key=lambda a: len(a.value.evaluated_value))  # `--warmup-steps` over `-w`
        name = str(longest.value.evaluated_value)  # shown as written (`--warmup-steps`), matched normalised
        default = find_arg(call, "default")
        return [(name, longest.value, literal_int(default.value) if default is not None else None)]

    # ---- shared -------------------------------------------------------------------------------
    def _check_group(self, fields: list[tuple[str, cst.CSTNode, int | None]], sep: str) -> None:
        """Fields configured together: flag step counts if the run length is among them."""
        run_keys = [name for name, _, _ in fields if is_run_length(name)]
        if not run_keys:
            return
        totals = {name: value for name, _, value in fields
                  if value is not None and TOTAL_STEPS.search(normalise(name))}
        for name, node, value in fields:
            if value is not None and value > 0 and is_schedule_key(name) and not is_run_length(name):
                self.report(node, message(name, value, run_keys, totals, sep, [n for n, _, _ in fields]))

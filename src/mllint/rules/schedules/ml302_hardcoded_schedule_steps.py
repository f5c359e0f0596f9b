"""ML302 hardcoded-schedule-steps: docs in rules/ML302-hardcoded-schedule-steps.md.

A schedule fixed in absolute numbers — a warmup/anneal/decay phase in steps, a scheduler's own
length (`T_max`, OneCycleLR's `total_steps`) or change points (`milestones`) — next to a
configurable run length (epochs, total steps, dataset size) only fits one run length. The facts come
from analysis/schedule_lengths.py (Python: config classes, argparse/click options, signatures,
scheduler constructions) and analysis/yaml_settings.py (YAML); the run length that a Hydra config
group file is composed with, from hydra/composed.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from mllint.analysis.schedule_lengths import (
    LENGTH_KEY, SCHEDULER_LENGTHS, Value, is_length_key, is_run_length, is_run_length_path, is_schedule_key, is_total_steps, normalise,
    python_settings, schedule_kind,
)
from mllint.analysis.yaml_settings import yaml_settings
from mllint.engine.candidates import Calls, Words
from mllint.engine.rule import Rule, register


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


def shown(value: Value) -> str:
    return f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else str(value)


def message(kind: str, key: str, value: Value, run_keys: list[str], totals: dict[str, int], sep: str,
            names: list[str] = ()) -> str:
    """One line: what is wrong, and what to write instead. `totals`: run lengths in steps with
    their values; `names`: the keys configured with it, where the ratio may already be."""
    where = ", ".join(f"`{k}`" for k in run_keys[:2])
    if kind == "positions":
        return (f"`{key}{sep}{shown(value)}` are absolute change points but the run length ({where}) is "
                "configurable; place them at fractions of the run length")
    if kind == "length":
        text = f"`{key}{sep}{value}` is an absolute schedule length but the run length ({where}) is configurable"
        same_unit = LENGTH_KEY.search(normalise(key)) or is_total_steps(run_keys[0].rsplit(".", 1)[-1])
        if sep == ": " and same_unit:  # a YAML interpolation keeps them together
            return f"{text}; set it from the run length (`{key}: ${{{run_keys[0]}}}`)"
        if sep == "=" and "." in run_keys[0] and same_unit:  # read from the config where it is built
            return f"{text}; derive it from the run length (e.g. `{key}={run_keys[0]}`)"
        return f"{text}; derive it from the run length where the scheduler is built"
    text = f"`{key}{sep}{value}` is an absolute step count but the run length ({where}) is configurable"
    existing = [n for n in names if normalise(n) == normalise(ratio_name(key))]
    if existing:  # the ratio is there already: the step count is what keeps it from applying
        return (f"{text}, and `{existing[0]}` is configured next to it; set `{key}` to 0 so the ratio "
                f"decides (a step count above 0 usually wins, as in transformers' TrainingArguments)")
    text += "; use a ratio of the total steps instead"
    for total_key, total in totals.items():
        if total > 0:
            ratio = value / total  # type: ignore[operator]
            text += f" ({value} of {total} `{total_key}` → `{ratio_name(key)}{sep}{format_ratio(ratio)}`"
            if ratio > 1:
                text += ", longer than the whole run"
            text += ")"
            break
    return text


def _literal_length(call: ast.Call) -> bool:
    """Candidate filter: a scheduler construction given its length as a literal (CPython AST)."""
    func = call.func
    leaf = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    keyword, position = SCHEDULER_LENGTHS.get(leaf, (None, None))
    arg = next((k.value for k in call.keywords if k.arg == keyword), None)
    if arg is None and position is not None and len(call.args) > position:
        arg = call.args[position]
    items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
    return arg is not None and all(isinstance(i, ast.Constant) and isinstance(i.value, (int, float)) for i in items)


@register
class HardcodedScheduleSteps(Rule):
    code = "ML302"
    name = "hardcoded-schedule-steps"
    summary = "An absolute schedule length (warmup/anneal/decay steps, T_max, milestones) ignores the configurable run length."
    file_kinds = ("python", "yaml")
    cross_file = ("yaml",)  # a Hydra group's config is judged with the configs it is composed with
    evidence = {"yaml": ("warmup", "warm_up", "anneal", "decay", "ramp", "cooldown", "cool_down", "T_max", "t_max",
                         "t_initial", "milestones", "lr_steps", "lr_epochs", "OneCycleLR", "PolynomialLR")}
    # a schedule setting, or a scheduler built with a literal length, and a run length among the
    # file's names and option strings
    candidates = (Words(lambda word: is_schedule_key(word) or is_length_key(word))
                  | Calls(*SCHEDULER_LENGTHS, where=_literal_length)) & Words(is_run_length)

    # ---- YAML ---------------------------------------------------------------------------------
    def check_file(self, ctx) -> None:
        try:
            documents = yaml_settings(ctx)
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
        for settings in documents:
            flagged = []
            for s in settings:
                kind = "length" if s.is_scheduler_length and isinstance(s.value, int) and s.value > 0 \
                    else schedule_kind(s.name, s.value)
                if kind is not None:
                    flagged.append((s, kind))
            if not flagged:
                continue
            lengths = {id(s) for s, kind in flagged if s.is_scheduler_length}
            run = [(s.path, s.value) for s in settings if is_run_length_path(s.path) and id(s) not in lengths]
            names = [s.name for s in settings]
            if not run:
                run = self._composed_run_lengths(ctx)
            if not run:
                continue
            run_keys = [path for path, _ in run]
            totals = {path.rsplit(".", 1)[-1]: value for path, value in run
                      if isinstance(value, int) and is_total_steps(path.rsplit(".", 1)[-1])}
            for s, kind in flagged:
                start, end = ctx.location_at(s.key.start_mark.index), ctx.location_at(s.key.end_mark.index)
                self.report(None, message(kind, s.name, s.value, run_keys, totals, ": ", names), start=start, end=end)

    def _composed_run_lengths(self, ctx) -> list[tuple[str, Value]]:
        from mllint.analysis.hydra.composed import composed_keys

        root = Path(getattr(ctx.project, "root", None) or Path.cwd())
        return [(key, value if isinstance(value, int) else None)
                for key, value, _ in composed_keys(Path(ctx.path), root, is_run_length) if is_run_length_path(key)]

    # ---- Python -------------------------------------------------------------------------------
    def leave_Module(self, node) -> None:
        facts = python_settings(self.ctx)
        for group in facts.groups:
            self._check_group(group.settings, group.sep)
        # run lengths the whole script configures (options, config fields, reads of a config), and
        # the parameters of the functions around each scheduler (a helper's `num_steps` is not it)
        script = facts.run_length_reads + [s.name for g in facts.groups if g.function is None for s in g.settings
                                           if is_run_length(s.name)]
        params = {g.function: [s.name for s in g.settings if is_run_length(s.name) and normalise(s.name) != "epoch"]
                  for g in facts.groups if g.function is not None}
        for length in facts.scheduler_lengths:
            configured = list(dict.fromkeys(script + [n for f in length.functions for n in params.get(f, ())]))
            values = length.value if isinstance(length.value, tuple) else (length.value,)
            if configured and min(values) > 0:
                kind = "positions" if isinstance(length.value, tuple) else "length"
                self.report(length.node, message(kind, length.keyword, length.value, configured[:2], {}, "="))

    def _check_group(self, fields, sep: str) -> None:
        """Fields configured together: flag schedule settings if the run length is among them."""
        run_keys = [s.name for s in fields if is_run_length(s.name)]
        if not run_keys:
            return
        totals = {s.name: s.value for s in fields if isinstance(s.value, int) and is_total_steps(s.name)}
        names = [s.name for s in fields]
        for s in fields:
            kind = schedule_kind(s.name, s.value)
            if kind is not None:
                self.report(s.node, message(kind, s.name, s.value, run_keys, totals, sep, names))

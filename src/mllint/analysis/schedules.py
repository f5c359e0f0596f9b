"""Schedules and the training clock: the shared vocabulary of schedule calls, step arguments and
run lengths (ML301, ML303), and the facts about counters that can drive a schedule.

- `counter(ctx, cls, attr)`: is `self.<attr>` of a class (its bases included, also those imported
  from other project files) a counter, i.e. set to a number and only ever incremented by a number;
  and if so, in which functions it ticks, whether under a condition or an accumulation boundary,
  and whether inside a loop. Read from the class facts (`classes.attribute_writes`), never by walking per question.
- `global_step_reads(ctx, function)`: the `<x>.global_step` attributes read in a function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.classes import AttributeWrite, attribute_writes, project_lineage
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

# ---- vocabulary ---------------------------------------------------------------------------------
# A call that computes a schedule's value (annealing, warmup, epsilon, temperature, penalty).
SCHEDULE_CALL = re.compile(r"anneal|schedul|temperature|epsilon|warm_?up|decay|penalty|ramp", re.I)
# Keyword arguments that pass a step to a schedule.
STEP_KEYWORDS = frozenset({"current_step", "step", "global_step", "progress", "t", "cur_step", "curr_step",
                           "iteration", "it"})
# Parameters that carry the training loop's step into a method.
GLOBAL_STEP_PARAMS = ("global_step", "train_step", "global_iteration", "global_iter", "total_step", "step",
                      "current_step", "cur_step", "curr_step", "iteration", "step_idx")
# Names that size a learning-rate or annealing schedule (not logging or evaluation counts).
TOTAL_NAME = re.compile(r"^(t_total|(total|max|num|n)_(train_|training_|update_|optimization_|optimizer_)?"
                        r"(steps|iters|iterations|updates)|(train|training)_steps|total_(train|training)_steps"
                        r"|steps_total)$")
# Keyword arguments that size a schedule.
SCHEDULE_KEYWORDS = frozenset({"num_training_steps", "total_steps", "T_max", "total_iters", "max_steps", "t_total",
                               "num_steps", "t_initial", "max_iters", "total_training_steps"})
EPOCHS = re.compile(r"epochs$|^epochs|_epochs_", re.I)


# ---- counters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counter:
    """`self.<attr>` set to a number (in `__init__` or the class body) and incremented by numbers."""

    increment_functions: frozenset[str]  # names of the functions that increment it
    conditional: bool  # some increment runs under an `if` (other than `self.training`), a guard or a handler
    in_loop: bool  # some increment sits in a loop of its function


def _is_number(node: cst.CSTNode | None) -> bool:
    return isinstance(node, (cst.Integer, cst.Float))


def _is_attr_plus_number(value: cst.BaseExpression | None, attr: str) -> bool:
    """`<x>.attr + 1` (either order)."""
    if not (isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add)):
        return False
    sides = (value.left, value.right)
    return any(isinstance(s, cst.Attribute) and s.attr.value == attr for s in sides) and any(map(_is_number, sides))


def _test_code(test: cst.BaseExpression) -> str:
    return cst.Module([]).code_for_node(test.with_changes(lpar=[], rpar=[]) if test.lpar else test)


def _guard_tests(block: cst.CSTNode, stmt: cst.CSTNode) -> list[cst.BaseExpression]:
    """Tests of the guard clauses (`if batch is None: return`) above `stmt` in its block."""
    body = getattr(block, "body", ())
    if not isinstance(body, (list, tuple)):
        return []
    tests = []
    for sibling in body:
        if sibling is stmt:
            break
        if isinstance(sibling, cst.If) and sibling.orelse is None:
            last = sibling.body.body[-1] if sibling.body.body else None
            if isinstance(last, cst.SimpleStatementLine):
                last = last.body[-1]
            if isinstance(last, (cst.Return, cst.Continue)):
                tests.append(sibling.test)
    return tests


def _condition(write: AttributeWrite) -> str:
    """'boundary' if an `if` around (or a guard above) the write is a gradient-accumulation boundary
    (`% accum`), 'conditional' if any other test or an exception handler guards it, else 'always'
    (`if self.training:` counts as always)."""
    state = "always"
    path = write.path
    for i in range(len(path) - 1, -1, -1):
        node = path[i]
        child = path[i + 1] if i + 1 < len(path) else write.node
        tests = []
        if isinstance(node, cst.If) and child is not node.test:
            tests.append(node.test)
        elif isinstance(node, (cst.ExceptHandler, getattr(cst, "ExceptStarHandler", cst.ExceptHandler))):
            state = "conditional"
        if isinstance(child, cst.BaseStatement):
            tests += _guard_tests(node, child)
        for test in tests:
            text = _test_code(test)
            if "%" in text or "accum" in text.lower():
                return "boundary"
            if not re.fullmatch(r"\s*(not\s+)?self\.training\s*", text):
                state = "conditional"
    return state


def _counter(ctx: FileContext, key: tuple[cst.ClassDef, str]) -> Counter | None:
    cls, attr = key
    writes: list[AttributeWrite] = []
    initialised = False
    for here, klass in project_lineage(ctx, cls):  # bases in other project files too
        writes += attribute_writes(here, klass).get(attr, ())
        for stmt in klass.body.body:  # `count = 0` in a class body
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else \
                        [small.target] if isinstance(small, cst.AnnAssign) else []
                    if any(isinstance(t, cst.Name) and t.value == attr for t in targets) and _is_number(small.value):
                        initialised = True
    if not writes:
        return None
    functions: set[str] = set()
    conditional = in_loop = False
    for write in writes:
        name = write.function.name.value if isinstance(write.function, cst.FunctionDef) else "<lambda>"
        if write.kind == "augassign":
            if not isinstance(write.operator, cst.AddAssign) or not _is_number(write.value):
                return None
        elif write.kind in ("assign", "annassign") and write.value is not None:
            if _is_number(write.value):
                initialised = initialised or name == "__init__"
                continue  # a reset to a constant
            if not _is_attr_plus_number(write.value, attr):
                return None  # set from something else (maybe synced to the global step)
        else:
            return None  # tuple unpacking, a loop or `with` target: not a simple counter
        functions.add(name)
        state = _condition(write)
        if state == "boundary":
            return None  # an optimizer-step counter under `if step % accum == 0`
        conditional = conditional or state == "conditional"
        in_loop = in_loop or any(isinstance(n, (cst.For, cst.While)) for n in write.path)
    if not initialised or not functions:
        return None
    return Counter(frozenset(functions), conditional, in_loop)


def counter(ctx: FileContext, cls: cst.ClassDef, attr: str) -> Counter | None:
    """`self.<attr>` of `cls` as a counter (see the module docstring), else None; once per (class, attr)."""
    return ctx.memo.get(_counter, ctx, (cls, attr))


class _GlobalStepReads(Visitor):
    def __init__(self) -> None:
        self.found: list[str] = []

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "global_step":
            name = dotted_name(node)
            if name is not None:
                self.found.append(name)


def _global_step_reads(ctx: FileContext, function: cst.FunctionDef) -> tuple[str, ...]:
    finder = _GlobalStepReads()
    walk(function, finder)
    return tuple(finder.found)


def global_step_reads(ctx: FileContext, function: cst.FunctionDef) -> tuple[str, ...]:
    """`self.trainer.global_step`, `state.global_step`... read in the function, in source order."""
    return ctx.memo.get(_global_step_reads, ctx, function)

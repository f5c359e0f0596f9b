"""Facts shared by the evaluation rules (ML801, ML802): which calls switch a model to evaluation
mode, which functions' timelines are judged (the others are seen spliced into their callers), and
which loops only retry (not a pass over data)."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.timeline import file_facts
from mllint.engine.context import dotted_name

_RETRY = re.compile(r"retr(y|ies)|attempts?|tries", re.I)


def is_eval_call(call: ast.Call) -> bool:
    """`x.eval()` or `x.train(False)`: what the timeline records as an `eval` event."""
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "eval":
        return not call.args and not call.keywords
    # `.train(False)` / `.train(mode=False)` (not `super().train(mode)`: every module overriding train())
    values = [a for a in call.args] + [k.value for k in call.keywords]
    return len(values) == 1 and isinstance(values[0], ast.Constant) and values[0].value is False


def judged_roots(ctx) -> list[cst.CSTNode]:
    """The functions whose timelines the evaluation rules read: the module and every function or
    method that nothing in the file calls (helpers are seen spliced into their callers)."""
    facts = file_facts(ctx)
    called = facts.called()
    return [f for f in facts.functions() if f not in called]


def is_retry_loop(loop: cst.CSTNode) -> bool:
    """`while retries:` / `for attempt in range(3):`: a loop that repeats one attempt (profiling,
    a flaky download) until it succeeds, not an evaluation over data."""
    if type(loop) is cst.While:
        test = loop.test
        if type(test) is cst.Comparison:
            test = test.left
        name = dotted_name(test)
    elif type(loop) is cst.For:
        name = dotted_name(loop.target)
    else:
        return False
    return name is not None and bool(_RETRY.search(name.rsplit(".", 1)[-1]))

"""Facts shared by the evaluation rules (ML801, ML802): which calls switch a model to evaluation
mode, and which functions' timelines are judged (the others are seen spliced into their callers)."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.timeline import file_facts


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

"""ML705 accumulation-without-loss-scaling: docs in rules/ML705-accumulation-without-loss-scaling.md.

Reads the training-step timeline (analysis/timeline.py): an `optimizer.step()` under an
accumulation condition (`(i + 1) % N == 0`, a counter compared with N and reset) whose iteration's
backward runs outside that condition (on every micro-batch), with a loss that is neither divided
nor multiplied on its way to `backward()`. A gated block that backpropagates itself (DQN's
`if step % train_frequency == 0:` around the whole update, TD3's delayed actor update) is not
accumulation.
"""

from __future__ import annotations

import libcst as cst

from mllint.analysis.iterations import gate_of
from mllint.analysis.timeline import Event, exclusive, file_facts, timeline
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register
from mllint.engine.traversal import WORK

_SCALING = (cst.Divide, cst.Multiply, cst.FloorDivide)
_SCALING_METHODS = frozenset({"div", "div_", "mul", "mul_", "divide", "multiply", "true_divide"})


def _scaled_expression(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, _SCALING):
            return True
        return _scaled_expression(expr.left) or _scaled_expression(expr.right)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        if expr.func.attr.value in _SCALING_METHODS:
            return True
        return _scaled_expression(expr.func.value)  # (loss / n).mean()
    return False


@register
class AccumulationWithoutLossScaling(Rule):
    code = "ML705"
    name = "accumulation-without-loss-scaling"
    summary = "Gradient accumulation over N micro-batches with a loss that is not divided by N."
    fix_applicability = Applicability.UNSAFE
    candidates = Calls("step") & Calls("backward")

    def visit_Module(self, node: cst.Module) -> None:
        facts = file_facts(self.ctx)
        reported: set[int] = set()
        for function in facts.functions():
            events = timeline(self.ctx, function)
            for i, step in enumerate(events):
                if step.kind != "step" or step.closure:
                    continue
                gate = gate_of(step)
                if gate is None:
                    continue
                backward = self._backward(events, i)
                if backward is None or backward.within(gate[0]) or id(backward.node) in reported:
                    continue
                if backward.framework is not None or any(part == "accumulate" for _, part in backward.path):
                    continue  # accelerator.backward divides by the accumulation steps itself
                if self._scaled(backward):
                    continue
                reported.add(id(backward.node))
                n = self.ctx.code(gate[1])
                fix = self._fix(backward, n) if not backward.via and not step.via else None
                loss = self.ctx.code(backward.loss)
                loss = loss if len(loss) <= 40 and "\n" not in loss else "the loss"
                self.report(backward.node,
                            f"gradients accumulate over `{n}` micro-batches before `{step.target}.step()`, but "
                            f"{'`' + loss + '`' if loss != 'the loss' else loss} is not divided by `{n}`: the step "
                            f"uses {n} times the mean gradient, so the effective learning rate depends on the "
                            f"accumulation; backpropagate `loss / {n}`", fix)

    @staticmethod
    def _backward(events: list[Event], i: int) -> Event | None:
        step = events[i]
        loop = step.innermost_loop()
        for j in range(i - 1, -1, -1):
            e = events[j]
            WORK.units += 1
            if loop is not None and not e.within(loop):
                break  # before the loop
            if not exclusive(e, step):
                if e.kind == "backward":
                    return e
                if e.kind == "step":
                    return None  # the previous step: this one's backward is not before it
        return None

    def _scaled(self, backward: Event) -> bool:
        loss = backward.loss
        if loss is None:
            return True
        if _scaled_expression(loss):
            return True
        if isinstance(loss, cst.Name):
            bindings = self.ctx.bindings(backward.function).get(loss.value, [])
            if not bindings:
                return True  # a global or a name we cannot see: do not guess
            for binding in bindings:
                if binding.kind in ("param", "for", "with", "unpack", "comp"):
                    return True  # bound where we cannot see its value
                if binding.kind == "augassign" and isinstance(binding.node, cst.AugAssign) and \
                        isinstance(binding.node.operator, (cst.DivideAssign, cst.MultiplyAssign,
                                                           cst.FloorDivideAssign)):
                    return True
                if binding.value is not None and _scaled_expression(binding.value):
                    return True
                if isinstance(binding.value, cst.Name):
                    return True  # `loss = total`: followed no further
        return False

    def _fix(self, backward: Event, n: str) -> Fix | None:
        loss = backward.loss
        code = self.ctx.code(loss)
        if "\n" in code:
            return None
        if backward.scaler is not None:
            text = f"({code}) / {n}" if isinstance(loss, cst.BinaryOperation) else f"{code} / {n}"
        else:
            text = f"({code} / {n})"
        return Fix(Applicability.UNSAFE, f"Divide the loss by `{n}`", (self.ctx.replace(loss, text),))

"""ML601 state-carried-across-epochs: docs in rules/ML601-state-carried-across-epochs.md.

The Python form of the seed's Julia loop: `state` is created before a loop, re-bound inside it from
a simulation step of its previous value (`state = step(state, shocks, par)`), and the loop trains on
it (a loss or gradient computed from `state`). Only a narrow shape counts, because carrying state
over is right for RL environments, recurrent hidden states, data iterators, optimizer/train states
and persistent MCMC chains, none of which may be flagged.
"""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.loops import GRAD_FUNCTIONS, LOSS_CALL, LOSS_NAME, steps_environment, updates_parameters
from mllint.analysis.scopes import Reads, simple_statements, target_names
from mllint.analysis.scopes import reads as statement_reads
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_LOOPS = (cst.For, cst.While)
_CONDITIONAL = tuple(t for t in (cst.If, cst.Try, cst.For, cst.While, getattr(cst, "Match", None)) if t is not None)

# A simulation step: step/simulate/evolve/... or *_step/*_transition (`step_state`, `euler_step`).
STEP_FUNCTION = re.compile(
    r"^(step|sim|simulate|evolve|advance|propagate|integrate|transition|iterate|euler|rk4|dynamics|"
    r"law_of_motion|next_state|state_step|step_state|step_states)(_\w+)?$"
    r"|^\w+_(step|simulate|simulation|dynamics|transition|evolve|propagate|integrate)$", re.I)
# ...but not optimizer/training steps, environments, samplers with deliberate persistent chains.
NOT_SIMULATION = re.compile(
    r"train|update|opt|sgd|adam|sched|lr|loss|grad|env|policy|rollout|act|agent|batch|data|iter|load|"
    r"hidden|rnn|lstm|gru|cell|split|key|rng|langevin|mcmc|gibbs|sgld|hmc|chain|persist|buffer|replay|ema", re.I)
# State names that are carried on purpose.
CARRIED_ON_PURPOSE = re.compile(
    r"hidden|^h$|^hx$|^cx$|^c$|^hc$|^[hc]_?\d+$|^[hc]_?t$|carry|memory|^mem|lstm|rnn|gru|cell|obs|observation|"
    r"env|key|rng|seed|iter|loader|batch|param|opt|train_state|model|weight|ema|chain|buffer|step_count", re.I)
# The step size of an explicit Euler step (`x + dt * f(x)`).
TIME_STEP = re.compile(r"^(dt|delta_?t|d_?t|time_?step|timestep|h|tau|step_?size_?t|dt_\w+)$", re.I)
ACTION_ARG = re.compile(r"^(a|act|acts)$|action", re.I)
RL_TARGET = re.compile(r"reward|done|terminat|truncat|obs|info", re.I)


@register
class StateCarriedAcrossEpochs(Rule):
    code = "ML601"
    name = "state-carried-across-epochs"
    summary = "Training samples come from stepping the previous iteration's simulated state instead of fresh draws."
    stability = "preview"
    evidence = ("step", "sim", "evolve", "advance", "propagate", "integrate", "transition", "iterate",
                "euler", "rk4", "dynamics", "law_of_motion", "next_state")

    def visit_Assign(self, node: cst.Assign) -> None:
        call = node.value
        if isinstance(call, cst.BinaryOperation):
            call = self._euler_drift(node)  # x = x + dt * f(x, ...)
            if call is None:
                return
        elif not isinstance(call, cst.Call) or not self._simulation_function(call.func):
            return
        targets = [n for t in node.targets for n in target_names(t.target)]
        arg_names = set()
        for a in call.args:  # step(k, z, ...) and the tuple form transition((k, z), ...)
            if isinstance(a.value, cst.Name):
                arg_names.add(a.value.value)
            elif isinstance(a.value, (cst.Tuple, cst.List)) and a.keyword is None:
                arg_names.update(target_names(a.value))
        if any(ACTION_ARG.search(n) for n in arg_names) or \
                any(a.keyword is not None and ACTION_ARG.search(a.keyword.value) for a in call.args):
            return  # env-style step(state, action): an RL rollout
        if any(RL_TARGET.search(n) for n in targets):
            return
        carried = [n for n in targets if n in arg_names and not CARRIED_ON_PURPOSE.search(n)]
        if not carried:
            return
        function = self.ctx.enclosing_function()
        if function is not None and function.name.value in ("forward", "__call__"):
            return  # a model's forward pass (a stack of layers), not a training loop
        statement = self.ctx.enclosing_statement()
        loops = []
        for anc in self.ctx.ancestors():
            if isinstance(anc, _SCOPES):
                break
            if isinstance(anc, _LOOPS):
                loops.append(anc)
        for name in carried:
            for loop in reversed(loops):  # outermost first: report the epoch loop's carry once
                if self._carried_by(loop, name, statement):
                    self.report(node, self._message(name, call))
                    return

    def _euler_drift(self, node: cst.Assign) -> cst.Call | None:
        """`x = x + dt * f(x, ...)` (an explicit Euler step of `x`): the drift call `f(x, ...)`.

        The step size has to be named as a time step, so that gradient descent (`x - lr * g(x)`)
        and other updates are not read as a simulation; the drift must not be named as a gradient,
        loss or RL function either."""
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return None
        name = node.targets[0].target.value
        value = node.value
        if not (isinstance(value.operator, (cst.Add, cst.Subtract)) and isinstance(value.left, cst.Name)
                and value.left.value == name and isinstance(value.right, cst.BinaryOperation)
                and isinstance(value.right.operator, cst.Multiply)):
            return None
        product = value.right
        for step, drift in ((product.left, product.right), (product.right, product.left)):
            step_name = (dotted_name(step) or "").rsplit(".", 1)[-1]
            if not TIME_STEP.match(step_name) or not isinstance(drift, cst.Call):
                continue
            callee = (dotted_name(drift.func) or "").rsplit(".", 1)[-1]
            if callee and not NOT_SIMULATION.search(callee) \
                    and any(isinstance(a.value, cst.Name) and a.value.value == name for a in drift.args):
                return drift
        return None

    def _simulation_function(self, func: cst.BaseExpression) -> bool:
        if isinstance(func, cst.Name):
            name = func.value
        elif isinstance(func, cst.Attribute):
            base = dotted_name(func.value)
            # a module function (sim.step with `import sim`) or the class's own method; never a
            # method of some object (env.step, optimizer.step, scheduler.step, model.step)
            if base is None or not (base == "self" and self._own_method(func.attr.value)
                                    or base.split(".")[0] in self.ctx.imports):
                return False
            name = func.attr.value
        else:
            return False
        return bool(STEP_FUNCTION.search(name)) and not NOT_SIMULATION.search(name)

    def _own_method(self, name: str) -> bool:
        """`self.name` is a method defined in the class (not a submodule such as `self.transition`)."""
        cls = self.ctx.enclosing_class()
        return cls is not None and any(isinstance(stmt, cst.FunctionDef) and stmt.name.value == name
                                       for stmt in cls.body.body)

    def _carried_by(self, loop: cst.CSTNode, name: str, rebinding: cst.CSTNode) -> bool:
        ctx = self.ctx
        scope = ctx.scope()
        first = ctx.memo.get(_first_created, ctx, (scope, name))
        if first is None or not first < ctx.start_end(loop)[0]:
            return False
        if not updates_parameters(ctx, loop) or steps_environment(ctx, loop):
            return False  # no parameter update inside: a rollout/BPTT through the simulator, not epochs
        statements = simple_statements(ctx, loop)
        rebinding_row = ctx.start_end(rebinding)[0]
        aliases = {name}
        trains = False
        for stmt, path in statements:
            if stmt is rebinding:
                continue
            reads = statement_reads(ctx, stmt)
            assigned = [n for small in stmt.body if isinstance(small, (cst.Assign, cst.AnnAssign))
                        for t in (small.targets if isinstance(small, cst.Assign) else [small])
                        for n in target_names(t.target)]
            fresh_values = [small.value for small in stmt.body if isinstance(small, (cst.Assign, cst.AnnAssign))
                            and small.value is not None]
            # the targets are not reads: `x = sample_x0()` is a fresh value of `x`
            if name in assigned and not any(name in statement_reads(ctx, value).names for value in fresh_values):
                # a fresh value: if it runs on every pass before the step, nothing is carried over
                conditional = any(isinstance(n, _CONDITIONAL) for n in path[1:])
                if not conditional and ctx.start_end(stmt)[0] < rebinding_row:
                    return False
                continue
            if not (aliases & reads.names):
                continue
            if self._trains(stmt, reads):
                trains = True
            else:
                aliases.update(self._packed(stmt, name))  # data = (state, par, ss): one hop
        if not trains:
            # statements before the alias was made are not revisited: check again with all aliases
            for stmt, _ in statements:
                if stmt is not rebinding:
                    reads = statement_reads(ctx, stmt)
                    if aliases & reads.names and self._trains(stmt, reads):
                        trains = True
                        break
        return trains

    @staticmethod
    def _packed(stmt: cst.CSTNode, name: str) -> list[str]:
        """Targets of `data = (state, par)` / `[state, ...]` / `{"s": state}` that hold `name` as is."""
        out: list[str] = []
        for small in getattr(stmt, "body", ()):
            if not isinstance(small, cst.Assign):
                continue
            value = small.value
            if isinstance(value, (cst.Tuple, cst.List)):
                held = [el.value for el in value.elements]
            elif isinstance(value, cst.Dict):
                held = [el.value for el in value.elements if isinstance(el, cst.DictElement)]
            else:
                continue
            if any(isinstance(v, cst.Name) and v.value == name for v in held):
                out += [n for t in small.targets for n in target_names(t.target)]
        return out

    def _trains(self, stmt: cst.SimpleStatementLine, reads: Reads) -> bool:
        """A loss or gradient computation: backward(), autograd/jax grad, a loss-named call or target."""
        for call in reads.calls:
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                return True
            inner = func.func if isinstance(func, cst.Call) else func  # jax.value_and_grad(f)(params, x)
            qname = self.ctx.qualified_name(inner) or ""
            if qname in GRAD_FUNCTIONS or qname.split(".")[-1] in ("grad", "value_and_grad"):
                return True
            last = qname.split(".")[-1]
            if last and LOSS_CALL.search(last):
                return True
        for small in stmt.body:
            targets = []
            if isinstance(small, cst.Assign):
                targets = [n for t in small.targets for n in target_names(t.target)]
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                targets = target_names(small.target)
            if any(LOSS_NAME.search(n) for n in targets):
                return True
        return False

    def _message(self, name: str, call: cst.Call) -> str:
        func = self.ctx.module.code_for_node(call.func)
        return (f"`{name}` is re-bound from its previous value by `{func}(...)` on every pass of this loop and "
                f"trained on, so the samples drift away from the distribution they were drawn from; draw "
                f"fresh `{name}` samples each epoch (re-initialise it inside the loop) unless carrying it over "
                "is intended")


def _first_created(ctx, key: tuple[cst.CSTNode, str]):
    """Where the name is first given a value in the scope (not counting `+=`, loop targets...)."""
    scope, name = key
    starts = [ctx.start_end(b.node)[0] for b in ctx.bindings(scope).get(name, [])
              if b.kind in ("assign", "annassign", "unpack", "param", "with")]
    return min(starts) if starts else None

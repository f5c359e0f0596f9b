"""What a loop does to the model, from its simple statements (`scopes.simple_statements`), once
per loop: whether it updates parameters (`backward()`, `optimizer.step()`, a gradient or a
train-step call, also JAX/Equinox/Optax/Keras forms) and whether it steps or resets an
environment (an RL rollout). Vocabulary of training calls and loss names shared by the rules
that ask whether a statement trains (ML601)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.scopes import reads, simple_statements
from mllint.engine.context import dotted_name

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

LOSS_NAME = re.compile(r"loss|residual|objective|cost", re.I)
LOSS_CALL = re.compile(r"loss|residual|objective|criterion|^train_?step|^training_step$|^train_on_batch$|"
                       r"^grad(ient)?_step$", re.I)
UPDATE_CALL = re.compile(r"^train_?step|^training_step$|^train_on_batch$|^grad(ient)?_step$|^update_step$", re.I)
GRAD_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward", "jax.grad", "jax.value_and_grad",
                            "equinox.filter_grad", "equinox.filter_value_and_grad"})


def _updates_parameters(ctx: FileContext, loop: cst.CSTNode) -> bool:
    for stmt, _ in simple_statements(ctx, loop):
        for call in reads(ctx, stmt).calls:
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                return True
            if isinstance(func, cst.Attribute) and func.attr.value == "step" and not call.args:
                return True  # opt.step() (an environment's step takes an action)
            inner = func.func if isinstance(func, cst.Call) else func  # jax.value_and_grad(f)(params, x)
            qname = ctx.qualified_name(inner) or ""
            last = qname.split(".")[-1]
            if qname in GRAD_FUNCTIONS or last in ("grad", "value_and_grad", "apply_updates", "apply_gradients"):
                return True
            if last and UPDATE_CALL.search(last):
                return True
    return False


def updates_parameters(ctx: FileContext, loop: cst.CSTNode) -> bool:
    """The loop updates the model: backward(), optimizer.step(), a gradient or train-step call."""
    return ctx.memo.get(_updates_parameters, ctx, loop)


def _steps_environment(ctx: FileContext, loop: cst.CSTNode) -> bool:
    for stmt, _ in simple_statements(ctx, loop):
        for call in reads(ctx, stmt).calls:
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("step", "reset", "step_wait"):
                if "env" in (dotted_name(func.value) or "").split(".")[-1].lower():
                    return True
    return False


def steps_environment(ctx: FileContext, loop: cst.CSTNode) -> bool:
    """The loop steps or resets an environment (`env.step(a)`, `envs.reset()`): an RL rollout."""
    return ctx.memo.get(_steps_environment, ctx, loop)

"""ML404 functional-dropout-always-on: docs in rules/ML404-functional-dropout-always-on.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.classes import class_kinds, enclosing_method, first_param
from mllint.analysis.astutil import find_arg, number, with_arguments
from mllint.engine.candidates import Calls
from mllint.diagnostics import Applicability, Fix
from mllint.engine.rule import Rule, register

FUNCTIONAL_DROPOUTS = frozenset({f"torch.nn.functional.{name}" for name in (
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")})
TORCH_DROPOUTS = frozenset({"torch.dropout", "torch.alpha_dropout", "torch.feature_alpha_dropout",
                            "torch.feature_dropout"})  # (input, p, train): all required
TRAINING_POSITION = 2


def _ast_training_missing_or_true(call: ast.Call) -> bool:
    """CPython-AST mirror of the rule's argument test: no `training=`/third positional argument,
    or a literal True there; `p=0` and `*args`/`**kwargs` are left alone. `self.dropout(x)` calls
    a submodule (an `nn.Dropout`), never the functional form."""
    if type(call.func) is ast.Attribute and type(call.func.value) is ast.Name and call.func.value.id == "self":
        return False
    if any(type(a) is ast.Starred for a in call.args) or any(k.arg is None for k in call.keywords):
        return False
    keywords = {k.arg: k.value for k in call.keywords}
    p = keywords.get("p", call.args[1] if len(call.args) > 1 else None)
    if type(p) is ast.Constant and p.value == 0 and type(p.value) is not bool:
        return False
    value = keywords.get("training", keywords.get("train",
                                                  call.args[TRAINING_POSITION] if len(call.args) > 2 else None))
    return value is None or (type(value) is ast.Constant and value.value is True)


def _is_true(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


@register
class FunctionalDropoutAlwaysOn(Rule):
    code = "ML404"
    name = "functional-dropout-always-on"
    summary = "Functional dropout in an nn.Module without training=self.training stays on in eval mode."
    fix_applicability = Applicability.SAFE
    candidates = Calls(*{n.rsplit(".", 1)[-1] for n in FUNCTIONAL_DROPOUTS | TORCH_DROPOUTS},
                       where=_ast_training_missing_or_true)

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        name = ctx.call_name(node)
        if name not in FUNCTIONAL_DROPOUTS and name not in TORCH_DROPOUTS:
            return
        if any(arg.star for arg in node.args):
            return  # *args / **kwargs: the training argument may be among them
        p = find_arg(node, "p", 1)
        if p is not None and number(p.value) == 0:
            return
        training = find_arg(node, "train" if name in TORCH_DROPOUTS else "training", TRAINING_POSITION)
        if training is not None and not _is_true(training.value):
            return  # self.training, a flag, any non-literal: the caller decides
        if training is None and name in TORCH_DROPOUTS:
            return  # `train` is required there: a TypeError, not a silent bug
        method, cls = enclosing_method(ctx)
        if method is None or not class_kinds(ctx).is_module(cls):
            return  # outside module methods: possibly a deliberate MC-dropout function
        owner = first_param(method)
        if owner is None or any(_decorator_name(d) in ("staticmethod", "classmethod") for d in method.decorators):
            return
        if self._under_training_test(method, owner):
            return  # `if self.training or self.apply_during_inference: F.dropout(x, training=True)`
        shown = ctx.code(node.func)
        where = "with a literal `True` training argument" if training is not None else "without a training argument"
        message = (f"`{shown}` {where} inside a module method stays on after `model.eval()` (the functional "
                   f"form does not know the module's mode): evaluation and inference are random; pass "
                   f"`training={owner}.training`")
        self.report(node, message, self._fix(node, training, owner))

    def _under_training_test(self, method: cst.FunctionDef, owner: str) -> bool:
        """The call runs only where an `if` (or `x if ... else y`) around it has tested `<owner>.training`."""
        stack = self.ctx.stack
        flag = f"{owner}.training"
        for i in range(len(stack) - 2, -1, -1):
            anc, child = stack[i], stack[i + 1]
            if anc is method:
                return False
            if type(anc) is cst.If and child is anc.body or type(anc) is cst.IfExp and child is anc.body:
                if flag in self.ctx.code(anc.test):
                    return True
        return False

    def _fix(self, node: cst.Call, training: cst.Arg | None, owner: str) -> Fix:
        flag = cst.Attribute(value=cst.Name(owner), attr=cst.Name("training"))
        if training is not None:
            new = with_arguments(node, {training: flag}, [])
        else:
            new = with_arguments(node, {}, [("training", flag)])
        return Fix(Applicability.SAFE, f"Pass `training={owner}.training`", (self.ctx.replace(node, new),))


def _decorator_name(decorator: cst.Decorator) -> str | None:
    expr = decorator.decorator
    return expr.value if isinstance(expr, cst.Name) else None

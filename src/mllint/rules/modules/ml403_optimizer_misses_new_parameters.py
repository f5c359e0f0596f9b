"""ML403 optimizer-misses-new-parameters: docs in rules/ML403-optimizer-misses-new-parameters.md."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from mllint.engine.candidates import Calls, Nodes
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register

PARAMETER_SOURCES = ("parameters", "named_parameters")
PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})


def _ast_replaces_submodule(node: ast.AST) -> bool:
    """`model.fc = Linear(...)`, `self.model.head = nn.Parameter(...)` (not `self.fc = ...`)."""
    for target in node.targets:
        if type(target) is ast.Attribute and not (type(target.value) is ast.Name and target.value.id == "self") \
                and type(target.value) in (ast.Name, ast.Attribute) and type(node.value) is ast.Call:
            func = node.value.func
            name = func.attr if type(func) is ast.Attribute else func.id if type(func) is ast.Name else ""
            if name[:1].isupper():
                return True
    return False


@dataclass
class _Scope:
    events: list[tuple] = field(default_factory=list)  # in source order


class _ParameterSources(cst.CSTVisitor):
    """`X.parameters()` / `X.named_parameters()` calls inside an optimizer's arguments."""

    def __init__(self) -> None:
        self.models: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in PARAMETER_SOURCES:
            name = dotted_name(func.value)
            if name is not None:
                self.models.add(name)


@register
class OptimizerMissesNewParameters(Rule):
    code = "ML403"
    name = "optimizer-misses-new-parameters"
    summary = "A layer is put on the model after the optimizer was built from its parameters: it never trains."
    candidates = Calls(*PARAMETER_SOURCES) & Nodes(ast.Assign, where=_ast_replaces_submodule)

    def __init__(self, ctx, options):
        super().__init__(ctx, options)
        self.scopes: dict[int, _Scope] = {}

    def _scope(self) -> _Scope:
        return self.scopes.setdefault(id(self.ctx.scope()), _Scope())

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        name = ctx.call_name(node) or ""
        func = node.func
        if name.startswith("torch.optim.") and name.rsplit(".", 1)[-1][:1].isupper() and \
                ".lr_scheduler." not in name and ".swa_utils." not in name:
            finder = _ParameterSources()
            for arg in node.args:
                arg.value.visit(finder)
            if finder.models:
                target = self._assigned_to(node)
                self._scope().events.append(("optimizer", frozenset(finder.models), target, node))
        elif isinstance(func, cst.Attribute) and func.attr.value == "add_param_group":
            self._scope().events.append(("add", dotted_name(func.value), None, node))

    def _assigned_to(self, node: cst.Call) -> str | None:
        parent = self.ctx.parent
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            return dotted_name(parent.targets[0].target)
        return None

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not isinstance(value, cst.Call):
            return
        ctx = self.ctx
        leaf = value.func.attr.value if isinstance(value.func, cst.Attribute) else \
            value.func.value if isinstance(value.func, cst.Name) else ""
        if not leaf[:1].isupper():
            return
        name = ctx.call_name(value) or ""
        if not (name.startswith("torch.nn.") or name in PARAMETER_CLASSES or "." not in name):
            return  # a layer of torch.nn, a parameter, or a class of this file/imported by name
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute):
                owner = dotted_name(t.value)
                if owner is not None and owner != "self":
                    self._scope().events.append(("replace", owner, t.attr.value, t))

    def leave_Module(self, node: cst.Module) -> None:
        for scope in self.scopes.values():
            events = scope.events
            for i, (kind, owner, attr, target) in enumerate(events):
                if kind != "replace":
                    continue
                built = [e for e in events[:i] if e[0] == "optimizer" and owner in e[1]]
                if not built:
                    continue
                _, _, opt_name, opt_node = built[-1]
                later = events[i + 1:]
                if any(e[0] == "optimizer" and owner in e[1] for e in later) or \
                        any(e[0] == "add" and opt_name is not None and e[1] == opt_name for e in later):
                    continue
                line = self.ctx.position(opt_node).start.line
                optimizer = f"`{opt_name}`" if opt_name else "the optimizer"
                self.report(target, (
                    f"`{owner}.{attr}` is replaced after {optimizer} was built from `{owner}`'s parameters "
                    f"(line {line}): the optimizer still holds the old parameters, so the new layer is never "
                    f"updated; build the optimizer after changing the model, or add the new parameters with "
                    f"`add_param_group`"))

"""ML402 submodules-in-plain-container: docs in rules/ML402-submodules-in-plain-container.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.classes import class_kinds, self_assignments
from mllint.analysis.containers import CONTAINERS, FILL_METHODS, ContainerUses, container_uses
from mllint.analysis.names import callee_leaf
from mllint.engine.candidates import Facts, Pattern
from mllint.diagnostics import Applicability, Fix
from mllint.analysis.edits import module_expression
from mllint.engine.rule import Rule, register

# torch.nn classes that are not modules (parameters in a list are another matter).
NOT_MODULES = frozenset({"Parameter", "ParameterList", "ParameterDict", "Buffer", "UninitializedParameter",
                         "UninitializedBuffer"})


# ---- candidates (CPython AST): a module construction (a call of a capitalised name) put into a
# plain list/tuple/dict held by `self.<attr>` (directly, by append/item assignment, or via a local)
def _cap_call(node: ast.AST) -> bool:
    if type(node) is not ast.Call:
        return False
    func = node.func
    name = func.attr if type(func) is ast.Attribute else func.id if type(func) is ast.Name else ""
    return name[:1].isupper()


def _ast_holds_module(value: ast.AST | None, _cap_call=_cap_call) -> bool:
    kind = type(value)
    if kind in (ast.List, ast.Tuple, ast.Set):
        return any(_cap_call(e) for e in value.elts)
    if kind is ast.Dict:
        return any(_cap_call(v) for v in value.values)
    if kind in (ast.ListComp, ast.SetComp):
        return _cap_call(value.elt)
    if kind is ast.DictComp:
        return _cap_call(value.value)
    return False


def _torch_nn_class(name: str) -> bool:
    return name.startswith("torch.nn.") and name.count(".") == 2 or name.startswith("torch.nn.modules.")


def _module_call_test(facts: Facts):
    """`_cap_call` narrowed to what `_constructs_module` can accept: a capitalised call whose name,
    through any import of the file, may be a `torch.nn` class, or a bare name that is a class
    defined in this file (not a Parameter-like class of NOT_MODULES)."""
    imported: dict[str, set[str]] = {}  # local name -> what any import statement binds it to
    for node in facts.of_type(ast.Import):
        for alias in node.names:
            if alias.asname:
                imported.setdefault(alias.asname, set()).add(alias.name)
            else:
                top = alias.name.split(".")[0]
                imported.setdefault(top, set()).add(top)
    for node in facts.of_type(ast.ImportFrom):
        base = "" if node.level or node.module is None else node.module
        for alias in node.names:
            if alias.name != "*":
                imported.setdefault(alias.asname or alias.name, set()).add(f"{base}.{alias.name}" if base else alias.name)
    classes = {node.name for node in facts.of_type(ast.ClassDef)}

    def test(node: ast.AST) -> bool:
        if not _cap_call(node):
            return False
        func = node.func
        parts = []
        while type(func) is ast.Attribute:
            parts.append(func.attr)
            func = func.value
        if type(func) is not ast.Name or parts and parts[0] in NOT_MODULES or not parts and func.id in NOT_MODULES:
            return False
        rest = ".".join(reversed(parts))
        for head in {func.id} | imported.get(func.id, set()):
            name = f"{head}.{rest}" if rest else head
            if _torch_nn_class(name) or ("." not in name and name in classes):
                return True
        return False

    return test


def _ast_self_attr(target: ast.AST) -> bool:
    return type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self"


# What the rule takes for a plain container (CONTAINERS), or a name bound to one in a method.
_PLAIN_VALUES = (ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp, ast.Dict, ast.DictComp, ast.Name)


def _plain_attrs(facts: Facts) -> set[str]:
    """`self.<attr>` names given a plain container (or a name) somewhere in the file. The rule
    reports an attribute only when every assignment to it in its class is one, so an attribute
    only ever given `nn.ModuleList()`, `nn.Sequential(...)` or `self.stages[:n]` is not reported."""
    return {target.attr for assign in facts.of_type(ast.Assign, ast.AnnAssign)
            if type(assign.value) in _PLAIN_VALUES
            for target in (assign.targets if type(assign) is ast.Assign else [assign.target])
            if _ast_self_attr(target)}


class _PlainContainerCandidates(Pattern):
    def __call__(self, facts: Facts) -> bool:
        _cap_call = _module_call_test(facts)
        filled: set[str] = set()  # local names filled with module constructions
        plain = _plain_attrs(facts)
        for method in FILL_METHODS:
            for call in facts.calls.get(method, ()):
                func = call.func
                if type(func) is ast.Attribute and call.args and (
                        _cap_call(call.args[-1]) or _ast_holds_module(call.args[-1], _cap_call)):
                    if _ast_self_attr(func.value):
                        if func.value.attr in plain:
                            return True
                        continue
                    if type(func.value) is ast.Name:
                        filled.add(func.value.id)
        names_to_self: set[str] = set()
        for assign in facts.of_type(ast.Assign, ast.AnnAssign):
            targets = assign.targets if type(assign) is ast.Assign else [assign.target]
            for target in targets:
                if type(target) is ast.Subscript and _cap_call(assign.value):
                    if _ast_self_attr(target.value):
                        if target.value.attr in plain:
                            return True
                        continue
                    if type(target.value) is ast.Name:
                        filled.add(target.value.id)
                elif _ast_self_attr(target):
                    if _ast_holds_module(assign.value, _cap_call):
                        return True
                    if type(assign.value) is ast.Name:
                        names_to_self.add(assign.value.id)
        return not filled.isdisjoint(names_to_self)

    def __repr__(self) -> str:
        return "PlainContainerOfModules"


# ---- the rule (LibCST) --------------------------------------------------------------------------
def _string_key(key: cst.BaseExpression | None) -> bool:
    if isinstance(key, cst.SimpleString):
        return isinstance(key.evaluated_value, str)
    if isinstance(key, (cst.FormattedString, cst.ConcatenatedString)):
        return True
    return isinstance(key, cst.Call) and isinstance(key.func, cst.Name) and key.func.value == "str"


@register
class SubmodulesInPlainContainer(Rule):
    code = "ML402"
    name = "submodules-in-plain-container"
    summary = "An nn.Module keeps layers in a plain list/dict: their parameters are not registered and never train."
    fix_applicability = Applicability.UNSAFE
    candidates = _PlainContainerCandidates()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        ctx = self.ctx
        kinds = class_kinds(ctx)
        if not kinds.is_module(node):
            return
        uses: ContainerUses | None = None
        for attr, assignments in self_assignments(ctx, node).items():
            values = [a.value for a in assignments]
            if not values or any(v is None for v in values):
                continue
            if not all(isinstance(a.value, CONTAINERS) or isinstance(a.value, cst.Name) and a.method is not None
                       for a in assignments):
                continue  # `_container` gives None for some value: the class's uses are not needed for it
            if uses is None:
                uses = container_uses(ctx, node)
                if uses.registers_otherwise:
                    return
            if attr in uses.wrapped:
                continue
            found = [self._container(a.value, a.method, uses) for a in assignments]
            if any(f is None for f in found):
                continue  # some assignment is not a plain container: wrapped, or something else
            fills = uses.fills.get(attr, [])
            items = [item for f in found for item in f[1]] + fills
            if not any(self._constructs_module(value, kinds) for value, _ in items):
                continue
            kinds_of_container = {f[0] for f in found}
            self._report(attr, assignments, found, items, kinds_of_container)

    def _container(self, value, method, uses):
        """(kind "list"/"dict", [(item value, key)]) for a plain container value, else None."""
        if isinstance(value, cst.Name) and method is not None:
            bindings = self.ctx.bindings(method).get(value.value, [])
            if not bindings or any(b.kind != "assign" or not isinstance(b.value, CONTAINERS) for b in bindings):
                return None
            fills = uses.local_fills.get((id(method), value.value), [])
            inner = [self._container(b.value, None, uses) for b in bindings]
            kinds = {k for k, _ in inner}
            return (kinds.pop() if len(kinds) == 1 else "mixed",
                    [item for _, items in inner for item in items] + fills)
        if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            return "list", [(e.value, None) for e in value.elements if not isinstance(e, cst.StarredElement)]
        if isinstance(value, (cst.ListComp, cst.SetComp)):
            return "list", [(value.elt, None)]
        if isinstance(value, cst.Dict):
            items = []
            for e in value.elements:
                if isinstance(e, cst.DictElement):
                    items.append((e.value, e.key))
                else:
                    items.append((e.value, None))  # **other: keys unknown
            return "dict", items
        if isinstance(value, cst.DictComp):
            return "dict", [(value.value, value.key)]
        return None

    def _constructs_module(self, value: cst.BaseExpression, kinds) -> bool:
        if not isinstance(value, cst.Call):
            return False
        leaf = callee_leaf(value)
        if not leaf[:1].isupper() or leaf in NOT_MODULES:
            return False
        name = self.ctx.call_name(value) or ""
        if name.startswith("torch.nn.") and name.count(".") == 2 or name.startswith("torch.nn.modules."):
            return True
        if "." not in name:  # a class of this file that is a module
            return any(c.name.value == name for c in kinds.modules)
        return False

    def _report(self, attr, assignments, found, items, container_kinds) -> None:
        first = assignments[0]
        is_dict = container_kinds == {"dict"}
        kind = "dict" if is_dict else "list" if container_kinds == {"list"} else "container"
        wrapper = "nn.ModuleDict" if is_dict else "nn.ModuleList"
        message = (f"`self.{attr}` holds modules in a plain {kind}: their parameters are not registered "
                   f"(missing from `parameters()` and `state_dict()`, never trained, not moved by `.to()`); "
                   f"wrap it in `{wrapper}(...)`")
        self.report(first.value, message, self._fix(assignments, items, container_kinds))

    def _fix(self, assignments, items, container_kinds) -> Fix | None:
        ctx = self.ctx
        if len(container_kinds) != 1 or "mixed" in container_kinds:
            return None
        nn = module_expression(ctx, "torch.nn")
        if nn is None:
            return None
        if container_kinds == {"dict"}:
            if not all(_string_key(key) for _, key in items):
                return None  # nn.ModuleDict takes string keys only
            wrapper = f"{nn}.ModuleDict"
        else:
            wrapper = f"{nn}.ModuleList"
        edits = []
        for a in assignments:
            code = ctx.code(a.value)
            if isinstance(a.value, (cst.Dict, cst.List)) and not (a.value.lpar or a.value.elements):
                new = f"{wrapper}()"
            elif isinstance(a.value, cst.Tuple):
                # the edit covers the tuple's items, inside its own parentheses (kept)
                new = f"{wrapper}([{ctx.code(a.value.with_changes(lpar=[], rpar=[]))}])"
            else:
                new = f"{wrapper}({code})"
            edits.append(ctx.replace(a.value, new))
        return Fix(Applicability.UNSAFE, f"Wrap in `{wrapper}`", tuple(edits))

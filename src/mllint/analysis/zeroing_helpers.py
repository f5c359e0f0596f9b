"""The file's helpers that zero the weight of the layer they are given (`init(layer)` doing
`nn.init.zeros_(layer.weight)`), with why some layer they are given is a hidden one: from one walk
per file (`zeroing_helpers`, memoised in `ctx.memo`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from mllint.analysis.names import callee_leaf
from mllint.analysis.parameters import (
    APPLY_NAMES, HIDDEN_TOKENS, INIT_FUNCTIONS, INIT_METHODS, LAST_LAYER_WORDS, LAYER_TYPES, tokens, zeroed_tensor)
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.engine.traversal import walk


@dataclass(frozen=True)
class ZeroingHelper:
    """A function or method of the file that zeroes its layer argument's weight (`init(layer)`
    doing `nn.init.zeros_(layer.weight)`), and why some layer it is given is a hidden one."""

    name: str
    hidden: str  # e.g. "`self.fc1`, not the last layer", "every layer `self.apply` reaches"


class _Helpers(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.guards: list[list[cst.If]] = []  # per enclosing function, the ifs around the node
        self.zeroing: dict[str, list[tuple[cst.Call, str]]] = {}  # helper -> its zero inits, (call, layer)
        self.random: set[tuple[str, str]] = set()  # (helper, layer parameter) given a random init
        self.sites: dict[str, list[str | None]] = {}  # helper name -> per call, the hidden-layer evidence
        self.attrs: dict[int, set[str]] = {}  # class -> its `self.<attr>` assignment names
        self.inner_layers: set[int] = set()  # arguments of nn.Sequential(...) that other layers follow

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)
        self.attrs[id(node)] = set()

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)
        self.guards.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.guards.pop()

    def visit_If(self, node: cst.If) -> None:
        if self.guards:
            self.guards[-1].append(node)

    def leave_If(self, node: cst.If) -> None:
        if self.guards:
            self.guards[-1].pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            if self.classes and isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self":
                self.attrs[id(self.classes[-1])].add(t.target.attr.value)

    def _layer_param(self, expr: cst.BaseExpression) -> str | None:
        """`layer` when `expr` is `layer.weight(.data)` and `layer` a parameter of the function."""
        while isinstance(expr, cst.Attribute) and expr.attr.value in ("data", "_data"):
            expr = expr.value
        if not (self.functions and isinstance(expr, cst.Attribute) and expr.attr.value == "weight"
                and isinstance(expr.value, cst.Name)):
            return None
        params = self.functions[-1].params
        names = {p.name.value for p in (*params.posonly_params, *params.params)} - {"self", "cls"}
        return expr.value.value if expr.value.value in names else None

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        if ctx.call_name(node) == "torch.nn.Sequential":
            self.inner_layers.update(id(arg.value) for arg in node.args[:-1])
        zeroed = zeroed_tensor(node, ctx)
        if zeroed is not None:
            layer = self._layer_param(zeroed)
            if layer is not None and self._plain_guards(layer):
                self.zeroing.setdefault(self.functions[-1].name.value, []).append((node, layer))
        elif node.args and callee_leaf(node) in INIT_FUNCTIONS | INIT_METHODS:
            target = node.args[0].value if not isinstance(node.func, cst.Attribute) or \
                (dotted_name(node.func.value) or "").split(".")[-1] in ("init", "nn_init") else node.func.value
            layer = self._layer_param(target)
            if layer is not None:
                self.random.add((self.functions[-1].name.value, layer))
        self._call_site(node)

    def _plain_guards(self, layer: str) -> bool:
        """The zero init is unconditional, or only tests the layer's torch type."""
        function = self.functions[-1]
        for guard in self.guards[-1]:
            test = guard.test
            if LAST_LAYER_WORDS.search(cst.Module([]).code_for_node(test)) or not (
                    isinstance(test, cst.Call) and dotted_name(test.func) == "isinstance" and len(test.args) == 2
                    and dotted_name(test.args[0].value) == layer and _layer_types(test.args[1].value)):
                return False
        return not LAST_LAYER_WORDS.search(function.name.value)

    def _call_site(self, node: cst.Call) -> None:
        func = node.func
        name = func.value if isinstance(func, cst.Name) else \
            func.attr.value if isinstance(func, cst.Attribute) and dotted_name(func.value) == "self" else None
        if name is not None and node.args:
            self.sites.setdefault(name, []).append(self._hidden(node, node.args[0].value))
        if callee_leaf(node) in APPLY_NAMES and node.args:
            fn = node.args[0].value
            if isinstance(fn, cst.Call) and fn.args and dotted_name(fn.func) in ("partial", "functools.partial"):
                fn = fn.args[0].value
            applied = (dotted_name(fn) or "").split(".")[-1]
            if applied:
                self.sites.setdefault(applied, []).append(f"every layer `{dotted_name(func) or callee_leaf(node)}` reaches")

    def _hidden(self, call: cst.Call, layer: cst.BaseExpression) -> str | None:
        """Why the layer given to `call` is a hidden one, else None."""
        if id(call) in self.inner_layers:
            return "a layer of `nn.Sequential` followed by others"
        shown = dotted_name(layer)
        if shown is None or not shown.startswith("self.") or not self.classes:
            return None
        attr = shown.split(".", 1)[1]
        if tokens(attr) & HIDDEN_TOKENS:
            return f"`{shown}`"
        match = re.fullmatch(r"(.*?)(\d+)", attr)
        if match and any(re.fullmatch(rf"{re.escape(match.group(1))}(\d+)", other) and
                         int(other[len(match.group(1)):]) > int(match.group(2))
                         for other in self.attrs.get(id(self.classes[-1]), ())):
            return f"`{shown}`, not the last layer"
        return None


def _layer_types(expr: cst.BaseExpression) -> bool:
    elements = [e.value for e in expr.elements] if isinstance(expr, cst.Tuple) else [expr]
    return all((dotted_name(e) or "").split(".")[-1] in LAYER_TYPES for e in elements)


def _zeroing_helpers(ctx: FileContext, _key: None) -> dict[cst.Call, ZeroingHelper]:
    finder = _Helpers(ctx)
    walk(ctx.module, finder)
    out: dict[cst.Call, ZeroingHelper] = {}
    for name, calls in finder.zeroing.items():
        if "zero" in tokens(name):
            continue  # zero_module(...): named for what it does, used on output layers
        sites = finder.sites.get(name, [])
        evidence = next((e for e in sites if e and e.startswith("every")), None) or \
            next((e for e in sites if e), None) or (f"{len(sites)} layers" if len(sites) >= 2 else None)
        if evidence is None:
            continue
        for call, layer in calls:
            if (name, layer) not in finder.random:  # zeroed in one branch, drawn in another
                out[call] = ZeroingHelper(name, evidence)
    return out


def zeroing_helpers(ctx: FileContext) -> dict[cst.Call, ZeroingHelper]:
    """The zero inits, inside the file's helpers, of the weight of a layer they are given when some
    layer they are given is a hidden one (computed once per file)."""
    return ctx.memo.get(_zeroing_helpers, ctx, None)

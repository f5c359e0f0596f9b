"""Where a file's learnable parameters get real values, from one walk per file (`init_index`,
memoised in `ctx.memo`): which parameter names an initialiser or an indexed / `.data` assignment
touches, which ones are initialised only behind a flag that is off by default, which are assigned
real values, and which are covered by a generic initialiser (`self.apply(fn)`, a loop over
`named_parameters()` that may skip names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import libcst as cst

from mllint.analysis.names import callee_leaf
from mllint.analysis.parameters import (
    APPLY_NAMES, INIT_FUNCTIONS, INIT_METHODS, chain_names, is_zero, looks_like_param_value, tokens)
from mllint.engine.context import FileContext, Visitor, dotted_name
from mllint.engine.traversal import walk

# Loops whose initialisers are generic (`for name, p in self.named_parameters(): ...`).
GENERIC_LOOP_SOURCES = ("parameters", "named_parameters")
ALL_NAMES: Callable[[str], bool] = lambda name: True  # noqa: E731 - a generic init covers every name


def _getattr_of_self(expr: cst.BaseExpression) -> str | None:
    """For `getattr(self, "name")` (through `.data`): "name"; "" for a name read from a variable;
    None for anything else."""
    while type(expr) is cst.Attribute and expr.attr.value in ("data", "_data"):
        expr = expr.value
    if type(expr) is not cst.Call or type(expr.func) is not cst.Name or expr.func.value != "getattr" or \
            len(expr.args) < 2 or dotted_name(expr.args[0].value) != "self":
        return None
    name = expr.args[1].value
    return name.evaluated_value if type(name) is cst.SimpleString and isinstance(name.evaluated_value, str) else ""


@dataclass
class InitIndex:
    names: set[str] = field(default_factory=set)  # names an init call or an indexed/.data assignment touches
    flagged: dict[str, str] = field(default_factory=dict)  # name -> the off-by-default flag its only init needs
    assigned: dict[str, int] = field(default_factory=dict)  # name -> assignments with real values
    # class (id) or None for the file -> which parameter names its generic initialisers cover
    generic: dict[int | None, list[Callable[[str], bool]]] = field(default_factory=dict)

    def covers(self, classes: list[cst.ClassDef], name: str) -> bool:
        """Does a generic initialiser of the file or of one of `classes` cover parameter `name`?"""
        for key in (None, *(id(c) for c in classes)):
            if any(test(name) for test in self.generic.get(key, ())):
                return True
        return False


class _InitWalk(Visitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.index = InitIndex()
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []
        self.module_functions: set[str] = set()
        self.branches: list[tuple[cst.If, bool]] = []  # enclosing ifs: (node, in the else branch)
        self.off_attrs: dict[int, dict[str, str]] = {}  # class -> `self.<attr> = <off-by-default parameter>`
        # loops over (named_)parameters(): (name variable, name tests of their inits, `continue` tests)
        self.loops: list[tuple[str | None, list | None, list]] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.classes and not self.functions:
            self.module_functions.add(node.name.value)
        self.functions.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_If(self, node: cst.If) -> None:
        if self.branches and self.branches[-1][0].orelse is node:
            self.branches[-1] = (self.branches[-1][0], True)  # an elif: the parent's else branch
        self.branches.append((node, False))
        body = node.body.body
        if self.loops and self.loops[-1][1] is not None and node.orelse is None and len(body) == 1 and \
                isinstance(body[0], (cst.SimpleStatementLine, cst.Continue)) and \
                (isinstance(body[0], cst.Continue) or isinstance(body[0].body[0], cst.Continue)):
            self.loops[-1][2].append(node.test)  # if "bias" in name: continue

    def leave_If(self, node: cst.If) -> None:
        self.branches.pop()

    def visit_Else(self, node: cst.Else) -> None:
        if self.branches:
            self.branches[-1] = (self.branches[-1][0], True)

    def _generic_key(self) -> int | None:
        return id(self.classes[0]) if self.classes else None

    def _add_generic(self, test: Callable[[str], bool]) -> None:
        self.index.generic.setdefault(self._generic_key(), []).append(test)

    def _touch(self, names: set[str]) -> None:
        loop = next((loop for loop in reversed(self.loops) if loop[1] is not None), None)
        if loop is not None:
            loop[1].append(self._name_test(loop))
        flag = self._off_flag()
        for name in names:
            if flag is None:
                self.index.names.add(name)
            elif name not in self.index.names:
                self.index.flagged.setdefault(name, flag)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = callee_leaf(node)
        is_function = not isinstance(func, cst.Attribute) or self._is_function_path(func)
        if is_function and last in INIT_FUNCTIONS and node.args:
            if not (last == "constant_" and len(node.args) > 1 and is_zero(node.args[1].value)):
                self._touch(chain_names(node.args[0].value))  # constant_(w, 0) is a zero init
        elif isinstance(func, cst.Attribute) and not is_function and last in INIT_METHODS:
            if not (last == "fill_" and node.args and is_zero(node.args[0].value)):
                looked_up = _getattr_of_self(func.value)
                if looked_up is None:
                    self._touch(chain_names(func.value))
                elif looked_up:
                    self._touch({looked_up})  # getattr(self, "features").copy_(...)
                else:
                    self._add_generic(ALL_NAMES)  # `for name in names: getattr(self, name).copy_(...)`
        if last in APPLY_NAMES and node.args:
            # self.apply(fn) / named_apply(fn, self): a generic init unless fn is in this file
            # (then the names it touches are indexed wherever it is defined)
            fn = node.args[0].value
            if isinstance(fn, cst.Call) and fn.args and dotted_name(fn.func) in ("partial", "functools.partial"):
                fn = fn.args[0].value
            name = dotted_name(fn) or ""
            local = name.split(".")[-1]
            methods = {s.name.value for s in self.classes[0].body.body if isinstance(s, cst.FunctionDef)} \
                if self.classes else set()
            if not (local in self.module_functions or name.startswith("self.") or local in methods):
                self._add_generic(ALL_NAMES)

    def _is_function_path(self, func: cst.Attribute) -> bool:
        """`nn.init.normal_(w)`, `init.normal_(w)`, `torch.nn.init.xavier_uniform_(w)`: module
        functions, not tensor methods."""
        qn = self.ctx.qualified_name(func) or ""
        return ".init." in f".{qn}" or qn.startswith(("torch.", "timm.")) or \
            (dotted_name(func.value) or "").split(".")[-1] in ("init", "initialization", "nn_init", "layers")

    def visit_For(self, node: cst.For) -> None:
        # for p in self.parameters(): nn.init.xavier_uniform_(p), possibly skipping names
        it = node.iter
        generic = isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
            it.func.attr.value in GENERIC_LOOP_SOURCES
        name = None
        if generic and isinstance(node.target, cst.Tuple) and node.target.elements and \
                isinstance(node.target.elements[0].value, cst.Name):
            name = node.target.elements[0].value.value
        self.loops.append((name, [] if generic else None, []))

    def leave_For(self, node: cst.For) -> None:
        name, tests, _ = self.loops.pop()
        for test in tests or ():
            self._add_generic(test)

    def _name_test(self, loop: tuple) -> Callable[[str], bool]:
        """Which parameter names reach the init being visited, from the tests on the loop's name
        variable (`if "weight" in name:`, `if name.endswith("bias"): continue`); other tests are
        assumed to let every name through."""
        variable, _, skips = loop
        if variable is None:
            return ALL_NAMES
        parts = [_string_test(branch.test, variable, in_else) for branch, in_else in self.branches]
        parts += [_string_test(test, variable, True) for test in skips]
        known = [p for p in parts if p is not None]
        return lambda pname: all(p(pname) for p in known)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            target = t.target
            if isinstance(target, cst.Subscript) or (isinstance(target, cst.Attribute) and
                                                     target.attr.value in ("data", "_data")):
                self._touch(chain_names(target))  # mus.data = init / mus[i] = v
            elif isinstance(target, cst.Attribute) and target.attr.value == "grad":
                # `p.grad = g` (an optimizer's test): the rows get the gradients written, not identical ones
                self._touch(chain_names(target.value))
            elif isinstance(target, cst.Attribute) and isinstance(node.value, cst.Name) and self.classes and \
                    dotted_name(target.value) == "self" and self._default_off(node.value) is not None:
                self.off_attrs.setdefault(id(self.classes[-1]), {})[target.attr.value] = node.value.value
            elif isinstance(target, cst.Attribute) and looks_like_param_value(node.value, self.ctx):
                # a random creation, a warm start, or another branch's init
                name = target.attr.value
                self.index.assigned[name] = self.index.assigned.get(name, 0) + 1

    def _off_flag(self) -> str | None:
        """The flag, off by default, that the current branch needs (`if init:` with `init=False`)."""
        for branch, in_else in self.branches:
            test, negated = branch.test, in_else
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
                test, negated = test.expression, not negated
            if negated:
                continue
            flag = self._default_off(test)
            if flag is not None:
                return flag
        return None

    def _default_off(self, test: cst.BaseExpression) -> str | None:
        if isinstance(test, cst.Attribute) and dotted_name(test.value) == "self" and self.classes:
            name = test.attr.value
            return name if name in self.off_attrs.get(id(self.classes[-1]), {}) else None
        if not isinstance(test, cst.Name) or "zero" in tokens(test.value):
            return None
        name = test.value
        for func in reversed(self.functions):
            for param in (*func.params.params, *func.params.kwonly_params):
                if param.name.value == name:
                    default = param.default
                    off = isinstance(default, cst.Name) and default.value in ("False", "None")
                    return name if off else None
        return None


def _string_test(test: cst.BaseExpression, variable: str, negated: bool) -> Callable[[str], bool] | None:
    """`"w" in name`, `name.endswith("w")`, `name.startswith(...)`, `not`, `and`, `or` of those, as a
    test of a parameter's own name; None when the test is about something else."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _string_test(test.expression, variable, not negated)
    inner = None
    if isinstance(test, cst.BooleanOperation):
        left, right = _string_test(test.left, variable, False), _string_test(test.right, variable, False)
        if left is None or right is None:
            return None
        both = isinstance(test.operator, cst.And)
        inner = (lambda n: left(n) and right(n)) if both else (lambda n: left(n) or right(n))
    elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.SimpleString) \
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == variable:
        text = test.left.evaluated_value
        if isinstance(text, str) and isinstance(test.comparisons[0].operator, (cst.In, cst.NotIn)):
            positive = isinstance(test.comparisons[0].operator, cst.In)
            inner = lambda n: (text in n) == positive  # noqa: E731
    elif isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and \
            isinstance(test.func.value, cst.Name) and test.func.value.value == variable and \
            test.func.attr.value in ("endswith", "startswith") and len(test.args) == 1 and \
            isinstance(test.args[0].value, cst.SimpleString):
        text = test.args[0].value.evaluated_value
        method = test.func.attr.value
        if isinstance(text, str):
            inner = (lambda n: n.endswith(text)) if method == "endswith" else (lambda n: n.split(".")[-1].startswith(text))
    if inner is None:
        return None
    return (lambda n: not inner(n)) if negated else inner


def _init_index(ctx: FileContext, _key: None) -> InitIndex:
    finder = _InitWalk(ctx)
    walk(ctx.module, finder)
    return finder.index


def init_index(ctx: FileContext) -> InitIndex:
    """Where parameters get real values in this file (computed once, on first use)."""
    return ctx.memo.get(_init_index, ctx, None)

"""The candidate pass: which rules could report on a Python file, decided from CPython's own AST.

The engine parses every Python file with CPython's parser anyway, to check its syntax; that costs
about a tenth of a LibCST parse. One walk over that tree collects cheap facts (the calls by callee
name, the identifiers and short strings, the operators, the nodes by type), and each rule declares,
as its `candidates` pattern, what a file must contain for the rule to report anything in it. A file
goes to LibCST only with the rules whose pattern it matches, and not at all if none does.

A pattern is a necessary condition, never a second implementation of the rule: it is built from the
rule's own constants and name predicates and only asks whether the ingredients are present. The
tests run every rule test with and without this pass and require the same result (see
`mllint.testing`), and `MLLINT_NO_PRESCREEN=1` turns it off.

    candidates = Calls("nan_to_num", "nan_to_num_")
    candidates = Calls("mean") & Calls("std", "var") & Ops(ast.Div)
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from typing import Callable, Iterable

__all__ = ["Facts", "Pattern", "Calls", "Words", "Ops", "Nodes", "callee", "dotted_leaf", "leaves"]


def leaves(qualified_names) -> set[str]:
    """The last names of qualified names: what `Calls` matches (`torch.nan_to_num` -> `nan_to_num`)."""
    return {name.rsplit(".", 1)[-1] for name in qualified_names}


def callee(call: ast.Call) -> str | None:
    """The last name of what is called: `nan_to_num` for `torch.nan_to_num(...)` and `x.nan_to_num(...)`."""
    func = call.func
    if type(func) is ast.Attribute:
        return func.attr
    if type(func) is ast.Name:
        return func.id
    return None


def dotted_leaf(expr: ast.AST) -> str | None:
    """The last name of a Name or attribute chain (`mus` for `self.mus`)."""
    if type(expr) is ast.Attribute:
        return expr.attr
    if type(expr) is ast.Name:
        return expr.id
    return None


def _nodes_by_type(tree: ast.AST) -> dict[type, list[ast.AST]]:
    """Every node of the tree, by type (in no particular order: half the cost of ast.walk)."""
    nodes: dict[type, list[ast.AST]] = defaultdict(list)
    stack = [tree]
    pop, push, node_type = stack.pop, stack.append, ast.AST
    while stack:
        node = pop()
        nodes[type(node)].append(node)
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
            elif isinstance(value, node_type):
                push(value)
    return nodes


class Facts:
    """What one walk over a module's CPython AST found. Lists hold the nodes themselves, so a
    pattern can look closer at a site (`where=`)."""

    def __init__(self, tree: ast.AST):
        self.nodes = nodes = _nodes_by_type(tree)
        calls: dict[str, list[ast.Call]] = defaultdict(list)
        for call in nodes.get(ast.Call, ()):
            name = callee(call)
            if name is not None:
                calls[name].append(call)
        # `from torch import nan_to_num as ntn`: a call of `ntn` is a call of `nan_to_num`
        for alias in nodes.get(ast.alias, ()):
            if alias.asname and alias.asname in calls:
                calls[alias.name.rsplit(".", 1)[-1]].extend(calls[alias.asname])
        self.calls = calls
        self.ops = {type(n.op) for n in nodes.get(ast.BinOp, ())} | {type(n.op) for n in nodes.get(ast.AugAssign, ())}
        self._words: set[str] | None = None
        self._memo: dict[Callable, object] = {}

    @property
    def words(self) -> set[str]:
        """Every identifier (names, attributes, parameters, keywords, definitions, imports) and
        every short string constant (argparse option names, getattr names, dict keys)."""
        if self._words is None:
            nodes = self.nodes
            words: set[str] = set()
            words.update(n.id for n in nodes.get(ast.Name, ()))
            words.update(n.attr for n in nodes.get(ast.Attribute, ()))
            words.update(n.arg for n in nodes.get(ast.arg, ()))
            words.update(n.arg for n in nodes.get(ast.keyword, ()) if n.arg)
            for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                words.update(n.name for n in nodes.get(kind, ()))
            for alias in nodes.get(ast.alias, ()):
                words.update(alias.name.split("."))
                if alias.asname:
                    words.add(alias.asname)
            for imported in nodes.get(ast.ImportFrom, ()):
                if imported.module:
                    words.update(imported.module.split("."))
            words.update(n.value for n in nodes.get(ast.Constant, ()) if type(n.value) is str and len(n.value) <= 100)
            self._words = words
        return self._words

    def memo(self, fact: Callable[[Facts], object]):
        """`fact(self)`, computed once per file: several patterns may ask for it."""
        if fact not in self._memo:
            self._memo[fact] = fact(self)
        return self._memo[fact]

    def of_type(self, *types: type) -> Iterable[ast.AST]:
        for kind in types:
            yield from self.nodes.get(kind, ())


def _name_test(test: str | re.Pattern | Callable[[str], bool]) -> Callable[[str], bool]:
    if isinstance(test, re.Pattern):
        return lambda word: test.search(word) is not None
    if callable(test):
        return test
    raise TypeError(f"a name test is a regex or a function, not {test!r}")


class Pattern:
    """A condition on a file's Facts; combine with `&` and `|`."""

    def __call__(self, facts: Facts) -> bool:
        raise NotImplementedError

    def __and__(self, other: Pattern) -> Pattern:
        return _All(self, other)

    def __or__(self, other: Pattern) -> Pattern:
        return _Any(self, other)


class _All(Pattern):
    def __init__(self, *parts: Pattern):
        self.parts = parts

    def __call__(self, facts: Facts) -> bool:
        return all(part(facts) for part in self.parts)

    def __repr__(self) -> str:
        return "(" + " & ".join(map(repr, self.parts)) + ")"


class _Any(Pattern):
    def __init__(self, *parts: Pattern):
        self.parts = parts

    def __call__(self, facts: Facts) -> bool:
        return any(part(facts) for part in self.parts)

    def __repr__(self) -> str:
        return "(" + " | ".join(map(repr, self.parts)) + ")"


class Calls(Pattern):
    """A call whose callee's last name is one of `names` (or matches a regex / function), under
    any import alias, for which `where(call)` holds if given."""

    def __init__(self, *names: str | re.Pattern | Callable[[str], bool],
                 where: Callable[[ast.Call], bool] | None = None, inside: Calls | None = None):
        self.names = frozenset(n for n in names if isinstance(n, str))
        self.tests = [_name_test(n) for n in names if not isinstance(n, str)]
        self.where = where
        self.inside = inside  # only calls among the arguments of a call matching `inside`

    def _matching(self, facts: Facts) -> Iterable[ast.Call]:
        for name in self.names:
            yield from facts.calls.get(name, ())
        if self.tests:
            for name, calls in facts.calls.items():
                if name not in self.names and any(test(name) for test in self.tests):
                    yield from calls

    def sites(self, facts: Facts) -> Iterable[ast.Call]:
        calls = self._matching(facts)
        if self.where is not None:
            calls = filter(self.where, calls)
        if self.inside is not None:
            within = {id(node) for outer in self.inside.sites(facts)
                      for arg in (*outer.args, *outer.keywords) for node in ast.walk(arg)}
            calls = (call for call in calls if id(call) in within)
        return calls

    def __call__(self, facts: Facts) -> bool:
        return next(iter(self.sites(facts)), None) is not None

    def __repr__(self) -> str:
        return f"Calls({', '.join(sorted(self.names))}{', ...' if self.tests else ''})"


class Words(Pattern):
    """An identifier or short string in the file is one of a set, or passes `test` (a regex,
    searched, or a function)."""

    def __init__(self, test: set[str] | frozenset[str] | re.Pattern | Callable[[str], bool]):
        self.among = frozenset(test) if isinstance(test, (set, frozenset)) else None
        self.test = None if self.among is not None else _name_test(test)

    def __call__(self, facts: Facts) -> bool:
        if self.among is not None:
            return not self.among.isdisjoint(facts.words)
        return any(map(self.test, facts.words))

    def __repr__(self) -> str:
        return "Words(...)"


class Ops(Pattern):
    """A binary or augmented operator of one of these kinds (`ast.Div` covers `/` and `/=`)."""

    def __init__(self, *ops: type):
        self.ops = frozenset(ops)

    def __call__(self, facts: Facts) -> bool:
        return not self.ops.isdisjoint(facts.ops)

    def __repr__(self) -> str:
        return f"Ops({', '.join(sorted(op.__name__ for op in self.ops))})"


class Nodes(Pattern):
    """A node of one of these AST types for which `where(node)` holds if given."""

    def __init__(self, *types: type, where: Callable[[ast.AST], bool] | None = None):
        self.types = types
        self.where = where

    def __call__(self, facts: Facts) -> bool:
        where = self.where
        return any(where is None or where(node) for node in facts.of_type(*self.types))

    def __repr__(self) -> str:
        return f"Nodes({', '.join(t.__name__ for t in self.types)})"

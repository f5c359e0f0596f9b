"""The candidate pass (mllint.candidates): patterns over CPython's AST that decide which rules
could report on a file, so that only those files are parsed by LibCST."""

import ast
import re
import textwrap

import pytest

from mllint.engine.candidates import Calls, Facts, Nodes, Ops, Words
from mllint.engine.lint import _candidate_rules
from mllint.run.rules import all_rules
from mllint.testing import lint

RULES = all_rules()


def facts(source: str) -> Facts:
    return Facts(ast.parse(textwrap.dedent(source)))


@pytest.mark.parametrize("source, expected", [
    ("torch.nan_to_num(g)", True),
    ("g.nan_to_num_(0.0)", True),
    ("from torch import nan_to_num as ntn\nntn(g)", True),  # an alias is a call of the imported name
    ("x = 'nan_to_num'  # nan_to_num(g)", False),  # strings and comments are not calls
    ("nan_to_num = 1", False),
])
def test_calls_match_callee_names_through_aliases(source, expected):
    assert Calls("nan_to_num", "nan_to_num_")(facts(source)) is expected


def test_calls_where_looks_at_the_call_site():
    pattern = Calls("clip", where=lambda call: len(call.args) == 3)
    assert pattern(facts("np.clip(x, 0, 1)"))
    assert not pattern(facts("np.clip(x)"))


def test_calls_inside_another_call_only():
    pattern = Calls("zeros", inside=Calls("Parameter"))
    assert pattern(facts("self.mus = nn.Parameter(torch.zeros(4, 8).to(dev))"))
    assert pattern(facts("self.mus = nn.Parameter(data=torch.zeros(4, 8))"))
    assert not pattern(facts("z = torch.zeros(4, 8)\nself.mus = nn.Parameter(z)"))
    assert not pattern(facts("torch.zeros(nn.Parameter)"))  # the callee of the outer call is not inside


@pytest.mark.parametrize("test", [{"subprocess"}, re.compile(r"^sub"), lambda w: w.startswith("sub")])
def test_words_by_set_regex_or_function(test):
    assert Words(test)(facts("import subprocess"))
    assert Words(test)(facts("from subprocess import run"))  # the module of a from-import counts
    assert not Words(test)(facts("import os"))


def test_words_hold_identifiers_and_short_strings():
    words = facts("""
        def train(total_steps, *, warmup_steps=10):
            parser.add_argument("--lr-decay-iters", type=int)
            return self.gamma * cfg["epochs"]
        """).words
    assert {"train", "total_steps", "warmup_steps", "add_argument", "--lr-decay-iters", "gamma", "epochs",
            "self", "cfg", "type"} <= words


def test_ops_cover_binary_and_augmented_forms():
    assert Ops(ast.Div)(facts("a / b"))
    assert Ops(ast.Div)(facts("a /= b"))
    assert not Ops(ast.Div)(facts("a // b"))


def test_nodes_and_combinators():
    loop = Nodes(ast.For, where=lambda node: isinstance(node.iter, ast.Call))
    assert (loop & Ops(ast.Mult))(facts("for t in reversed(x):\n    r = g * r"))
    assert not (loop & Ops(ast.Mult))(facts("for t in x:\n    r = g * r"))
    assert (loop | Ops(ast.Mult))(facts("r = g * r"))


def test_every_python_rule_declares_what_it_needs():
    """A Python rule without a pattern (or text evidence) would send every file to LibCST."""
    unscreened = [code for code, cls in RULES.items()
                  if "python" in cls.file_kinds and cls.candidates is None and not cls.evidence]
    assert unscreened == []


def test_a_file_without_candidates_is_not_given_to_any_rule():
    rules = [(cls, {}) for cls in RULES.values() if "python" in cls.file_kinds]
    plain = ast.parse("import torch\nmodel = torch.nn.Linear(2, 2)\nprint(model(torch.ones(2)).sum())\n")
    assert [cls.code for cls, _ in _candidate_rules(plain, rules) if cls.candidates is not None] == []


def test_a_pattern_that_misses_a_finding_fails_the_rules_own_tests(monkeypatch):
    """mllint.testing lints with and without the prescreen; a too-narrow pattern is caught."""
    source = "import torch\nfor p in model.parameters():\n    torch.nan_to_num(p.grad, nan=0.0)\n"
    assert [d.code for d in lint(source, "ML101")] == ["ML101"]
    monkeypatch.setattr(RULES["ML101"], "candidates", Calls("nan_to_num_"))  # forgets the function form
    with pytest.raises(AssertionError, match="the prescreen changed the result"):
        lint(source, "ML101")


ODD_SHAPES = """
zero_(x); fill_(0); zeros_(); constant_(); getattr(); scale(); Parameter(); std_mean()
(lambda: 0)(); f()(); x[0](1); (a or b).zero_(); nn.Parameter(*args, **kw); nn.Parameter(data=None)
nn.init.zeros_(*ws); torch.nan_to_num(); x.fill_(); np.std() / 0; a /= (); del x.attr
for t in reversed(): pass
for t in range(*a): r = gamma * r
async def g():
    async for t in zip(reversed(x)): dones = r * lam
class C:
    self.counter += 1
    self.n = self.n + 1
    def f(self): anneal(self.counter, *a, t=self.t, **k); sched(step=float(self.n) - 1); tau(t=getattr(self))
"""


@pytest.mark.parametrize("code", sorted(c for c, cls in RULES.items() if cls.candidates is not None))
def test_patterns_accept_any_call_shape(code):
    """Patterns look at call sites of every shape (`zero_(x)`, `f()()`, starred arguments)."""
    assert RULES[code].candidates(facts(ODD_SHAPES)) in (True, False)


def test_a_failing_pattern_is_reported_and_its_rule_still_runs(monkeypatch):
    def broken(facts):
        raise KeyError("boom")

    monkeypatch.setattr(RULES["ML101"], "candidates", broken)
    errors = []
    kept = _candidate_rules(ast.parse("x = 1"), [(RULES["ML101"], {})], lambda rule, exc: errors.append(rule.code))
    assert [cls.code for cls, _ in kept] == ["ML101"] and errors == ["ML101"]

"""ML404 functional-dropout-always-on: flagged variants, near misses, fix output."""

from __future__ import annotations

import pytest

from mllint.testing import fix, lint

CODE = "ML404"
HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n" \
       "    def forward(self, x):\n"


def _method(*lines: str, head: str = HEAD) -> str:
    return head + "".join(f"        {line}\n" for line in lines)


def _rows(src: str) -> list[int]:
    diags = lint(src, CODE)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


FLAGGED = [
    "x = F.dropout(x)",
    "x = F.dropout(x, 0.5)",
    "x = F.dropout(x, p=0.1)",
    "x = F.dropout(x, 0.5, True)",
    "x = F.dropout(x, p=0.5, training=True)",
    "x = F.dropout(x, p=0.5, inplace=False)",
    "x = F.dropout1d(x, 0.5)",
    "x = F.dropout2d(x, 0.5)",
    "x = F.dropout3d(x, p=0.5)",
    "x = F.alpha_dropout(x, 0.5)",
    "x = F.feature_alpha_dropout(x, 0.5)",
    "x = torch.nn.functional.dropout(x, 0.5)",
    "x = torch.dropout(x, 0.5, True)",
    "x = torch.dropout(x, 0.5, train=True)",
    "return self.out(F.dropout(self.hidden(x), self.p))",
]


@pytest.mark.parametrize("line", FLAGGED)
def test_flagged(line):
    assert _rows(_method(line)) == [8]


@pytest.mark.parametrize("head, call", [
    ("import torch as T\n\n\nclass M(T.nn.Module):\n    def forward(self, x):\n", "T.nn.functional.dropout(x, 0.5)"),
    ("from torch.nn import functional as fn\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
     "    def forward(self, x):\n", "fn.dropout(x, 0.5)"),
    ("from torch.nn.functional import dropout as drop\nfrom torch.nn import Module\n\n\nclass M(Module):\n"
     "    def forward(self, x):\n", "drop(x, 0.5)"),
    ("import lightning as L\nimport torch.nn.functional as F\n\n\nclass M(L.LightningModule):\n"
     "    def forward(self, x):\n", "F.dropout(x, 0.5)"),
    ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass Base(nn.Module):\n    pass\n\n\n"
     "class M(Base):\n    def forward(self, x):\n", "F.dropout(x, 0.5)"),
])
def test_aliases_and_bases(head, call):
    src = _method(f"return {call}", head=head)
    assert len(_rows(src)) == 1


def test_helper_method_and_nested_function():
    src = _method("return self.block(x)") + "\n    def block(self, x):\n        def inner(y):\n" \
        "            return F.dropout(y, 0.3)\n        return inner(x)\n"
    assert _rows(src) == [12]


NOT_FLAGGED = [
    "x = F.dropout(x, 0.5, self.training)",
    "x = F.dropout(x, p=0.5, training=self.training)",
    "x = F.dropout(x, p=0.5, training=False)",
    "x = F.dropout(x, p=0.5, training=self.training and not self.frozen)",
    "x = F.dropout(x, 0.5, mc)",
    "x = F.dropout(x, p=0)",
    "x = F.dropout(x, 0.0)",
    "x = F.dropout(x, *args)",
    "x = F.dropout(x, **kwargs)",
    "x = torch.dropout(x, 0.5, self.training)",
    "x = nn.Dropout(0.5)(x)",
]


@pytest.mark.parametrize("line", NOT_FLAGGED)
def test_not_flagged(line):
    assert _rows(_method(line)) == []


@pytest.mark.parametrize("lines", [
    ("if self.p > 0 and (self.training or self.apply_during_inference):",
     "    return F.dropout(x, p=self.p, training=True)", "return x"),
    ("return F.dropout(x, 0.5, True) if self.training else x",),
])
def test_under_a_test_of_self_training(lines):
    assert _rows(_method(*lines)) == []


def test_the_else_branch_of_a_training_test_is_flagged():
    assert _rows(_method("if self.training:", "    return x", "return F.dropout(x, 0.5)")) == [10]


@pytest.mark.parametrize("src", [
    "import torch.nn.functional as F\n\n\ndef mc_dropout(x):\n    return F.dropout(x, 0.5)\n",
    "import torch.nn.functional as F\n\n\nclass Sampler:\n    def draw(self, x):\n        return F.dropout(x, 0.5)\n",
    "import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n    @staticmethod\n"
    "    def noisy(x):\n        return F.dropout(x, 0.5)\n",
])
def test_outside_module_methods(src):
    assert _rows(src) == []


@pytest.mark.parametrize("line, fixed", [
    ("x = F.dropout(x)", "x = F.dropout(x, training=self.training)"),
    ("x = F.dropout(x, 0.5)", "x = F.dropout(x, 0.5, training=self.training)"),
    ("x = F.dropout(x, 0.5, True)", "x = F.dropout(x, 0.5, self.training)"),
    ("x = F.dropout(x, p=0.5, training=True, inplace=False)",
     "x = F.dropout(x, p=0.5, training=self.training, inplace=False)"),
    ("x = torch.dropout(x, 0.5, True)", "x = torch.dropout(x, 0.5, self.training)"),
])
def test_fix(line, fixed):
    assert fix(_method(line), CODE) == _method(fixed)


def test_fix_keeps_a_multiline_call():
    src = _method("x = F.dropout(", "    x,", "    p=0.1,", ")")
    assert fix(src, CODE) == _method("x = F.dropout(", "    x,", "    p=0.1,", "    training=self.training,", ")")

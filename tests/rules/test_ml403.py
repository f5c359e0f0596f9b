"""ML403 optimizer-misses-new-parameters: flagged variants and near misses."""

from __future__ import annotations

import pytest

from mllint.testing import lint

CODE = "ML403"
HEAD = "import torch\nfrom torch import nn\n\n\n"


def _rows(src: str) -> list[int]:
    diags = lint(src, CODE)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


def _fn(*lines: str, head: str = HEAD) -> str:
    return head + "def build(model, n):\n" + "".join(f"    {line}\n" for line in lines)


@pytest.mark.parametrize("opt, replace", [
    ("opt = torch.optim.SGD(model.parameters(), lr=0.1)", "model.fc = nn.Linear(4, n)"),
    ("opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()))", "model.fc = nn.Linear(4, n)"),
    ("opt = torch.optim.AdamW([{'params': model.parameters(), 'lr': 1e-3}])", "model.head = nn.Sequential()"),
    ("opt = torch.optim.SGD(model.named_parameters())", "model.scale = nn.Parameter(torch.ones(n))"),
    ("self_opt = torch.optim.SGD(net.model.parameters())", "net.model.fc = nn.Linear(4, n)"),
])
def test_flagged(opt, replace):
    assert _rows(_fn(opt, replace)) == [7]


@pytest.mark.parametrize("head, opt", [
    ("import torch.optim as O\nimport torch.nn as nn\n\n\n", "opt = O.SGD(model.parameters())"),
    ("from torch import nn, optim\n\n\n", "opt = optim.SGD(model.parameters())"),
    ("from torch.optim import Adam\nfrom torch import nn\n\n\n", "opt = Adam(model.parameters())"),
])
def test_aliases(head, opt):
    assert len(_rows(_fn(opt, "model.fc = nn.Linear(4, n)", head=head))) == 1


def test_methods_of_a_trainer_class():
    src = HEAD + ("class Trainer:\n    def setup(self, n):\n"
                  "        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)\n"
                  "        self.model.classifier = nn.Linear(4, n)\n")
    assert _rows(src) == [8]


NOT_FLAGGED = [
    ("model.fc = nn.Linear(4, n)", "opt = torch.optim.SGD(model.parameters())"),
    ("opt = torch.optim.SGD(model.parameters())", "model.to('cpu')", "model.cuda()"),
    ("opt = torch.optim.SGD(model.parameters())", "model.fc.requires_grad_(False)",
     "model.fc.weight.requires_grad = False"),
    ("opt = torch.optim.SGD(model.parameters())", "model.fc = nn.Linear(4, n)",
     "opt = torch.optim.SGD(model.parameters())"),
    ("opt = torch.optim.SGD(model.parameters())", "model.fc = nn.Linear(4, n)",
     "opt.add_param_group({'params': model.fc.parameters()})"),
    ("opt = torch.optim.SGD(model.parameters())", "other.fc = nn.Linear(4, n)"),  # another model
    ("opt = torch.optim.SGD(model.parameters())", "model.name = str(n)"),  # not a layer
    ("sched = torch.optim.lr_scheduler.StepLR(opt, 1)", "model.fc = nn.Linear(4, n)"),
]


@pytest.mark.parametrize("lines", NOT_FLAGGED)
def test_not_flagged(lines):
    assert _rows(_fn(*lines)) == []


def test_other_scope_is_not_this_rule():
    # built in one function, replaced in another: not the same scope
    src = HEAD + "def a(model):\n    return torch.optim.SGD(model.parameters())\n\n\n" \
        "def b(model):\n    model.fc = nn.Linear(2, 2)\n"
    assert _rows(src) == []

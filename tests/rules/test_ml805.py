"""ML805 bce-activation-mismatch: flagged variants, near misses, fixes, models in other files."""

from __future__ import annotations

import pytest

from mllint.testing import fix, lint

CODE = "ML805"
HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\n"
NET = ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        self.fc = nn.Linear(4, 1)\n{extra}\n    def forward(self, x):\n        return {ret}\n\n\n")


def _rows(src: str, **kwargs) -> list[int]:
    diags = lint(src, CODE, **kwargs)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


def _train(*lines: str) -> str:
    return "def train(model, x, y):\n" + "".join(f"    {line}\n" for line in lines)


DOUBLE_SIGMOID = [
    "loss = F.binary_cross_entropy_with_logits(torch.sigmoid(x), y)",
    "loss = F.binary_cross_entropy_with_logits(x.sigmoid(), y)",
    "loss = F.binary_cross_entropy_with_logits(F.sigmoid(x), y)",
    "loss = nn.BCEWithLogitsLoss()(torch.sigmoid(x), y)",
    "loss = nn.BCEWithLogitsLoss(pos_weight=w)(torch.special.expit(x).squeeze(1), y)",
    "loss = F.binary_cross_entropy_with_logits(nn.Sigmoid()(x), y)",
]


@pytest.mark.parametrize("line", DOUBLE_SIGMOID)
def test_double_sigmoid(line):
    assert _rows(HEAD + _train(line)) == [7]


@pytest.mark.parametrize("ret, extra", [
    ("self.fc(x)", ""),
    ("self.fc(x).squeeze(-1)", ""),
    ("self.head(x)", "        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 1))\n"),
])
def test_raw_model_output_into_bce(ret, extra):
    src = HEAD + NET.format(ret=ret, extra=extra) + _train(
        "model = Net()", "criterion = nn.BCELoss()", "p = torch.sigmoid(x)  # unrelated sigmoid",
        "return criterion(model(x), y)")
    assert len(_rows(src)) == 1


@pytest.mark.parametrize("ret, extra", [
    ("torch.sigmoid(self.fc(x))", ""),
    ("self.head(x)", "        self.head = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())\n"),
])
def test_sigmoid_model_into_with_logits(ret, extra):
    src = HEAD + NET.format(ret=ret, extra=extra) + _train(
        "model = Net()", "return F.binary_cross_entropy_with_logits(model(x), y)")
    assert len(_rows(src)) == 1
    assert _rows(src.replace("binary_cross_entropy_with_logits", "binary_cross_entropy")) == []


def test_trainer_class():
    src = HEAD + NET.format(ret="self.fc(x)", extra="") + (
        "class Trainer:\n    def __init__(self):\n        self.model = Net()\n"
        "        self.loss_fn = nn.BCELoss()\n\n    def step(self, x, y):\n"
        "        return self.loss_fn(self.model(x), y)\n")
    assert len(_rows(src)) == 1


NOT_FLAGGED = [
    ("loss = F.binary_cross_entropy_with_logits(x, y)",),
    ("loss = F.binary_cross_entropy(torch.sigmoid(x), y)",),
    ("loss = F.binary_cross_entropy(x, y)",),  # unknown value: not shown to be logits
    ("loss = F.binary_cross_entropy(model(x), y)",),  # unknown model
    ("p = torch.sigmoid(x)", "loss = F.binary_cross_entropy_with_logits(x, y)"),
    ("s = x.sigmoid()", "s = x", "loss = F.binary_cross_entropy_with_logits(s, y)"),
]


@pytest.mark.parametrize("lines", NOT_FLAGGED)
def test_not_flagged(lines):
    assert _rows(HEAD + _train(*lines)) == []


@pytest.mark.parametrize("line, fixed", [
    ("loss = F.binary_cross_entropy_with_logits(torch.sigmoid(x), y)", "loss = F.binary_cross_entropy_with_logits(x, y)"),
    ("loss = nn.BCEWithLogitsLoss()(x.sigmoid(), y)", "loss = nn.BCEWithLogitsLoss()(x, y)"),
])
def test_fix_double_sigmoid(line, fixed):
    assert fix(HEAD + _train(line), CODE, unsafe=True) == HEAD + _train(fixed)
    assert fix(HEAD + _train(line), CODE) == HEAD + _train(line)


def test_fix_raw_logits():
    net = HEAD + NET.format(ret="self.fc(x)", extra="")
    src = net + _train("model = Net()", "return F.binary_cross_entropy(model(x), y)")
    assert fix(src, CODE, unsafe=True) == src.replace("binary_cross_entropy(", "binary_cross_entropy_with_logits(")
    direct = net + _train("model = Net()", "return nn.BCELoss()(model(x), y)")
    assert fix(direct, CODE, unsafe=True) == direct.replace("BCELoss", "BCEWithLogitsLoss")
    # a named criterion may serve probabilities elsewhere: reported, not rewritten
    named = net + _train("model = Net()", "criterion = nn.BCELoss()", "return criterion(model(x), y)")
    assert len(_rows(named)) == 1
    assert fix(named, CODE, unsafe=True) == named


def test_model_imported_from_the_project(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(HEAD + NET.format(ret="self.fc(x)", extra=""))
    train = "from .models import Net\n" + HEAD + _train("model = Net()", "return nn.BCELoss()(model(x), y)")
    (pkg / "train.py").write_text(train)
    diags = lint(train, CODE, path=str(pkg / "train.py"))
    assert [d.start.row for d in diags] == [9]
    assert "models.py:9" in diags[0].message


@pytest.mark.parametrize("binding, use", [
    ("    model, other = Net(), Net()\n", "model(x)"),
    ("    other, model = (1, Net())\n", "model(x)"),
    ("    [model, other] = [Net(), None]\n", "model(x)"),
])
def test_model_bound_by_tuple_unpacking(binding, use):
    net = HEAD + NET.format(ret="self.fc(x)", extra="")
    assert len(_rows(net + "def train(x, y):\n" + binding + f"    return nn.BCELoss()({use}, y)\n")) == 1


def test_self_attribute_bound_by_tuple_unpacking():
    net = HEAD + NET.format(ret="self.fc(x)", extra="")
    src = net + ("class Trainer:\n    def __init__(self):\n        self.model, self.other = Net(), 1\n\n"
                 "    def step(self, x, y):\n        return nn.BCELoss()(self.model(x), y)\n")
    assert len(_rows(src)) == 1


@pytest.mark.parametrize("binding", [
    "    model, other = make()\n",  # opaque: the element is unknown
    "    (model, other), z = (Net(), Net()), 1\n",  # nested target: not followed
    "    model, *rest = Net(), Net(), Net()\n",
])
def test_opaque_unpacking_is_unknown(binding):
    net = HEAD + NET.format(ret="self.fc(x)", extra="")
    assert _rows(net + "def train(x, y):\n" + binding + "    return nn.BCELoss()(model(x), y)\n") == []

"""ML804 softmax-into-cross-entropy: flagged variants, near misses, fixes, models in other files."""

from __future__ import annotations

import pytest

from mllint.testing import fix, lint

CODE = "ML804"
HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\n"
NET = ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        self.fc = nn.Linear(4, 3)\n{extra}\n    def forward(self, x):\n        return {ret}\n\n\n")


def _rows(src: str, **kwargs) -> list[int]:
    diags = lint(src, CODE, **kwargs)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


def _train(*lines: str) -> str:
    return "def train(model, x, y):\n" + "".join(f"    {line}\n" for line in lines)


FLAGGED = [
    "loss = F.cross_entropy(F.softmax(x, dim=1), y)",
    "loss = F.cross_entropy(torch.softmax(x, 1), y)",
    "loss = F.cross_entropy(x.softmax(1), y)",
    "loss = F.cross_entropy(input=F.softmax(x, 1), target=y)",
    "loss = torch.nn.functional.cross_entropy(F.softmax(x, 1), y)",
    "loss = nn.CrossEntropyLoss()(F.softmax(x, 1), y)",
    "loss = F.nll_loss(F.softmax(x, 1), y)",
    "loss = nn.NLLLoss()(x.softmax(-1), y)",
    "loss = F.cross_entropy(nn.Softmax(dim=1)(x), y)",
    "loss = F.cross_entropy(F.softmax(x, 1).squeeze(0), y)",
]


@pytest.mark.parametrize("line", FLAGGED)
def test_flagged_direct(line):
    assert _rows(HEAD + _train(line)) == [7]


@pytest.mark.parametrize("lines", [
    ("probs = F.softmax(x, 1)", "criterion = nn.CrossEntropyLoss()", "loss = criterion(probs, y)"),
    ("criterion = nn.CrossEntropyLoss(label_smoothing=0.1)", "p = x.softmax(1)", "loss = criterion.forward(p, y)"),
])
def test_flagged_through_bindings(lines):
    assert _rows(HEAD + _train(*lines)) == [9]


@pytest.mark.parametrize("ret, extra", [
    ("F.softmax(self.fc(x), dim=1)", ""),
    ("self.fc(x).softmax(-1)", ""),
    ("self.head(x)", "        self.head = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))\n"),
    ("self.act(self.fc(x))", "        self.act = nn.Softmax(dim=-1)\n"),
])
def test_softmax_in_the_models_forward(ret, extra):
    src = HEAD + NET.format(ret=ret, extra=extra) + _train("model = Net()", "out = model(x)",
                                                           "return F.cross_entropy(out, y)")
    assert len(_rows(src)) == 1


def test_trainer_class_and_lightning_module():
    trainer = HEAD + NET.format(ret="torch.softmax(self.fc(x), 1)", extra="") + (
        "class Trainer:\n    def __init__(self):\n        self.model = Net()\n"
        "        self.criterion = nn.CrossEntropyLoss()\n\n    def step(self, x, y):\n"
        "        return self.criterion(self.model(x), y)\n")
    assert len(_rows(trainer)) == 1
    lit = "import lightning as L\n" + HEAD + (
        "class Lit(L.LightningModule):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n\n    def forward(self, x):\n        return F.softmax(self.fc(x), 1)\n\n"
        "    def training_step(self, batch, i):\n        x, y = batch\n        return F.cross_entropy(self(x), y)\n")
    assert len(_rows(lit)) == 1


NOT_FLAGGED = [
    ("loss = F.cross_entropy(F.log_softmax(x, 1), y)",),
    ("loss = F.nll_loss(F.log_softmax(x, 1), y)",),
    ("loss = F.cross_entropy(x, y)",),
    ("probs = F.softmax(x, 1)", "acc = (probs.argmax(1) == y).float().mean()", "loss = F.cross_entropy(x, y)"),
    ("loss = nn.KLDivLoss()(F.log_softmax(x, 1), F.softmax(y, 1))",),
    ("loss = F.cross_entropy(model(x), y)",),  # unknown model
    ("p = F.softmax(x, 1)", "p = x", "loss = F.cross_entropy(p, y)"),  # rebound before use
]


@pytest.mark.parametrize("lines", NOT_FLAGGED)
def test_not_flagged(lines):
    assert _rows(HEAD + _train(*lines)) == []


def test_raw_model_not_flagged():
    src = HEAD + NET.format(ret="self.fc(x)", extra="") + _train("model = Net()", "return F.cross_entropy(model(x), y)")
    assert _rows(src) == []


@pytest.mark.parametrize("line, fixed", [
    ("loss = F.cross_entropy(F.softmax(x, dim=1), y)", "loss = F.cross_entropy(x, y)"),
    ("loss = F.cross_entropy(x.softmax(1), y)", "loss = F.cross_entropy(x, y)"),
    ("loss = F.nll_loss(F.softmax(x, dim=1), y)", "loss = F.nll_loss(F.log_softmax(x, dim=1), y)"),
    ("loss = F.nll_loss(x.softmax(1), y)", "loss = F.nll_loss(x.log_softmax(1), y)"),
])
def test_fix(line, fixed):
    assert fix(HEAD + _train(line), CODE, unsafe=True) == HEAD + _train(fixed)
    assert fix(HEAD + _train(line), CODE) == HEAD + _train(line)


def test_model_imported_from_the_project(tmp_path):
    (tmp_path / "models.py").write_text(HEAD + NET.format(ret="F.softmax(self.fc(x), dim=1)", extra=""))
    train = "from models import Net\n" + HEAD + _train("model = Net()", "return F.cross_entropy(model(x), y)")
    path = tmp_path / "train.py"
    path.write_text(train)
    diags = lint(train, CODE, path=str(path))
    assert [d.start.row for d in diags] == [9]
    assert "models.py:12" in diags[0].message
    # the model's last operation is what counts: a raw model in models.py is not flagged
    (tmp_path / "models.py").write_text(HEAD + NET.format(ret="self.fc(x)", extra=""))
    assert lint(train, CODE, path=str(path)) == []


def test_cached_result_depends_on_the_model_file(tmp_path, monkeypatch):
    """The cache and the replay know that train.py's result was read from models.py too."""
    import os

    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    models = tmp_path / "models.py"
    models.write_text(HEAD + NET.format(ret="self.fc(x)", extra=""))
    (tmp_path / "train.py").write_text("from models import Net\n" + HEAD +
                                       _train("model = Net()", "return F.cross_entropy(model(x), y)"))
    monkeypatch.chdir(tmp_path)
    args = ["--jobs", "1", "--select", CODE, "train.py"]
    assert CliRunner().invoke(main, args).exit_code == 0
    models.write_text(HEAD + NET.format(ret="F.softmax(self.fc(x), dim=1)", extra="") + "# longer\n")
    stat = models.stat()
    os.utime(models, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 1 and "ML804" in second.output
    third = CliRunner().invoke(main, args)  # replayed from the cache, still found
    assert third.exit_code == 1 and "ML804" in third.output


def test_a_name_read_in_its_own_assignment_is_the_previous_binding():
    src = HEAD + _train("out = F.softmax(x, 1)", "out = F.cross_entropy(out, y)")
    assert _rows(src) == [8]
    src = HEAD + _train("out = x", "out = F.cross_entropy(out, y)", "out = out.softmax(1)")
    assert _rows(src) == []


def test_model_bound_by_tuple_unpacking():
    src = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
           "    def forward(self, x):\n        return F.softmax(self.fc(x), -1)\n\n\n"
           "def train(x, y):\n    other, model = 1, Net()\n    return F.cross_entropy(model(x), y)\n")
    assert [d.code for d in lint(src, "ML804")] == ["ML804"]

"""ML402 submodules-in-plain-container: flagged variants, near misses, fix output."""

from __future__ import annotations

import pytest

from mllint.testing import fix, lint

CODE = "ML402"
HEAD = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n\nclass M(nn.Module):\n" \
       "    def __init__(self, n):\n        super().__init__()\n"


def _cls(*lines: str, head: str = HEAD) -> str:
    return head + "".join(f"        {line}\n" for line in lines)


def _rows(src: str) -> list[int]:
    diags = lint(src, CODE)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


FLAGGED = [
    ("self.layers = [nn.Linear(2, 2), nn.ReLU()]",),
    ("self.layers = (nn.Linear(2, 2), nn.Linear(2, 2))",),
    ("self.layers = [nn.Linear(2, 2) for _ in range(n)]",),
    ("self.heads = {'a': nn.Linear(2, 1), 'b': nn.Linear(2, 1)}",),
    ("self.heads = {f'h{i}': nn.Linear(2, 1) for i in range(n)}",),
    ("self.heads = {i: nn.Linear(2, 1) for i in range(n)}",),
    ("self.layers = []", "for _ in range(n):", "    self.layers.append(nn.Linear(2, 2))"),
    ("self.layers = []", "self.layers.extend([nn.Linear(2, 2) for _ in range(n)])"),
    ("self.heads = {}", "for i in range(n):", "    self.heads[str(i)] = nn.Linear(2, 1)"),
    ("self.blocks = [nn.Sequential(nn.Linear(2, 2), nn.Softmax(-1))]",),
    ("self.blocks: list = [nn.Linear(2, 2)]",),
]


@pytest.mark.parametrize("lines", FLAGGED)
def test_flagged(lines):
    assert _rows(_cls(*lines)) == [9]


@pytest.mark.parametrize("head", [
    "import torch as T\n\n\nclass M(T.nn.Module):\n    def __init__(self, n):\n        super().__init__()\n",
    "from torch.nn import Module, Linear\n\n\nclass M(Module):\n    def __init__(self, n):\n"
    "        super().__init__()\n",
    "import torch.nn as tnn\nBase = tnn.Module\n\n\nclass M(Base):\n    def __init__(self, n):\n"
    "        super().__init__()\n",
    "import pytorch_lightning as pl\nfrom torch import nn\n\n\nclass M(pl.LightningModule):\n"
    "    def __init__(self, n):\n        super().__init__()\n",
    "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n\n\nclass M(Base):\n    def __init__(self, n):\n"
    "        super().__init__()\n",
])
def test_aliases_and_bases(head):
    layer = "Linear(2, 2)" if "import Module, Linear" in head else \
        "T.nn.Linear(2, 2)" if "as T" in head else "tnn.Linear(2, 2)" if "tnn" in head else "nn.Linear(2, 2)"
    src = _cls(f"self.layers = [{layer}, {layer}]", head=head)
    assert len(_rows(src)) == 1


def test_local_list_filled_by_append():
    src = _cls("layers = []", "for _ in range(n):", "    layers.append(nn.Conv2d(3, 3, 3))", "self.layers = layers")
    assert _rows(src) == [12]


def test_same_file_module_class_and_helper_method():
    src = HEAD.replace("class M", "class Block(nn.Module):\n    pass\n\n\nclass M") + \
        "        self.blocks = []\n        self.build(n)\n\n    def build(self, n):\n" \
        "        for _ in range(n):\n            self.blocks.append(Block())\n"
    assert _rows(src) == [13]


NOT_FLAGGED = [
    ("self.acts = [F.relu, torch.tanh]",),
    ("self.sizes = [n, n * 2]",),
    ("self.names = ['a', 'b']",),
    ("self.buffers_ = [torch.zeros(2)]",),
    ("self.params = [nn.Parameter(torch.zeros(2))]",),
    ("self.kinds = [nn.Linear, nn.Conv2d]",),  # classes, not instances
    ("self.layers = [nn.Linear(2, 2)]", "self.layers = nn.ModuleList(self.layers)"),
    ("self.layers = [nn.Linear(2, 2)]", "self.net = nn.Sequential(*self.layers)"),
    ("self.heads = {'a': nn.Linear(2, 2)}", "self.heads_ = nn.ModuleDict(self.heads)"),
    ("self.layers = []", "for i in range(n):", "    layer = nn.Linear(2, 2)",
     "    self.add_module(f'l{i}', layer)", "    self.layers.append(layer)"),
    ("self.layers = []", "for i in range(n):", "    layer = nn.Linear(2, 2)",
     "    setattr(self, f'l{i}', layer)", "    self.layers.append(layer)"),
    ("self.fc1 = nn.Linear(2, 2)", "self.layers = [self.fc1]"),  # registered as an attribute
    ("self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])",),
    ("self.layers = nn.Sequential(*[nn.Linear(2, 2) for _ in range(n)])",),
    ("self.layers = [Block(2) for _ in range(n)]",),  # an unknown (imported) class
    ("self.feature_info = [dict(num_chs=2, module='a')]",),
]


@pytest.mark.parametrize("lines", NOT_FLAGGED)
def test_not_flagged(lines):
    assert _rows(_cls(*lines)) == []


@pytest.mark.parametrize("base", ["object", "Trainer", "torch.utils.data.Dataset", "SomethingImported"])
def test_classes_that_are_not_modules(base):
    src = _cls("self.models = [nn.Linear(2, 2)]").replace("class M(nn.Module)", f"class M({base})")
    assert _rows(src) == []


@pytest.mark.parametrize("lines, fixed", [
    (("self.layers = [nn.Linear(2, 2) for _ in range(n)]",),
     ("self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])",)),
    (("self.layers = (nn.Linear(2, 2), nn.ReLU())",), ("self.layers = (nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]))",)),
    (("self.heads = {'a': nn.Linear(2, 1)}",), ("self.heads = nn.ModuleDict({'a': nn.Linear(2, 1)})",)),
    (("self.layers = []", "self.layers.append(nn.Linear(2, 2))"),
     ("self.layers = nn.ModuleList()", "self.layers.append(nn.Linear(2, 2))")),
    (("layers = []", "layers.append(nn.Linear(2, 2))", "self.layers = layers"),
     ("layers = []", "layers.append(nn.Linear(2, 2))", "self.layers = nn.ModuleList(layers)")),
])
def test_fix(lines, fixed):
    assert fix(_cls(*lines), CODE, unsafe=True) == _cls(*fixed)
    assert fix(_cls(*lines), CODE) == _cls(*lines)  # unsafe only


@pytest.mark.parametrize("lines", [
    ("self.heads = {i: nn.Linear(2, 1) for i in range(n)}",),
    ("self.heads = {0: nn.Linear(2, 1), 1: nn.Linear(2, 1)}",),
    ("self.heads = {}", "for i in range(n):", "    self.heads[i] = nn.Linear(2, 1)"),
])
def test_no_fix_for_non_string_keys(lines):
    src = _cls(*lines)
    assert _rows(src) == [9]
    assert fix(src, CODE, unsafe=True) == src

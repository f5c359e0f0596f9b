"""ML402 runtime proof: layers kept in a plain list/dict are missing from `parameters()` and stay
unchanged after an optimizer step; wrapped in ModuleList/ModuleDict they are present and change."""

import torch

from .conftest import load_fixture


def _step(name):
    torch.manual_seed(0)
    model = load_fixture("ML402", name).MultiHead(4, 2)
    listed = [layer.weight for layer in model.layers] + [head.weight for head in model.heads.values()]
    before = [w.detach().clone() for w in listed]
    registered = {id(p) for p in model.parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model(torch.randn(8, 4))
    sum(v.pow(2).mean() for v in out.values()).backward()
    opt.step()
    changed = [not torch.equal(b, w.detach()) for b, w in zip(before, listed)]
    return [id(w) in registered for w in listed], changed


def test_listed_layers_are_not_registered_and_never_train():
    present, changed = _step("bad")
    assert present == [False] * 4
    assert changed == [False] * 4


def test_wrapped_layers_are_registered_and_train():
    present, changed = _step("fixed")
    assert present == [True] * 4
    assert changed == [True] * 4

"""ML801 runtime proof: the original evaluation pass returns outputs that carry an autograd graph
(`grad_fn`, every activation kept alive); the fixed pass returns the same values without one."""

import torch

from .conftest import load_fixture


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    loader = [(torch.randn(5, 4), torch.randn(5, 1)) for _ in range(3)]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    return model, loader, opt


def _outputs(name):
    model, loader, opt = _setup()
    return load_fixture("ML801", name).train(model, loader, loader, opt, epochs=1)


def test_original_keeps_a_graph_per_batch():
    outputs = _outputs("bad")
    assert len(outputs) == 3
    assert all(out.grad_fn is not None and out.requires_grad for out in outputs)


def test_fixed_has_no_graph_and_equal_values():
    original, fixed = _outputs("bad"), _outputs("fixed")
    assert all(out.grad_fn is None and not out.requires_grad for out in fixed)
    assert all(torch.equal(a.detach(), b) for a, b in zip(original, fixed))

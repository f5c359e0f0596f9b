"""ML403 runtime check: the head assigned after the optimizer is not updated by its steps; the
good fixture's head (assigned before the optimizer) is."""

import torch

from .conftest import load_fixture


def _head_changes(name):
    torch.manual_seed(0)
    model, optimizer = load_fixture("ML403", name).build(3)
    before = model.head.weight.detach().clone()
    loss = model(torch.randn(8, 8)).pow(2).mean()
    loss.backward()
    assert model.head.weight.grad is not None  # the head does get gradients
    optimizer.step()
    return not torch.equal(before, model.head.weight.detach())


def test_head_after_the_optimizer_never_trains():
    assert _head_changes("bad") is False


def test_head_before_the_optimizer_trains():
    assert _head_changes("good") is True

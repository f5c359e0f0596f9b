"""ML803 runtime proof: the original accumulator is a tensor whose `grad_fn` chains every
iteration's graph (one addition node per iteration, each holding that iteration's loss graph); the
fixed one is a Python float with the same value."""

import torch

from .conftest import load_fixture


def _run(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    loader = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(5)]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: both runs see the same losses
    return load_fixture("ML803", name).train(model, loader, opt)


def _additions(fn):
    """The chain of accumulation nodes behind the returned total."""
    count = 0
    while fn is not None:
        if type(fn).__name__.startswith("AddBackward"):
            count += 1
        inputs = [f for f, _ in fn.next_functions if f is not None]
        fn = inputs[0] if inputs else None
    return count


def test_original_total_chains_every_iteration():
    total = _run("bad")
    assert isinstance(total, torch.Tensor) and total.grad_fn is not None
    assert _additions(total.grad_fn) >= 4  # 5 iterations: 0.0 + l1 + ... + l5


def test_fixed_total_is_a_number_with_the_same_value():
    original, fixed = _run("bad"), _run("fixed")
    assert isinstance(fixed, float)
    assert abs(original.item() - fixed) < 1e-6

"""ML705 runtime proof: one batch split into N micro-batches; after accumulation, the fixed code's
gradient equals the full-batch gradient and the original's equals N times it."""

import pytest
import torch

from .conftest import load_fixture

N = 4


def _micro_batches():
    torch.manual_seed(0)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    return x, y, list(zip(x.chunk(N), y.chunk(N)))


def _full_batch_gradient(x, y):
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    return model.weight.grad.clone()


def _step_taken(name, function):
    """The weight change of one accumulated SGD step with lr=1: minus the accumulated gradient."""
    x, y, micro = _micro_batches()
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    start = model.weight.detach().clone()
    getattr(load_fixture("ML705", name), function)(model, micro, N, lr=1.0)
    return start - model.weight.detach(), _full_batch_gradient(x, y)


@pytest.mark.parametrize("function", ["train", "train_counter"])
def test_original_step_is_n_times_the_mean_gradient(function):
    taken, full = _step_taken("bad", function)
    assert torch.allclose(taken, N * full, atol=1e-6)


@pytest.mark.parametrize("function", ["train", "train_counter"])
def test_fixed_step_is_the_full_batch_gradient(function):
    taken, full = _step_taken("fixed", function)
    assert torch.allclose(taken, full, atol=1e-6)

"""ML704 runtime proof: without clearing, the gradient after three iterations is the sum of the
three batch gradients; with zero_grad it is the last batch's gradient alone."""

import torch

from .conftest import load_fixture


def _batches():
    torch.manual_seed(0)
    return [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(3)]


def _batch_gradients(batches):
    """Each batch's gradient at the starting weights (lr=0: the weights never move)."""
    grads = []
    for x, y in batches:
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        torch.nn.functional.mse_loss(model(x), y).backward()
        grads.append(model.weight.grad.clone())
    return grads


def _final_gradient(name):
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    load_fixture("ML704", name).train(model, _batches(), lr=0.0)
    return model.weight.grad


def test_original_gradient_is_the_sum_of_all_batches():
    grads = _batch_gradients(_batches())
    assert torch.allclose(_final_gradient("bad"), sum(grads))
    assert not torch.allclose(_final_gradient("bad"), grads[-1])


def test_cleared_gradient_is_the_last_batch():
    grads = _batch_gradients(_batches())
    assert torch.allclose(_final_gradient("good"), grads[-1])

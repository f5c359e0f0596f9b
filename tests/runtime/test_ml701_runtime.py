"""ML701 runtime proof: over ten iterations the misordered loops leave the parameters unchanged
(the step sees cleared gradients); the usual order changes them."""

import pytest
import torch

from .conftest import load_fixture

ITERATIONS = 10


def _data():
    torch.manual_seed(0)
    return [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(ITERATIONS)]


def _run(name, function):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    start = [p.detach().clone() for p in model.parameters()]
    module = load_fixture("ML701", name)
    if function == "Trainer":
        module.Trainer(model).fit(_data())
    else:
        getattr(module, function)(model, _data())
    return [torch.equal(a, b.detach()) for a, b in zip(start, model.parameters())]


@pytest.mark.parametrize("function", ["train", "train_step_first", "Trainer"])
def test_misordered_loop_never_trains(function):
    assert all(_run("bad", function)), "the parameters did not move"


@pytest.mark.parametrize("function", ["train", "train_clear_last"])
def test_usual_order_trains(function):
    assert not any(_run("good", function))


def test_accumulation_wiped_by_per_batch_clear():
    """With the clear on every micro-batch, the gated step sees only the last micro-batch's gradient."""
    def final(name):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1, bias=False)
        start = model.weight.detach().clone()
        data = _data()[:4]
        load_fixture("ML701", name).train_accumulated(model, data, lr=1.0, accum=4)
        return (start - model.weight.detach()), data, start

    delta_bad, data, start = final("bad")
    delta_good, _, _ = final("good")
    # the last micro-batch's gradient alone, divided by accum
    last = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        last.weight.copy_(start)
    x, y = data[-1]
    (torch.nn.functional.mse_loss(last(x), y) / 4).backward()
    assert torch.allclose(delta_bad, last.weight.grad)
    assert not torch.allclose(delta_good, last.weight.grad)

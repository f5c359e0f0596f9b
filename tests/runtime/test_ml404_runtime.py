"""ML404 runtime proof: in eval mode the original forward (functional dropout without a training
argument) gives different outputs for the same input; the fixed forward is deterministic and
equals the no-dropout result."""

import torch

from .conftest import load_fixture


def _eval_outputs(name):
    torch.manual_seed(0)
    module = load_fixture("ML404", name)
    model = module.Classifier(16, 3).eval()
    x = torch.randn(8, 16)
    with torch.no_grad():
        first, second = model(x), model(x)
        reference = model.out(torch.relu(model.hidden(x)))  # the network without dropout
    return first, second, reference


def test_dropout_stays_on_in_eval():
    first, second, reference = _eval_outputs("bad")
    assert not torch.equal(first, second)
    assert not torch.allclose(first, reference)


def test_fixed_dropout_is_off_in_eval():
    first, second, reference = _eval_outputs("fixed")
    assert torch.equal(first, second)
    assert torch.allclose(first, reference)

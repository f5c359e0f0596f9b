"""ML804 runtime proof: cross-entropy on softmax output gives a gradient different from the
reference cross-entropy on the logits (and NLL on probabilities differs from NLL on
log-probabilities); the fixed code's gradients equal the references."""

import torch
import torch.nn.functional as F

from .conftest import load_fixture


def _grads(name, which):
    torch.manual_seed(0)
    module = load_fixture("ML804", name)
    model = module.Classifier(6, 4)
    x, y = torch.randn(16, 6), torch.randint(0, 4, (16,))
    loss = getattr(module, which)(model, x, y)
    loss.backward()
    got = model.fc.weight.grad.clone()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()  # the reference: cross-entropy on the logits
    return got, model.fc.weight.grad


def test_softmax_into_cross_entropy_changes_the_gradient():
    for which in ("loss_of", "nll_of"):
        got, reference = _grads("bad", which)
        assert not torch.allclose(got, reference, atol=1e-6), which


def test_fixed_losses_give_the_reference_gradient():
    for which in ("loss_of", "nll_of"):
        got, reference = _grads("fixed", which)
        assert torch.allclose(got, reference, atol=1e-6), which

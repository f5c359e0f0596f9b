"""ML805 runtime proof: a double sigmoid, and raw logits in BCE, give losses and gradients that
differ from the reference BCE-with-logits on the same logits; the fixed code equals it."""

import torch
import torch.nn.functional as F

from .conftest import load_fixture


def _loss_and_grad(name, which, in_unit_interval=False):
    module = load_fixture("ML805", name)
    model = module.model
    torch.manual_seed(1)
    x, y = torch.randn(256, 4) * 3, torch.randint(0, 2, (256,)).float()
    if in_unit_interval:  # a batch whose logits happen to lie in [0, 1]: BCELoss runs, silently
        with torch.no_grad():
            out = model(x)
        keep = (out > 0) & (out < 1)
        x, y = x[keep], y[keep]
    model.zero_grad()
    try:
        loss = getattr(module, which)(x, y)
    except RuntimeError:  # BCELoss refuses inputs outside [0, 1] in recent PyTorch: loud for some batches
        return None, None
    loss.backward()
    got = (loss.detach(), model.fc.weight.grad.clone())
    model.zero_grad()
    reference = F.binary_cross_entropy_with_logits(model(x), y)
    reference.backward()
    return got, (reference.detach(), model.fc.weight.grad.clone())


def test_double_sigmoid_differs_from_the_reference():
    (loss, grad), (ref_loss, ref_grad) = _loss_and_grad("bad", "double_sigmoid_loss")
    assert not torch.allclose(loss, ref_loss) and not torch.allclose(grad, ref_grad)


def test_logits_into_bce_fails_on_some_batches_and_is_wrong_on_the_others():
    assert _loss_and_grad("bad", "logits_into_bce") == (None, None)  # logits outside [0, 1]: an error
    (loss, grad), (ref_loss, ref_grad) = _loss_and_grad("bad", "logits_into_bce", in_unit_interval=True)
    assert not torch.allclose(loss, ref_loss) and not torch.allclose(grad, ref_grad)


def test_fixed_losses_equal_the_reference():
    for which in ("double_sigmoid_loss", "logits_into_bce"):
        (loss, grad), (ref_loss, ref_grad) = _loss_and_grad("fixed", which)
        assert torch.allclose(loss, ref_loss) and torch.allclose(grad, ref_grad), which

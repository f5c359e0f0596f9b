"""ML101 runtime proof: with torch.amp.GradScaler, an inf gradient makes the fixed step skip the
update and halve the scale, while the original sanitizer hides it: parameters move, scale stays."""

import copy

import pytest
import torch

from .conftest import load_fixture

INIT_SCALE = 2.0**16


def _overflowing_step(module):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    trainer = module.Trainer(model, lr=0.1, init_scale=INIT_SCALE)
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(8, 4)
    # 1e38 * 65536 overflows float32: the scaled gradients are inf, as in an fp16 overflow
    loss = model(x).sum() * 1e38
    trainer.step(loss)
    moved = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    return moved, trainer.scaler.get_scale()


def test_original_sanitizer_hides_overflow():
    moved, scale = _overflowing_step(load_fixture("ML101", "bad"))
    assert moved, "the optimizer stepped on garbage gradients"
    assert scale == INIT_SCALE, "the scaler never saw the overflow"


def test_fixed_sanitizer_lets_the_scaler_skip_the_step():
    moved, scale = _overflowing_step(load_fixture("ML101", "fixed"))
    assert not moved, "the overflowing step must be skipped"
    assert scale == INIT_SCALE * 0.5, "the scale must back off"


@pytest.mark.parametrize("name", ["bad", "fixed"])
def test_finite_gradients_train_normally_either_way(name):
    torch.manual_seed(0)
    module = load_fixture("ML101", name)
    model = torch.nn.Linear(4, 1)
    trainer = module.Trainer(model, lr=0.1)
    before = model.weight.detach().clone()
    trainer.step(model(torch.randn(8, 4)).pow(2).mean())
    assert not torch.equal(before, model.weight)
    assert trainer.scaler.get_scale() == INIT_SCALE


def test_other_fixed_forms_keep_inf():
    fixed = load_fixture("ML101", "fixed")
    model = torch.nn.Linear(2, 1)
    for p in model.parameters():
        p.grad = torch.full_like(p, float("inf"))
    fixed.sanitize_in_place(model)
    assert all(torch.isinf(p.grad).all() for p in model.parameters())

    w = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * torch.tensor([float("-inf"), 1.0])).sum()
    grads = fixed.sanitized_autograd_grads(loss, [w])
    assert torch.isneginf(grads[0][0])
    bad = load_fixture("ML101", "bad")
    loss = (w * torch.tensor([float("-inf"), 1.0])).sum()
    assert torch.isfinite(bad.sanitized_autograd_grads(loss, [w])[0]).all()

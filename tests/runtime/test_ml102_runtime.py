"""ML102 runtime proof with torch.amp.GradScaler: after the fix, the clipped true gradient norm
equals the threshold; before it, the clip ran on gradients multiplied by the loss scale, so the
step used a gradient norm of threshold / 65536."""

import pytest
import torch

from .conftest import load_fixture

SCALE = 2.0**16


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 1)


def _batches(n=2):
    g = torch.Generator().manual_seed(1)
    # targets far from the initial predictions: the true gradient norm is far above the threshold
    return [(torch.randn(8, 4, generator=g), torch.full((8, 1), 100.0)) for _ in range(n)]


def _flat(model):
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


def _true_grad_norm(model, batches, accum):
    probe = _model()
    probe.load_state_dict(model.state_dict())
    for x, y in batches:
        (torch.nn.functional.mse_loss(probe(x), y) / accum).backward()
    return torch.cat([p.grad.reshape(-1) for p in probe.parameters()]).norm().item()


def _trainer_step(name, clip_norm=1.0):
    model = _model()
    trainer = load_fixture("ML102", name).Trainer(model, lr=1.0, clip_norm=clip_norm, accum_steps=2)
    batches = _batches()
    assert _true_grad_norm(model, batches, 2) > 100 * clip_norm
    before = _flat(model)
    trainer.train_step(batches)
    # after scaler.step, .grad holds the unscaled gradients the optimizer used; with SGD(lr=1) the
    # parameter update has the same norm
    used = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm().item()
    moved = (_flat(model) - before).norm().item()
    return used, moved, trainer.scaler.get_scale()


def test_fixed_trainer_clips_the_true_gradient_norm_to_the_threshold():
    used, moved, scale = _trainer_step("fixed", clip_norm=1.0)
    assert scale == SCALE  # no overflow: the step was taken
    assert used == pytest.approx(1.0, rel=1e-4)
    assert moved == pytest.approx(1.0, rel=1e-4)


def test_original_trainer_clips_the_scaled_gradients():
    used, moved, scale = _trainer_step("bad", clip_norm=1.0)
    assert scale == SCALE
    assert used == pytest.approx(1.0 / SCALE, rel=1e-3)  # off by the loss scale
    assert moved != pytest.approx(1.0, rel=0.5)


def _epoch(name, use_amp, max_norm=0.5):
    module = load_fixture("ML102", name)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu") if use_amp else None
    before = _flat(model)
    module.train_epoch(model, _batches(2), opt, scaler, use_amp=use_amp, accum=2, max_norm=max_norm)
    return (_flat(model) - before).norm().item()


def test_accumulation_step_fixed_under_the_amp_branch():
    assert _epoch("fixed", use_amp=True) == pytest.approx(0.5, rel=1e-4)
    assert _epoch("bad", use_amp=True) == pytest.approx(0.5 / SCALE, rel=1e-3)


@pytest.mark.parametrize("name", ["bad", "fixed"])
def test_full_precision_branch_is_unchanged_by_the_fix(name):
    # scaler is None when AMP is off: the inserted unscale_ is guarded by the same `if use_amp:`
    assert _epoch(name, use_amp=False) == pytest.approx(0.5, rel=1e-4)


def _clamped(name, clip_value=0.01):
    module = load_fixture("ML102", name)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu")
    x, y = _batches(1)[0]
    module.clamp_step(model, opt, scaler, torch.nn.functional.mse_loss(model(x), y), clip_value=clip_value)
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).abs().max().item()


def test_value_clamp_after_the_fix_bounds_the_true_gradients():
    assert _clamped("fixed") == pytest.approx(0.01, rel=1e-4)
    assert _clamped("bad") == pytest.approx(0.01 / SCALE, rel=1e-3)

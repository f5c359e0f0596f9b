"""ML702 runtime proof: with a large gradient, the step of the original loop (clip after the step)
moves the parameters by more than clipping to the threshold allows; clipping first bounds it."""

import pytest
import torch

from .conftest import load_fixture

LR, MAX_NORM = 0.1, 1.0


def _update_norm(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    batch = [(torch.randn(8, 3) * 100, torch.randn(8, 1) * 100)]  # a large gradient
    load_fixture("ML702", name).train(model, batch, max_norm=MAX_NORM, lr=LR)
    end = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (end - start).norm().item()


def test_clip_after_step_does_not_bound_the_update():
    assert _update_norm("bad") > 10 * LR * MAX_NORM


def test_clip_before_step_bounds_the_update():
    assert _update_norm("good") == pytest.approx(LR * MAX_NORM, rel=1e-4)

"""ML105 runtime proof: with SGD, the original step moves the parameters by the loss scale times
the intended update, the fixed step by the intended update; with an inf gradient the fixed step
is skipped while the original writes inf/NaN into the parameters."""

import torch

from .conftest import load_fixture

LR, SCALE = 0.1, 1024.0


def _run(name, x, y):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    start = [p.detach().clone() for p in model.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE)
    load_fixture("ML105", name).train(model, [(x, y)], scaler, lr=LR)
    return start, [p.detach() for p in model.parameters()]


def _intended(x, y):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    return [-LR * p.grad for p in model.parameters()]


def test_original_step_is_scale_times_too_large():
    torch.manual_seed(1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    start, end = _run("bad", x, y)
    for a, b, d in zip(start, end, _intended(x, y)):
        assert torch.allclose(b - a, SCALE * d, rtol=1e-3, atol=1e-4)


def test_fixed_step_is_the_intended_update():
    torch.manual_seed(1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    start, end = _run("fixed", x, y)
    for a, b, d in zip(start, end, _intended(x, y)):
        assert torch.allclose(b - a, d, rtol=1e-3, atol=1e-6)


def test_inf_gradient_skipped_only_by_the_fix():
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    x[0, 0] = float("inf")
    _, bad = _run("bad", x, y)
    start, fixed = _run("fixed", x, y)
    assert not all(torch.isfinite(p).all() for p in bad)
    assert all(torch.equal(a, b) for a, b in zip(start, fixed))

"""ML104 has no fix; its message recommends the public way to see a skipped step (compare
`scaler.get_scale()` before and after `scaler.update()`). This proves that recommendation with the
installed PyTorch, using good.py's Trainer on a CPU GradScaler."""

import torch

from .conftest import load_fixture


def _step(loss_factor: float) -> bool:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    trainer = load_fixture("ML104", "good").Trainer(model)
    trainer.scaler = torch.amp.GradScaler("cpu")  # the fixture targets CUDA; the API is the same
    before = model.weight.detach().clone()
    ok = trainer.amp_step(model(torch.randn(8, 4)).sum() * loss_factor)
    assert torch.equal(before, model.weight) == (not ok)  # a skipped step leaves the weights alone
    return ok


def test_public_check_reports_an_overflowing_step_as_skipped():
    assert _step(1e38) is False  # scaled by 65536 the gradients overflow float32


def test_public_check_reports_a_normal_step_as_taken():
    assert _step(1.0) is True

"""ML201 runtime proof: a value head trained on per-batch-normalised returns plateaus at a value
loss near 1.0; with the fix's running normaliser it learns the returns. The inserted helper's
statistics equal numpy's over all data seen."""

import numpy as np
import pytest
import torch
from torch import nn

from .conftest import load_fixture

UPDATES = 300


def _train(module) -> list[float]:
    """Each update is one episode of a fixed task: the return depends on an episode context the
    value head can see, plus a little noise (large raw returns, like the seed's -2000 rewards)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    agent = module.PPOAgent(nn.Linear(2, 1), lr=0.05)
    losses = []
    for _ in range(UPDATES):
        context = torch.rand(1, generator=gen) * 2 - 1
        states = torch.cat([context.expand(32, 1), torch.randn(32, 1, generator=gen)], dim=1)
        returns = -2000.0 + 500.0 * context.expand(32) + 5.0 * torch.randn(32, generator=gen)
        advantages = torch.randn(32, generator=gen)
        losses.append(agent.update_policy(states, returns, advantages))
    return losses


def _plateau(losses: list[float]) -> float:
    return float(np.mean(losses[-50:]))


def test_per_batch_normalisation_pins_the_value_loss_near_one():
    assert 0.8 < _plateau(_train(load_fixture("ML201", "bad"))) < 1.2


def test_running_normalisation_learns_the_returns():
    bad = _plateau(_train(load_fixture("ML201", "bad")))
    fixed = _plateau(_train(load_fixture("ML201", "fixed")))
    assert fixed < 0.1 < bad / 5


def test_training_is_deterministic():
    fixed = load_fixture("ML201", "fixed")
    assert _train(fixed) == _train(fixed)


def _batches():
    """40 batches of sizes 1..200 (several of size one), every fourth one constant."""
    rng = np.random.default_rng(0)
    sizes = [1, 7, 1, 64] + [int(n) for n in rng.integers(1, 200, size=32)] + [1, 1, 2, 1]
    out = []
    for i, n in enumerate(sizes):
        if i % 4 == 2:
            out.append(np.full(n, rng.normal() * 100))  # constant batches
        else:
            out.append(rng.normal(loc=rng.normal() * 50, scale=rng.uniform(0.1, 30), size=n))
    return out


@pytest.mark.parametrize("as_torch", [False, True])
def test_helper_statistics_match_numpy_over_all_batches(as_torch):
    norm = load_fixture("ML201", "fixed")._MllintRunningNorm()
    seen = []
    for batch in _batches():
        x = torch.tensor(batch, dtype=torch.float64) if as_torch else batch.copy()
        out = norm(x)
        seen.append(batch)
        everything = np.concatenate(seen)
        assert norm.count == everything.size
        assert norm.mean == pytest.approx(everything.mean(), rel=1e-9, abs=1e-9)
        assert norm.var == pytest.approx(everything.var(), rel=1e-9, abs=1e-9)
        expected = (batch - everything.mean()) / (everything.std() + 1e-8)
        got = out.numpy() if as_torch else out
        assert type(out) is type(x)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_helper_on_a_first_constant_batch_and_a_batch_of_one_is_finite():
    norm = load_fixture("ML201", "fixed")._MllintRunningNorm()
    assert torch.isfinite(norm(torch.full((4,), 3.0))).all()
    assert torch.isfinite(norm(torch.tensor([7.0]))).all()
    assert np.isfinite(norm(np.array([-1.0]))).all()


def test_numpy_and_in_place_sites_keep_their_types():
    fixed = load_fixture("ML201", "fixed")
    out = fixed.normalize_discounted_rewards([1.0, 2.0, 3.0])
    assert isinstance(out, np.ndarray) and np.isfinite(out).all()
    bad = load_fixture("ML201", "bad")
    # per batch, any batch comes out with mean 0: the scale of the returns is lost
    assert abs(bad.normalize_discounted_rewards([100.0, 200.0, 300.0]).mean()) < 1e-9
    assert fixed.normalize_discounted_rewards([100.0, 200.0, 300.0]).mean() > 0.5

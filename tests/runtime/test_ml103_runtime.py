"""ML103 runtime proof: on a constant batch the original normalisation yields inf/NaN and the
fixed one stays finite; on ordinary data the two agree. A batch of one with the unbiased estimator
gives NaN in the original too, which `+ 1e-8` cannot repair (NaN + eps is NaN): the docs page says
so, and the last test pins that limit down."""

import numpy as np
import pytest
import torch

from .conftest import load_fixture


def _agent(name):
    module = load_fixture("ML103", name)
    return module, module.Agent(torch.nn.Linear(3, 2), torch.nn.Linear(3, 1))


def _all_outputs(name, rewards, dones, obs, advantages, episodes):
    module, agent = _agent(name)
    return [
        agent.compute_returns(rewards, dones),
        agent.normalize_features(obs),
        agent.scale_advantages(advantages.clone()),
        *[torch.as_tensor(r) for r in module.normalize_episode_rewards(episodes)],
    ]


def _constant_inputs():
    # equal rewards with gamma = 0 give equal returns; constant features, constant advantages
    return dict(rewards=torch.ones(6), dones=torch.ones(6), obs=torch.full((5, 3), 2.0),
                advantages=torch.full((4,), 0.5), episodes=[np.full(3, 7.0)])


def _single_step_inputs():
    # a batch of one: torch's unbiased std is NaN
    return dict(rewards=torch.ones(1), dones=torch.zeros(1), obs=torch.randn(1, 3),
                advantages=torch.randn(1), episodes=[np.array([3.0])])


@pytest.mark.parametrize("inputs", [_constant_inputs, _single_step_inputs])
def test_original_produces_non_finite_values(inputs):
    torch.manual_seed(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        outs = _all_outputs("bad", **inputs())
    assert all(not torch.isfinite(o).all() for o in outs[:3])


def test_fixed_stays_finite_on_a_constant_batch():
    outs = _all_outputs("fixed", **_constant_inputs())
    assert all(torch.isfinite(o).all() for o in outs)
    # constant data is mapped to zeros
    assert all(torch.equal(o, torch.zeros_like(o)) for o in outs)


def test_batch_of_one_is_beyond_the_epsilon():
    with pytest.warns(UserWarning, match="degrees of freedom"):
        returns = _agent("fixed")[1].compute_returns(torch.ones(1), torch.zeros(1))
    assert torch.isnan(returns).all(), "NaN + 1e-8 is NaN: the docs tell users to guard batches of one"


def test_numpy_constant_episode_is_non_finite_only_in_the_original():
    with np.errstate(divide="ignore", invalid="ignore"):
        bad = load_fixture("ML103", "bad").normalize_episode_rewards([np.full(4, 1.5)])
    fixed = load_fixture("ML103", "fixed").normalize_episode_rewards([np.full(4, 1.5)])
    assert np.isnan(bad[0]).all()
    assert np.isfinite(fixed[0]).all()


def test_both_agree_on_ordinary_data():
    torch.manual_seed(0)
    data = dict(rewards=torch.randn(16), dones=torch.zeros(16), obs=torch.randn(8, 3),
                advantages=torch.randn(8), episodes=[np.random.default_rng(0).normal(size=5)])
    bad = _all_outputs("bad", **data)
    fixed = _all_outputs("fixed", **data)
    for b, f in zip(bad, fixed):
        assert torch.allclose(b, f, rtol=1e-5, atol=1e-6)

"""ML202 runtime proof: a rollout holding two episodes (the first ends at step 2). With the fix,
the return at the first episode's last step is its own reward; the original leaks the second
episode's rewards into it."""

import numpy as np
import pytest
import torch

from .conftest import load_fixture

GAMMA, LAM = 0.9, 0.95
REWARDS = [1.0, 2.0, 3.0, 10.0, 20.0]
DONES = [False, False, True, False, False]  # episode 1: steps 0-2, episode 2: steps 3-4
LAST = 2  # the first episode's last step


def _returns(name):
    agent = load_fixture("ML202", name).PPOAgent(gamma=GAMMA, gae_lambda=LAM)
    return agent.compute_returns(REWARDS, DONES)


def test_original_return_leaks_the_next_episode():
    returns = _returns("bad")
    assert returns[LAST] == pytest.approx(3.0 + GAMMA * 10.0 + GAMMA**2 * 20.0)


def test_fixed_return_at_episode_end_is_its_reward():
    returns = _returns("fixed")
    assert returns[LAST] == 3.0
    assert returns[0] == pytest.approx(1.0 + GAMMA * 2.0 + GAMMA**2 * 3.0)
    assert returns[3] == pytest.approx(10.0 + GAMMA * 20.0)


def _gae(name):
    agent = load_fixture("ML202", name).PPOAgent(gamma=GAMMA, gae_lambda=LAM)
    rewards = torch.tensor(REWARDS)
    values = torch.tensor([0.5, 0.4, 0.3, 5.0, 6.0])
    dones = torch.tensor(DONES, dtype=torch.float32)
    advantages, returns = agent.compute_gae(rewards, values, torch.tensor(7.0), dones)
    return values, advantages, returns


def test_gae_at_the_first_episode_end():
    values, bad_adv, bad_ret = _gae("bad")
    _, fixed_adv, fixed_ret = _gae("fixed")
    # fixed: delta = r - V(s) at a terminal step, and the GAE chain restarts there
    assert fixed_adv[LAST].item() == pytest.approx(REWARDS[LAST] - values[LAST].item())
    assert fixed_ret[LAST].item() == pytest.approx(REWARDS[LAST])
    # original: bootstraps from the next episode's first value and advantages
    assert bad_ret[LAST].item() != pytest.approx(REWARDS[LAST])
    assert bad_adv[LAST].item() > fixed_adv[LAST].item() + 1.0
    # the second episode is untouched by the fix
    torch.testing.assert_close(bad_adv[3:], fixed_adv[3:])


def test_mask_form_with_numpy():
    masks = 1.0 - np.array(DONES, dtype=np.float64)
    bad, _ = load_fixture("ML202", "bad").discounted_returns(REWARDS, masks, gamma=GAMMA)
    fixed, _ = load_fixture("ML202", "fixed").discounted_returns(REWARDS, masks, gamma=GAMMA)
    assert fixed[LAST] == REWARDS[LAST]
    assert bad[LAST] > REWARDS[LAST] + 1.0
    np.testing.assert_allclose(bad[3:], fixed[3:])

"""ML301 runtime proof: the DQN part of the loss head is active on one step in four. After N
training steps the fixed head's schedules equal the schedules at step N; the original ones were
computed at step N/4 (the local counter), so they lag."""

import pytest
import torch

from .conftest import load_fixture

CONFIG = {"expansion_anneal_ratio": 0.5, "expansion_penalty_start": 0.0, "expansion_penalty_end": 1.0,
          "q_temperature_anneal_ratio": 1.0, "q_temperature_start": 2.0, "q_temperature_end": 0.1}
TOTAL_STEPS = 100
N = 40


def _run(name):
    module = load_fixture("ML301", name)
    torch.manual_seed(0)
    head = module.ACTLossHead(module.TinyModel(), TOTAL_STEPS, CONFIG)
    batches = [{"inputs": torch.randn(8, 4), "labels": torch.randint(0, 3, (8,)), "dqn_active": i % 4 == 3}
               for i in range(N)]
    steps = module.train(head, batches)
    return module, head, steps


def test_original_schedules_lag_the_training_step():
    module, head, steps = _run("bad")
    assert steps == N and head.dqn_step_counter == N // 4
    assert head.expansion_penalty == pytest.approx(module.compute_expansion_penalty(N // 4, TOTAL_STEPS, CONFIG))
    assert head.expansion_penalty < module.compute_expansion_penalty(N, TOTAL_STEPS, CONFIG)
    assert head.epsilon > module.epsilon_schedule(N, TOTAL_STEPS)  # still exploring


def test_fixed_schedules_follow_the_training_step():
    module, head, steps = _run("fixed")
    assert steps == N
    assert head.expansion_penalty == pytest.approx(module.compute_expansion_penalty(N, TOTAL_STEPS, CONFIG))
    assert head.epsilon == pytest.approx(module.epsilon_schedule(N, TOTAL_STEPS))

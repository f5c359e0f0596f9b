"""ML204 runtime proof: a Polyak update with autograd on gives the frozen target's parameters a
`grad_fn` (the update is in the graph); under the fix's `torch.no_grad()` they stay plain leaves
with the same values."""

import pytest
import torch

from .conftest import load_fixture


def _agent(module):
    torch.manual_seed(0)
    agent = module.Agent(torch.nn.Linear(3, 2), tau=0.5)
    with torch.no_grad():
        for p in agent.q_net.parameters():
            p.add_(1.0)  # make the online and target networks differ
    return agent


def test_original_update_is_recorded_in_the_graph():
    agent = _agent(load_fixture("ML204", "bad"))
    agent.soft_update()
    assert all(p.grad_fn is not None for p in agent.target_net.parameters())


def test_fixed_update_leaves_plain_tensors_with_the_same_values():
    bad, fixed = _agent(load_fixture("ML204", "bad")), _agent(load_fixture("ML204", "fixed"))
    bad.soft_update()
    fixed.soft_update()
    for p_bad, p_fixed in zip(bad.target_net.parameters(), fixed.target_net.parameters()):
        assert p_fixed.grad_fn is None and not p_fixed.requires_grad
        assert torch.equal(p_bad.detach(), p_fixed)


def test_original_update_lets_the_loss_train_the_online_network_through_the_target():
    agent = _agent(load_fixture("ML204", "bad"))
    agent.soft_update()
    loss = sum(p.sum() for p in agent.target_net.parameters())
    loss.backward()
    assert all(p.grad is not None for p in agent.q_net.parameters())


@pytest.mark.parametrize("name", ["bad", "fixed"])
def test_ema_update_values(name):
    module = load_fixture("ML204", name)
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ema.requires_grad_(False)
    expected = [0.5 * e + 0.5 * m for e, m in zip(ema.parameters(), model.parameters())]
    expected = [t.detach() for t in expected]
    module.ema_update(ema, model, decay=0.5)
    assert all(torch.allclose(p.detach(), e) for p, e in zip(ema.parameters(), expected))
    assert all((p.grad_fn is not None) == (name == "bad") for p in ema.parameters())

"""ML203 runtime proof: a tiny Q-network on a two-state chain (s0 -> s1). With the original code the
gradient of the TD loss also flows through the bootstrap `max_a Q(s1, a)`; the fixed code's gradient
is the semi-gradient computed by hand. For the actor-critic loss, the critic's gradient in the fixed
code is exactly that of its own semi-gradient value loss; the original adds gradient from the policy
term and from the bootstrap."""

import torch

from .conftest import load_fixture

GAMMA, REWARD = 0.9, 0.5
S0, S1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])


def _q_net():
    net = torch.nn.Linear(2, 2, bias=False)  # Q(s, a) = W[a, s] for one-hot states
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    return net


def _td_gradient(name):
    module = load_fixture("ML203", name)
    agent = module.DQNAgent(_q_net(), gamma=GAMMA)
    loss = agent.loss(S0, torch.tensor([[0]]), torch.tensor([REWARD]), S1, torch.tensor([0.0]))
    loss.backward()
    return agent.q_net.weight.grad


def _semi_gradient_by_hand():
    q, bootstrap = 0.1, max(0.2, 0.4)  # Q(s0, a0) and max_a Q(s1, a)
    error = q - (REWARD + GAMMA * bootstrap)  # |error| < 1: smooth L1 is 0.5 * error ** 2
    grad = torch.zeros(2, 2)
    grad[0, 0] = error  # only Q(s0, a0) is a function of the parameters
    return grad


def test_fixed_gradient_is_the_semi_gradient():
    assert torch.allclose(_td_gradient("fixed"), _semi_gradient_by_hand())


def test_original_gradient_also_flows_into_the_bootstrap():
    original = _td_gradient("bad")
    assert not torch.allclose(original, _td_gradient("fixed"))
    # the residual gradient: -gamma * error on the bootstrap's entry Q(s1, a1)
    assert torch.isclose(original[1, 1], -GAMMA * _semi_gradient_by_hand()[0, 0])


class _ActorCritic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc_pi = torch.nn.Linear(2, 2)
        self.fc_v = torch.nn.Linear(2, 1)

    def pi(self, s):
        return torch.softmax(self.fc_pi(s), dim=1)

    def v(self, s):
        return self.fc_v(s)


def _critic_gradient_beyond_its_value_loss(name):
    module = load_fixture("ML203", name)
    model = _ActorCritic()
    loss = module.actor_critic_loss(model, S0, torch.tensor([[1]]), torch.tensor([[REWARD]]), S1,
                                    torch.tensor([[1.0]]), gamma=GAMMA)
    value_part = torch.nn.functional.mse_loss(model.v(S0), (REWARD + GAMMA * model.v(S1)).detach())
    (loss - value_part).backward()  # what the critic gets beyond its semi-gradient value loss
    return model.fc_v.weight.grad


def test_original_actor_critic_loss_sends_more_gradient_into_the_critic():
    grad = _critic_gradient_beyond_its_value_loss("bad")
    assert grad is not None and grad.abs().sum() > 0


def test_fixed_actor_critic_loss_trains_the_critic_by_its_value_loss_only():
    grad = _critic_gradient_beyond_its_value_loss("fixed")
    assert grad is not None and torch.allclose(grad, torch.zeros_like(grad))

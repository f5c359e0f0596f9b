"""ML203 bootstrap-target-not-detached: TD targets and advantages computed from the trained network
with autograd on, used as the target of a regression loss or as the weight of a log-prob loss."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML203")]


FLAGGED = {
    "DQN agent class, self.q_net on both sides": ("""
        import torch.nn.functional as F
        class DQN:
            def update(self, obs, actions, rewards, next_obs, dones):
                q = self.q_net(obs).gather(1, actions).squeeze(1)
                next_q = self.q_net(next_obs).max(1)[0]
                target = rewards + self.gamma * (1 - dones) * next_q
                return F.mse_loss(q, target)
        """, [(8, 30)]),
    "Double DQN: the trained net evaluates the next action": ("""
        import torch as T
        from torch.nn import functional as Fn
        def loss(q_net, target_net, s, a, r, s2, d, gamma=0.99):
            next_a = target_net(s2).argmax(1, keepdim=True)
            next_q = q_net(s2).gather(1, next_a).squeeze(1)
            y = r + gamma * (1 - d) * next_q
            q = q_net(s).gather(1, a).squeeze(1)
            return Fn.smooth_l1_loss(q, y)
        """, [(9, 33)]),
    "DDPG, target written inline, loss object from nn": ("""
        from torch import nn
        class DDPG:
            def __init__(self, critic, actor):
                self.critic, self.actor = critic, actor
                self.loss_fn = nn.MSELoss()
            def critic_step(self, s, a, r, s2, done, discount):
                q = self.critic(s, a)
                return self.loss_fn(q, r + discount * (1 - done) * self.critic(s2, self.actor(s2)))
        """, [(9, 32)]),
    "TD3 twin critics through torch.min, tuple unpacking": ("""
        import torch
        import torch.nn.functional as F
        def critic_loss(critic, actor, s, a, r, s2, not_done, gamma):
            q1_next, q2_next = critic(s2, actor(s2))
            target_q = r + not_done * gamma * torch.min(q1_next, q2_next)
            q1, q2 = critic(s, a)
            return F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        """, [(8, 27), (8, 54)]),
    "SAC: entropy term and min of twin critics": ("""
        import torch
        import torch.nn.functional as F
        def sac_loss(qf1, qf2, actor, s, a, r, s2, d, alpha, gamma=0.99):
            next_a, next_logp = actor.sample(s2)
            min_q = torch.min(qf1(s2, next_a), qf2(s2, next_a)) - alpha * next_logp
            next_q_value = r + (1 - d) * gamma * min_q.view(-1)
            return F.mse_loss(qf1(s, a).view(-1), next_q_value)
        """, [(8, 43)]),
    "n-step return with gamma ** n": ("""
        import torch.nn.functional as F
        def n_step_loss(v, states, returns_n, last_states, dones, gamma, n):
            bootstrap = v(last_states).squeeze(-1)
            targets = returns_n + (gamma ** n) * (1 - dones) * bootstrap
            return F.mse_loss(v(states).squeeze(-1), targets)
        """, [(6, 46)]),
    "squared TD error through a name": ("""
        def td_loss(critic, s, r, s2, gamma):
            delta = r + gamma * critic(s2) - critic(s)
            return (delta ** 2).mean()
        """, [(3, 13)]),
    "pow(2) of a difference": ("""
        def td_loss(v, s, r, s2, gamma):
            return (r + gamma * v(s2) - v(s)).pow(2).mean()
        """, [(3, 13)]),
    "helper method computing the target": ("""
        import torch.nn.functional as F
        class Agent:
            def _target(self, r, s2, d):
                return r + self.gamma * (1 - d) * self.q_net(s2).max(1).values
            def update(self, s, a, r, s2, d):
                target = self._target(r, s2, d)
                q = self.q_net(s).gather(1, a).squeeze(1)
                return F.huber_loss(q, target)
        """, [(9, 32)]),
    "actor-critic advantage weighting a log-prob": ("""
        import torch
        import torch.nn.functional as F
        class ActorCritic:
            def loss(self, s, a, r, s_prime, done, gamma):
                td_target = r + gamma * self.v(s_prime) * done
                delta = td_target - self.v(s)
                pi_a = self.pi(s).gather(1, a)
                return -torch.log(pi_a) * delta + F.smooth_l1_loss(self.v(s), td_target.detach())
        """, [(9, 35)]),
    "criterion bound to MSELoss(), squeeze chain": ("""
        import torch
        criterion = torch.nn.MSELoss()
        def step(net, s, a, r, s2, gamma):
            target = r + gamma * net(s2).max(dim=1).values
            pred = net(s).gather(1, a).squeeze()
            return criterion(pred, target)
        """, [(7, 28)]),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML203", *w) for w in where]


NOT_FLAGGED = {
    "target network named target_net": """
        import torch.nn.functional as F
        def loss(q_net, target_net, s, a, r, s2, d, gamma):
            y = r + gamma * (1 - d) * target_net(s2).max(1)[0]
            return F.mse_loss(q_net(s).gather(1, a).squeeze(1), y)
        """,
    "target network from copy.deepcopy in the class": """
        import copy
        import torch.nn.functional as F
        class Agent:
            def __init__(self, q):
                self.q = q
                self.q_frozen_copy = q
                self.shadow = copy.deepcopy(q)
            def loss(self, s, a, r, s2, d):
                y = r + self.gamma * (1 - d) * self.shadow(s2).max(1)[0]
                return F.mse_loss(self.q(s).gather(1, a).squeeze(1), y)
        """,
    "*_targ networks (spinning up)": """
        import torch
        def compute_loss_q(ac, ac_targ, o, a, r, o2, d, gamma, alpha):
            q1 = ac.q1(o, a)
            a2, logp_a2 = ac.pi(o2)
            q_pi_targ = torch.min(ac_targ.q1(o2, a2), ac_targ.q2(o2, a2))
            backup = r + gamma * (1 - d) * (q_pi_targ - alpha * logp_a2)
            return ((q1 - backup) ** 2).mean()
        """,
    "with torch.no_grad() around the target only": """
        import torch
        import torch.nn.functional as F
        def loss(q_net, s, a, r, s2, d, gamma):
            with torch.no_grad():
                next_q = q_net(s2).max(1)[0]
                y = r + gamma * (1 - d) * next_q
            return F.mse_loss(q_net(s).gather(1, a).squeeze(1), y)
        """,
    "inference_mode block, torch imported as T": """
        import torch as T
        from torch.nn import functional as F
        def loss(q_net, s, a, r, s2, d, gamma):
            with T.inference_mode():
                y = r + gamma * (1 - d) * q_net(s2).max(1)[0]
            return F.mse_loss(q_net(s).gather(1, a).squeeze(1), y)
        """,
    "gamma as a layer scale, not a bootstrap": """
        import torch.nn.functional as F
        class Block:
            def forward(self, x, y):
                out = self.norm(x + self.drop(self.gamma * self.mlp(x)))
                return F.mse_loss(self.mlp(x), out)
        """,
    "detach at the end": """
        import torch.nn.functional as F
        def loss(q_net, s, a, r, s2, d, gamma):
            y = (r + gamma * (1 - d) * q_net(s2).max(1)[0]).detach()
            return F.mse_loss(q_net(s).gather(1, a).squeeze(1), y)
        """,
    "detach on the bootstrap only": """
        import torch.nn.functional as F
        def loss(v, s, r, s2, gamma):
            return F.mse_loss(v(s), r + gamma * v(s2).detach())
        """,
    "detached in the loss call": """
        import torch.nn.functional as F
        def loss(v, s, r, s2, gamma):
            target = r + gamma * v(s2)
            return F.smooth_l1_loss(v(s), target.detach())
        """,
    "no_grad decorator on the helper": """
        import torch
        import torch.nn.functional as F
        class Agent:
            @torch.no_grad()
            def _target(self, r, s2, d):
                return r + self.gamma * (1 - d) * self.q_net(s2).max(1)[0]
            def update(self, s, a, r, s2, d):
                return F.mse_loss(self.q_net(s).gather(1, a).squeeze(1), self._target(r, s2, d))
        """,
    "helper called under no_grad": """
        import torch
        import torch.nn.functional as F
        def bootstrap(v, r, s2, gamma):
            return r + gamma * v(s2)
        def update(v, s, r, s2, gamma):
            with torch.no_grad():
                y = bootstrap(v, r, s2, gamma)
            return F.mse_loss(v(s), y)
        """,
    "returns from rewards only": """
        import torch.nn.functional as F
        def value_loss(v, states, rewards, gamma):
            R, returns = 0.0, []
            for r in reversed(rewards):
                R = r + gamma * R
                returns.insert(0, R)
            return F.mse_loss(v(states), returns)
        """,
    "GAE computed under no_grad (PPO)": """
        import torch
        def ppo_loss(agent, obs, next_obs, rewards, dones, logprob_new, logprob_old, gamma, lam):
            with torch.no_grad():
                values = agent.get_value(obs)
                next_value = agent.get_value(next_obs)
                advantages = rewards + gamma * next_value * (1 - dones) - values
            ratio = (logprob_new - logprob_old).exp()
            pg_loss = -(ratio * advantages).mean()
            v_loss = ((agent.get_value(obs) - (advantages + values)) ** 2).mean()
            return pg_loss + v_loss
        """,
    "advantage from the buffer": """
        def a2c_loss(log_prob, advantages, values, returns):
            return -(log_prob * advantages).mean() + ((returns - values) ** 2).mean()
        """,
    "advantage detached": """
        import torch
        def loss(model, s, a, r, s2, d, gamma):
            delta = r + gamma * model.v(s2) * d - model.v(s)
            return -(torch.log(model.pi(s).gather(1, a)) * delta.detach()).mean()
        """,
    "Double DQN with the target net evaluating": """
        import torch.nn.functional as F
        def loss(q_net, q_target, s, a, r, s2, d, gamma):
            next_a = q_net(s2).argmax(1, keepdim=True)
            y = r + gamma * (1 - d) * q_target(s2).gather(1, next_a).squeeze(1)
            return F.mse_loss(q_net(s).gather(1, a).squeeze(1), y)
        """,
    "another network bootstraps (not the one trained by this loss)": """
        import torch.nn.functional as F
        def loss(q1, q2, s, a, r, s2, gamma):
            return F.mse_loss(q1(s, a), r + gamma * q2(s2, a))
        """,
    "loss computed under no_grad (a TD error for priorities)": """
        import torch
        def priorities(q, s, a, r, s2, gamma):
            with torch.no_grad():
                return (r + gamma * q(s2).max(1)[0] - q(s).gather(1, a).squeeze(1)) ** 2
        """,
    "a supervised regression without a discount": """
        import torch.nn.functional as F
        def loss(model, x, y):
            return F.mse_loss(model(x), y + 0.1 * model(x))
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_fix_detaches_the_target():
    src = textwrap.dedent("""
        import torch.nn.functional as F
        def loss(v, s, r, s2, gamma):
            return F.mse_loss(v(s), r + gamma * v(s2))
        """)
    fixed = fix(src, "ML203", unsafe=True)
    assert "F.mse_loss(v(s), (r + gamma * v(s2)).detach())" in fixed
    assert _lint(fixed) == []


def test_fix_is_unsafe_only():
    src = "import torch.nn.functional as F\ndef loss(v, s, r, s2, gamma):\n    return F.mse_loss(v(s), r + gamma * v(s2))\n"
    assert fix(src, "ML203") == src


def test_message_names_the_network_and_the_remedy():
    src = textwrap.dedent("""
        import torch.nn.functional as F
        class DQN:
            def update(self, s, a, r, s2, d):
                target = r + self.gamma * (1 - d) * self.q_net(s2).max(1)[0]
                return F.mse_loss(self.q_net(s).gather(1, a).squeeze(1), target)
        """)
    [d] = lint(src, "ML203")
    assert "`self.q_net(s2)`" in d.message and ".detach()" in d.message and "target network" in d.message

"""ML201 per-batch-return-normalization: flagged variants, must-not-flag list, the codemod."""

import textwrap

import pytest

from mllint.testing import codes, fix, lint, rows


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# lightning-bolts' VanillaPolicyGradient: normalised returns are returned, then weight log-probs
REINFORCE_VPG = """
    import torch
    from torch.nn.functional import log_softmax

    class VPG:
        def compute_returns(self, rewards):
            reward, returns = 0, []
            for r in rewards[::-1]:
                reward = r + self.gamma * reward
                returns.insert(0, reward)
            returns = torch.tensor(returns)
            return (returns - returns.mean()) / (returns.std() + self.eps)

        def loss(self, states, actions, scaled_rewards):
            log_prob = log_softmax(self.net(states), dim=1)
            return -(scaled_rewards * log_prob[range(len(actions)), actions]).mean()
"""

FLAGGED = {
    # the same returns in a file that also trains a critic on them
    "actor_critic_returns_returned": REINFORCE_VPG.replace(
        "            return -(scaled_rewards",
        "            value_loss = torch.nn.functional.mse_loss(self.critic(states).squeeze(-1), scaled_rewards)\n"
        "            return value_loss - (scaled_rewards"),
    "seed": """
        import torch
        def update(returns, values):
            returns = (returns - returns.mean()) / returns.std()
            return ((values - returns) ** 2).mean()
    """,
    "eps": """
        def f(rets):
            rets = (rets - rets.mean()) / (rets.std() + 1e-8)
            return rets
    """,
    "eps_first_and_unbiased": """
        def f(returns):
            return (returns - returns.mean(dim=0)) / (1e-6 + returns.std(unbiased=False))
    """,
    "torch_functions_alias": """
        import torch as T
        def f(mc_returns):
            out = (mc_returns - T.mean(mc_returns)) / (T.std(mc_returns) + 1e-8)
            return out
    """,
    "numpy": """
        import numpy as np
        def f(discounted_rewards):
            discounted_rewards = (discounted_rewards - np.mean(discounted_rewards)) / (np.std(discounted_rewards) + 1e-7)
            return discounted_rewards
    """,
    "sqrt_var": """
        import numpy as np
        def f(value_targets):
            return (value_targets - value_targets.mean()) / np.sqrt(value_targets.var() + 1e-8)
    """,
    "clamp": """
        def f(td_target):
            return (td_target - td_target.mean()) / td_target.std().clamp(min=1e-6)
    """,
    "max_floor": """
        def f(returns):
            return (returns - returns.mean()) / max(returns.std(), 1e-6)
    """,
    "named_stats": """
        def f(returns):
            ret_mean = returns.mean()
            ret_std = returns.std() + 1e-8
            returns = (returns - ret_mean) / ret_std
            return returns
    """,
    "tuple_stats_item": """
        def f(returns):
            mu, sigma = returns.mean().item(), returns.std().item()
            return (returns - mu) / (sigma + 1e-8)
    """,
    "std_mean": """
        import torch
        def f(returns):
            std, mean = torch.std_mean(returns)
            return (returns - mean) / (std + 1e-8)
    """,
    "inplace_two_statements": """
        def f(returns):
            returns -= returns.mean()
            returns /= returns.std() + 1e-8
            return returns
    """,
    "assign_two_statements": """
        def f(b_returns):
            b_returns = b_returns - b_returns.mean()
            b_returns = b_returns / (b_returns.std() + 1e-8)
            return b_returns
    """,
    "sub_div_inplace": """
        def f(returns):
            returns.sub_(returns.mean()).div_(returns.std() + 1e-8)
            return returns
    """,
    "attribute": """
        class Buffer:
            def finish(self):
                self.returns = (self.returns - self.returns.mean()) / (self.returns.std() + 1e-8)
    """,
    "targets_of_value_loss": """
        import torch.nn.functional as F
        def critic_step(critic, states, targets):
            targets = (targets - targets.mean()) / (targets.std() + 1e-8)
            return F.mse_loss(critic(states), targets)
    """,
    "nested_function_in_loop": """
        def train(batches):
            def norm(returns):
                return (returns - returns.mean()) / (returns.std() + 1e-8)
            for b in batches:
                yield norm(b)
    """,
    "inside_call": """
        import torch.nn.functional as F
        def loss(values, returns):
            return F.mse_loss(values, (returns - returns.mean()) / (returns.std() + 1e-8))
    """,
    "multiline_formatting": """
        def f(returns):
            returns = (
                returns
                - returns.mean()
            ) / (
                returns.std()
                + 1e-8
            )
            return returns
    """,
    "comprehension": """
        def f(batches):
            return [(rets - rets.mean()) / rets.std() for rets in batches]
    """,
    "actor_critic_zip_loop": """
        import torch
        import torch.nn.functional as F
        def finish_episode(model, optimizer, gamma):
            R, returns = 0, []
            for r in model.rewards[::-1]:
                R = r + gamma * R
                returns.insert(0, R)
            returns = torch.tensor(returns)
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)
            policy_losses, value_losses = [], []
            for (log_prob, value), R in zip(model.saved_actions, returns):
                advantage = R - value.item()
                policy_losses.append(-log_prob * advantage)
                value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
            loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
            loss.backward()
    """,
    "actor_critic_advantage_squared": """
        import torch
        def a2c_loss(values, log_probs, rewards, gamma):
            G, returns = 0, []
            for r in reversed(rewards):
                G = r + gamma * G
                returns.insert(0, G)
            returns = torch.tensor(returns)
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)
            advantage = returns - values
            actor_loss = -(log_probs * advantage.detach()).mean()
            critic_loss = advantage.pow(2).mean()
            return actor_loss + critic_loss
    """,
    "monte_carlo_rewards_as_critic_target": """
        import torch
        from torch import nn
        class PPO:
            def __init__(self, policy, gamma):
                self.policy, self.gamma, self.MseLoss = policy, gamma, nn.MSELoss()
            def update(self, memory):
                rewards, discounted_reward = [], 0
                for reward, is_terminal in zip(reversed(memory.rewards), reversed(memory.is_terminals)):
                    if is_terminal:
                        discounted_reward = 0
                    discounted_reward = reward + (self.gamma * discounted_reward)
                    rewards.insert(0, discounted_reward)
                rewards = torch.tensor(rewards, dtype=torch.float32)
                rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-5)
                logprobs, state_values, dist_entropy = self.policy.evaluate(memory.states, memory.actions)
                advantages = rewards - state_values.detach()
                ratios = torch.exp(logprobs - memory.logprobs)
                loss = -ratios * advantages + 0.5 * self.MseLoss(state_values, rewards) - 0.01 * dist_entropy
                loss.mean().backward()
    """,
    "reinforce_with_learned_baseline": """
        import torch
        import torch.nn.functional as F
        def update(log_probs, baselines, rewards, gamma):
            g, disc_rewards = 0.0, []
            for r in reversed(rewards):
                g = r + gamma * g
                disc_rewards.append(g)
            disc_rewards = torch.tensor(disc_rewards[::-1])
            disc_rewards = (disc_rewards - disc_rewards.mean()) / (disc_rewards.std() + 1e-9)
            baseline_loss = F.mse_loss(baselines, disc_rewards)
            policy_loss = -(log_probs * (disc_rewards - baselines.detach())).sum()
            return policy_loss + baseline_loss
    """,
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_flagged(name):
    assert codes(src(FLAGGED[name]), "ML201") == ["ML201"]


def test_row_and_message():
    diags = lint(src(FLAGGED["seed"]), "ML201")
    assert [(d.start.row, d.start.column) for d in diags] == [(3, 15)]
    assert "own batch mean and std" in diags[0].message and "running statistics" in diags[0].message


NOT_FLAGGED = {
    # REINFORCE (lightning-bolts' VPG): the returns leave the function, but the file trains no value
    # function, so they can only weight log-probabilities
    "reinforce_returns_returned": REINFORCE_VPG,
    "advantages": """
        def f(advantages):
            return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    """,
    "mb_advantages": """
        def f(b_advantages, mb_inds):
            mb_advantages = b_advantages[mb_inds]
            mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
            return mb_advantages
    """,
    "adv_gae_inplace": """
        def f(adv, gae):
            adv -= adv.mean()
            adv /= adv.std() + 1e-8
            gae = (gae - gae.mean()) / gae.std()
            return adv, gae
    """,
    "running_stat_object": """
        import numpy as np
        def f(self, returns):
            self.ret_rms.update(returns)
            return (returns - self.ret_rms.mean) / np.sqrt(self.ret_rms.var + 1e-8)
    """,
    "other_stats": """
        def f(returns, other):
            return (returns - other.mean()) / other.std()
    """,
    "images_features": """
        def f(images, features):
            images = (images - images.mean()) / images.std()
            features = (features - features.mean(0)) / (features.std(0) + 1e-5)
            return images, features
    """,
    "targets_of_a_supervised_regression": """
        import torch.nn.functional as F
        def fit_regressor(model, x, targets, opt):
            targets = (targets - targets.mean()) / (targets.std() + 1e-8)
            loss = F.mse_loss(model(x), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """,
    "targets_without_value_loss": """
        def f(targets):
            return (targets - targets.mean()) / targets.std()
    """,
    "centre_only": """
        def f(returns):
            return returns - returns.mean()
    """,
    "scale_only": """
        def f(returns):
            return returns / (returns.std() + 1e-8)
    """,
    "reinforce_baseline": """
        import torch
        def finish_episode(policy, rewards, gamma):
            R, returns = 0, []
            for r in rewards[::-1]:
                R = r + gamma * R
                returns.insert(0, R)
            returns = torch.tensor(returns)
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)
            policy_loss = [-log_prob * R for log_prob, R in zip(policy.saved_log_probs, returns)]
            return torch.cat(policy_loss).sum()
    """,
    "reinforce_rewards_only_weight_log_probs": """
        import torch
        def finish_episode(policy, gamma):
            R, rewards = 0, []
            for r in policy.rewards[::-1]:
                R = r + gamma * R
                rewards.insert(0, R)
            rewards = torch.tensor(rewards)
            rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-8)
            loss = [-lp * R for lp, R in zip(policy.saved_log_probs, rewards)]
            return torch.cat(loss).sum()
    """,
    "reinforce_zip_loop_policy_only": """
        import torch
        def finish_episode(policy, optimizer, gamma):
            R, returns = 0, []
            for r in policy.rewards[::-1]:
                R = r + gamma * R
                returns.insert(0, R)
            returns = torch.tensor(returns)
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)
            policy_loss = []
            for log_prob, R in zip(policy.saved_log_probs, returns):
                policy_loss.append(-log_prob * R)
            torch.cat(policy_loss).sum().backward()
    """,
    "group_normalised_rewards_grpo": """
        def grpo_loss(rewards, log_probs):
            rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
            return -(log_probs * rewards).mean()
    """,
    "reward_regression_without_discounting": """
        def reward_model_loss(model, x, rewards):
            rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
            return ((model(x) - rewards) ** 2).mean()
    """,
    "zip_pairs_only_the_matching_element": """
        import torch
        import torch.nn.functional as F
        def f(policy, values, targets, gamma):
            R, rewards = 0, []
            for r in policy.rewards[::-1]:
                R = r + gamma * R
                rewards.insert(0, R)
            rewards = torch.tensor(rewards)
            rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-8)
            for lp, w, (v, t) in zip(policy.saved_log_probs, rewards, zip(values, targets)):
                policy.loss += -lp * w + F.mse_loss(v, t)
    """,
    "two_statements_not_adjacent_subject": """
        def f(returns, x):
            returns -= returns.mean()
            x /= x.std()
    """,
    "already_fixed_helper": """
        class A:
            def __init__(self):
                self.returns_norm = _MllintRunningNorm()
            def update(self, returns):
                returns = self.returns_norm(returns)
                return returns
    """,
}


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED))
def test_not_flagged(name):
    assert lint(src(NOT_FLAGGED[name]), "ML201") == []


def test_names_are_configurable():
    code = src("""
        def f(critic_y):
            return (critic_y - critic_y.mean()) / critic_y.std()
    """)
    assert codes(code, "ML201") == []
    assert codes(code, "ML201", options={"ML201": {"extra-names": ["critic_y"]}}) == ["ML201"]
    seed = src(FLAGGED["eps"])
    assert codes(seed, "ML201", options={"ML201": {"names": ["critic_y"]}}) == ["ML201"]  # `rets` word
    td = src(FLAGGED["clamp"])
    assert codes(td, "ML201", options={"ML201": {"names": ["critic_y"]}}) == []


def test_fix_is_unsafe_only():
    code = src(FLAGGED["seed"])
    assert fix(code, "ML201") == code


def test_method_with_init_gets_state_in_init():
    code = src("""
        import torch


        class Agent:
            def __init__(self, net):
                self.net = net
                if net is None:
                    raise ValueError

            def update(self, returns):
                returns = (returns - returns.mean()) / (returns.std() + 1e-8)
                return returns
    """)
    out = fix(code, "ML201", unsafe=True)
    assert out.count("class _MllintRunningNorm:") == 1
    assert out.index("import torch") < out.index("class _MllintRunningNorm:") < out.index("class Agent:")
    assert "            raise ValueError\n        self.returns_norm = _MllintRunningNorm()\n" in out
    assert "        returns = self.returns_norm(returns)\n" in out
    assert lint(out, "ML201") == [] and fix(out, "ML201", unsafe=True) == out
    compile(out, "x.py", "exec")


def test_method_without_init_gets_lazy_state():
    code = src("""
        class Agent:
            def update(self, returns):
                for _ in range(2):
                    returns = (returns - returns.mean()) / (returns.std() + 1e-8)
                return returns
    """)
    out = fix(code, "ML201", unsafe=True)
    assert ('            if not hasattr(self, "returns_norm"):\n'
            "                self.returns_norm = _MllintRunningNorm()\n"
            "            returns = self.returns_norm(returns)\n") in out
    compile(out, "x.py", "exec")


def test_several_sites_share_one_helper_and_fix_twice_is_fix_once():
    code = src("""
        \"\"\"Doc.\"\"\"
        import numpy as np


        def a(returns):
            return (returns - returns.mean()) / returns.std()


        def b(td_target):
            td_target -= np.mean(td_target)
            td_target /= np.std(td_target) + 1e-8
            return td_target


        class C:
            def __init__(self):
                pass

            def u(self, rets):
                return (rets - rets.mean()) / rets.std()

            def v(self, rets):
                return (rets - rets.mean()) / rets.std()
    """)
    out = fix(code, "ML201", unsafe=True)
    assert out.count("class _MllintRunningNorm") == 1
    assert out.count("self.rets_norm = _MllintRunningNorm()") == 1
    assert "_returns_norm = _MllintRunningNorm()\n" in out and "_td_target_norm = _MllintRunningNorm()\n" in out
    assert "    return _returns_norm(returns)\n" in out
    assert "    td_target[...] = _td_target_norm(td_target)\n    return td_target\n" in out
    assert out.count("return self.rets_norm(rets)") == 2
    assert lint(out, "ML201") == []
    assert fix(out, "ML201", unsafe=True) == out
    compile(out, "x.py", "exec")


def test_existing_helper_is_reused():
    code = src("""
        import torch


        class _MllintRunningNorm:
            pass


        def f(returns):
            return (returns - returns.mean()) / returns.std()
    """)
    out = fix(code, "ML201", unsafe=True)
    assert out.count("class _MllintRunningNorm") == 1
    assert "class _MllintRunningNorm:\n    pass\n\n\n_returns_norm = _MllintRunningNorm()\n" in out


def test_module_without_imports():
    code = "def f(returns):\n    return (returns - returns.mean()) / returns.std()\n"
    out = fix(code, "ML201", unsafe=True)
    assert out.startswith("class _MllintRunningNorm:")
    compile(out, "x.py", "exec")


def test_sub_div_inplace_fix_copies_back():
    out = fix(src(FLAGGED["sub_div_inplace"]), "ML201", unsafe=True)
    assert "    returns.copy_(_returns_norm(returns))\n" in out


def test_comment_between_two_statements_keeps_it_unfixed():
    code = src("""
        def f(returns):
            returns -= returns.mean()
            # scale
            returns /= returns.std()
            return returns
    """)
    assert rows(code, "ML201") == [2]
    assert fix(code, "ML201", unsafe=True) == code


def test_two_statement_fix_keeps_both_trailing_comments():
    code = src("""
        def f(returns, values):
            returns = returns - returns.mean()  # center
            returns = returns / (returns.std() + 1e-8)  # scale
            return ((values - returns) ** 2).mean()
    """)
    out = fix(code, "ML201", unsafe=True)
    assert "    # center\n    returns = _returns_norm(returns)  # scale\n" in out
    compile(out, "x.py", "exec")


def test_composes_with_ml103():
    code = src(FLAGGED["seed"])
    out = fix(code, ["ML103", "ML201"], unsafe=True)
    assert "returns = _returns_norm(returns)" in out
    assert lint(out, ["ML103", "ML201"]) == []
    # safe fixes only: ML103's epsilon goes in, ML201 is still reported on the result
    safe = fix(code, ["ML103", "ML201"])
    assert codes(safe, ["ML103", "ML201"]) == ["ML201"]
    assert fix(safe, ["ML103", "ML201"], unsafe=True) == out


def test_dict_key_subject():
    code = src("""
        import torch.nn.functional as F
        def f(batch, values):
            batch["returns"] = (batch["returns"] - batch["returns"].mean()) / (batch["returns"].std() + 1e-8)
            return F.mse_loss(values, batch["returns"])
    """)
    assert rows(code, "ML201") == [3]
    out = fix(code, "ML201", unsafe=True)
    assert 'batch["returns"] = _returns_norm(batch["returns"])' in out


def test_generic_ret_is_not_a_return():
    code = src("""
        def f(x):
            ret = x * 2
            ret = (ret - ret.mean()) / ret.std()
            return ret
    """)
    assert lint(code, "ML201") == []


def test_pyproject_option_reaches_the_rule(tmp_path):
    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (tmp_path / "pyproject.toml").write_text('[tool.mllint.rules.ML201]\nextra-names = ["critic_y"]\n')
    (tmp_path / "train.py").write_text("def f(critic_y):\n    return (critic_y - critic_y.mean()) / critic_y.std()\n")
    out = CliRunner().invoke(main, ["check", "--no-cache", "--select", "ML201", str(tmp_path / "train.py")])
    assert out.exit_code == 1 and "ML201" in out.output
    (tmp_path / "pyproject.toml").write_text('[tool.mllint.rules.ML201]\nextra_names = ["critic_y"]\n')
    out = CliRunner().invoke(main, ["check", "--no-cache", "--select", "ML201", str(tmp_path / "train.py")])
    assert out.exit_code == 2


def test_crlf_file_stays_crlf():
    code = ("import torch\r\n\r\nclass A:\r\n    def __init__(self):\r\n        self.x = 1\r\n\r\n"
            "    def u(self, returns):\r\n        return (returns - returns.mean()) / returns.std()\r\n")
    out = fix(code, "ML201", unsafe=True)
    assert "\n" not in out.replace("\r\n", "")
    assert "        self.x = 1\r\n        self.returns_norm = _MllintRunningNorm()\r\n" in out
    compile(out, "x.py", "exec")


def test_statistics_over_a_dimension_are_reported_without_a_fix():
    # the helper keeps one scalar mean/std: it would normalise something else than the code did
    src = ("import torch\n\n\ndef f(returns):\n"
           "    returns = (returns - returns.mean(dim=0, keepdim=True)) / (returns.std(dim=0, keepdim=True) + 1e-8)\n"
           "    return returns\n")
    [d] = lint(src, "ML201")
    assert d.fix is None
    assert fix(src, "ML201", unsafe=True) == src

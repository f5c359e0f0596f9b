"""ML202 return-without-done-mask: flagged recursions, must-not-flag list, the mask fix."""

import textwrap

import pytest

from mllint.testing import codes, fix, lint, rows


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# (source, expected fixed line)
FLAGGED = {
    "seed_zip": ("""
        def compute(rewards, dones, gamma):
            R, out = 0, []
            for reward, done in zip(reversed(rewards), reversed(dones)):
                R = reward + gamma * R
                out.insert(0, R)
            return out
    """, "R = reward + gamma * R * (1 - done)"),
    "index_loop_attr_gamma": ("""
        class Agent:
            def returns(self, rewards, dones):
                returns = [0.0] * len(rewards)
                running = 0.0
                for t in reversed(range(len(rewards))):
                    running = rewards[t] + self.gamma * running
                    returns[t] = running
                return returns
    """, "running = rewards[t] + self.gamma * running * (1 - dones[t])"),
    "subscript_recursion": ("""
        import numpy as np
        def f(rewards, terminals, gamma=0.99):
            returns = np.zeros(len(rewards) + 1)
            for i in range(len(rewards) - 1, -1, -1):
                returns[i] = rewards[i] + gamma * returns[i + 1]
            return returns
    """, "returns[i] = rewards[i] + gamma * returns[i + 1] * (1 - terminals[i])"),
    "masks": ("""
        def f(rewards, masks, next_value, gamma):
            R = next_value
            out = []
            for step in reversed(range(len(rewards))):
                R = rewards[step] + gamma * R
                out.insert(0, R)
            return out
    """, "R = rewards[step] + gamma * R * masks[step]"),
    "reversed_slice_not_done": ("""
        def f(rews, not_dones, discount):
            G, out = 0.0, []
            for r, nd in zip(rews[::-1], not_dones[::-1]):
                G = r + discount * G
                out.append(G)
            return out
    """, "G = r + discount * G * nd"),
    "factor_order": ("""
        def f(rewards, dones, gamma):
            running_add = 0
            for t in reversed(range(len(rewards))):
                running_add = running_add * gamma + rewards[t]
            return running_add
    """, "running_add = running_add * gamma * (1 - dones[t]) + rewards[t]"),
    "td_delta": ("""
        def f(rewards, values, is_terminals, gamma):
            deltas = [0.0] * len(rewards)
            for t in reversed(range(len(rewards))):
                deltas[t] = rewards[t] + gamma * values[t + 1] - values[t]
            return deltas
    """, "deltas[t] = rewards[t] + gamma * values[t + 1] * (1 - is_terminals[t]) - values[t]"),
    "nested_in_method_loop": ("""
        class Runner:
            def run(self, batches):
                for batch in batches:
                    gae = 0
                    for t in reversed(range(len(batch.rewards))):
                        gae = batch.deltas[t] + self.gamma * self.lam * gae
                        batch.advantages[t] = gae
                    assert batch.dones is not None
    """, "gae = batch.deltas[t] + self.gamma * self.lam * gae * (1 - batch.dones[t])"),
    "lmbda_name": ("""
        def f(rewards, dones, lmbda):
            acc = 0.0
            for t in reversed(range(len(rewards))):
                acc = rewards[t] + lmbda * acc
            return acc
    """, "acc = rewards[t] + lmbda * acc * (1 - dones[t])"),
    "split_in_place": ("""
        def discounted_returns(rewards, dones, gamma=0.99):
            running = 0.0
            out = []
            for t in reversed(range(len(rewards))):
                running *= gamma
                running += rewards[t]
                out.append(running)
            return out[::-1]
    """, "running *= gamma * (1 - dones[t])"),
    "split_in_place_zip": ("""
        class Buffer:
            def returns(self):
                G, out = 0.0, []
                for r, d in zip(reversed(self.rewards), reversed(self.dones)):
                    G *= self.gamma
                    G += r
                    out.insert(0, G)
                return out
    """, "G *= self.gamma * (1 - d)"),
    "while_counting_down": ("""
        import torch
        def compute_returns(rewards, dones, last_value, gamma=0.99):
            returns = torch.zeros_like(rewards)
            running, t = last_value, rewards.shape[0] - 1
            while t >= 0:
                running = rewards[t] + gamma * running
                returns[t] = running
                t -= 1
            return returns
    """, "running = rewards[t] + gamma * running * (1 - dones[t])"),
    "while_counting_down_by_assignment": ("""
        def compute_returns(self, rewards, masks, next_value):
            R, step = next_value, len(rewards) - 1
            out = [None] * len(rewards)
            while step >= 0:
                R = rewards[step] + self.gamma * R
                out[step] = R
                step = step - 1
            return out
    """, "R = rewards[step] + self.gamma * R * masks[step]"),
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_flagged(name):
    code, fixed_line = FLAGGED[name]
    code = src(code)
    found = codes(code, "ML202")
    assert found and set(found) == {"ML202"}
    assert found == ["ML202"]
    if fixed_line is not None:
        out = fix(code, "ML202", unsafe=True)
        assert fixed_line in out
        assert lint(out, "ML202") == [] and fix(out, "ML202", unsafe=True) == out


def test_gae_pair_rows_and_fix():
    code = src("""
        import torch
        def gae(rewards, values, dones, gamma=0.99, lam=0.95):
            adv = torch.zeros_like(rewards)
            last = 0.0
            for t in reversed(range(len(rewards))):
                delta = rewards[t] + gamma * values[t + 1] - values[t]
                last = delta + gamma * lam * last
                adv[t] = last
            return adv
    """)
    assert rows(code, "ML202") == [6, 7]
    out = fix(code, "ML202", unsafe=True)
    assert "delta = rewards[t] + gamma * values[t + 1] * (1 - dones[t]) - values[t]" in out
    assert "last = delta + gamma * lam * last * (1 - dones[t])" in out


def test_message_names_the_sequence_and_the_mask():
    code, _ = FLAGGED["seed_zip"]
    (diag,) = lint(src(code), "ML202")
    assert "`dones` is in scope" in diag.message and "`(1 - done)`" in diag.message
    assert (diag.start.row, diag.start.column) == (4, 22)


def test_no_index_no_fix():
    code = src("""
        def mc(memory, gamma):
            out, R = [], 0
            for r in reversed(memory.rewards):
                R = r + gamma * R
                out.insert(0, R)
            return out, memory.is_terminals
    """)
    (diag,) = lint(code, "ML202")
    assert diag.fix is None and "`(1 - done)` of that step" in diag.message


NOT_FLAGGED = {
    "cleanrl": """
        def f(rewards, values, dones, next_value, next_done, gamma, gae_lambda, num_steps):
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
                returns[t] = rewards[t] + gamma * nextnonterminal * next_return
    """,
    "sb3": """
        def f(self, last_values, dones):
            last_gae_lam = 0
            for step in reversed(range(self.buffer_size)):
                if step == self.buffer_size - 1:
                    next_non_terminal = 1.0 - dones.astype(np.float32)
                    next_values = last_values
                else:
                    next_non_terminal = 1.0 - self.episode_starts[step + 1]
                    next_values = self.values[step + 1]
                delta = self.rewards[step] + self.gamma * next_values * next_non_terminal - self.values[step]
                last_gae_lam = delta + self.gamma * self.gae_lambda * next_non_terminal * last_gae_lam
                self.advantages[step] = last_gae_lam
    """,
    "one_minus_done": """
        def f(rewards, dones, gamma):
            R = 0
            for t in reversed(range(len(rewards))):
                R = rewards[t] + gamma * R * (1 - dones[t])
            return R
    """,
    "mask_inline": """
        def f(rewards, masks, gamma):
            R = 0
            for t in reversed(range(len(rewards))):
                R = rewards[t] + gamma * masks[t] * R
            return R
    """,
    "not_done_bool": """
        def f(rewards, dones, gamma):
            R = 0
            for r, d in zip(reversed(rewards), reversed(dones)):
                R = r + gamma * R * (not d)
            return R
    """,
    "invert": """
        def f(rewards, terminated, gamma):
            R = 0
            for t in reversed(range(len(rewards))):
                R = rewards[t] + gamma * R * (~terminated[t]).float()
            return R
    """,
    "reset_if_done": """
        def f(rewards, is_terminals, gamma):
            R = 0
            for reward, is_terminal in zip(reversed(rewards), reversed(is_terminals)):
                if is_terminal:
                    R = 0
                R = reward + gamma * R
            return R
    """,
    "masked_earlier": """
        def f(rewards, values, dones, gamma):
            next_values = values[1:] * (1 - dones)
            out = [0.0] * len(rewards)
            for t in reversed(range(len(rewards))):
                out[t] = rewards[t] + gamma * next_values[t]
            return out
    """,
    "masked_alias": """
        def f(rewards, dones, gamma):
            R = 0
            for t in reversed(range(len(rewards))):
                mask = 1.0 - dones[t]
                R = rewards[t] + gamma * R * mask
            return R
    """,
    "carried_multiplied_separately": """
        def f(rewards, dones, gamma):
            R = 0
            for t in reversed(range(len(rewards))):
                R = R * (1 - dones[t])
                R = rewards[t] + gamma * R
            return R
    """,
    "no_termination_in_scope": """
        def f(rewards, gamma):
            R, out = 0, []
            for r in reversed(rewards):
                R = r + gamma * R
                out.insert(0, R)
            return out
    """,
    "token_masks_of_one_response_per_row": """
        def discounted(batch, eos_mask, gamma, n):
            out = []
            for k, v in batch.items():
                reward_mask = eos_mask.bool()
                reward_tensor = v.clone()
                reward_tensor[~reward_mask] = 0
                for start in range(0, reward_tensor.shape[0], n):
                    reward_tensor[start:start + n][reward_mask[start:start + n]] -= 1
                discount_reward = torch.zeros_like(reward_tensor)
                for step in reversed(range(reward_tensor.shape[1])):
                    if step == reward_tensor.shape[1] - 1:
                        discount_reward[:, step] = reward_tensor[:, step]
                    else:
                        discount_reward[:, step] = reward_tensor[:, step] + gamma * discount_reward[:, step + 1]
                out.append(discount_reward)
            return out
    """,
    "forward_loop": """
        def f(rewards, dones, gamma):
            total, disc = 0, 1
            for r in rewards:
                total = total + disc * r
                disc = disc * gamma
            return total, dones
    """,
    "no_discount": """
        def f(xs, masks):
            acc = 0
            for x in reversed(xs):
                acc = x + 2 * acc
            return acc, masks
    """,
    "one_step_td_outside_loop": """
        def f(rewards, next_values, dones, gamma):
            return rewards + gamma * next_values * (1 - dones)
    """,
    "split_in_place_masked": """
        def f(rewards, dones, gamma):
            running, out = 0.0, []
            for t in reversed(range(len(rewards))):
                running *= gamma * (1 - dones[t])
                running += rewards[t]
                out.append(running)
            return out
    """,
    "split_in_place_reset_by_its_own_step": """
        def f(rewards, masks, gamma):
            running, out = 0.0, []
            for t in reversed(range(len(rewards))):
                running *= masks[t]
                running *= gamma
                running += rewards[t]
                out.append(running)
            return out
    """,
    "while_counting_down_masked": """
        def compute_returns(rewards, dones, last_value, gamma=0.99):
            returns = [0.0] * len(rewards)
            running, t = last_value, len(rewards) - 1
            while t >= 0:
                running = rewards[t] + gamma * running * (1 - dones[t])
                returns[t] = running
                t -= 1
            return returns
    """,
    "while_counting_up_is_not_backward": """
        def discounted_sum(rewards, dones, gamma=0.99):
            total, discount, t = 0.0, 1.0, 0
            while t < len(rewards):
                total = total + discount * rewards[t]
                discount = discount * gamma
                t += 1
            return total
    """,
    "while_with_reset_on_done": """
        def compute_returns(rewards, dones, gamma=0.99):
            out, R, t = [0.0] * len(rewards), 0.0, len(rewards) - 1
            while t >= 0:
                if dones[t]:
                    R = 0.0
                R = rewards[t] + gamma * R
                out[t] = R
                t -= 1
            return out
    """,
    "discount_power_is_not_a_recursion": """
        def f(rewards, dones, gamma):
            discount, ret = 1.0, 0.0
            for t in reversed(range(len(rewards))):
                discount *= gamma
                ret = ret + rewards[t]
            return ret, discount
    """,
}


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED))
def test_not_flagged(name):
    assert lint(src(NOT_FLAGGED[name]), "ML202") == []


def test_fix_is_unsafe_only():
    code = src(FLAGGED["seed_zip"][0])
    assert fix(code, "ML202") == code


def test_multiline_parenthesised_recursion():
    code = src("""
        def f(rewards, dones, gamma):
            R, out = 0.0, []
            for t in reversed(range(len(rewards))):
                R = (
                    rewards[t]
                    + gamma * (R)
                )
                out.append(R)
            return out
    """)
    assert rows(code, "ML202") == [6]
    out = fix(code, "ML202", unsafe=True)
    assert "+ gamma * (R) * (1 - dones[t])" in out
    compile(out, "x.py", "exec")


ROLLOUT_STORAGE = """
    import torch

    class RolloutStorage:
        def __init__(self, num_steps, num_processes):
            self.rewards = torch.zeros(num_steps, num_processes, 1)
            self.returns = torch.zeros(num_steps + 1, num_processes, 1)
            self.{attr} = torch.ones(num_steps + 1, num_processes, 1)

        def compute_returns(self, next_value, gamma):
            self.returns[-1] = next_value
            for step in reversed(range(self.rewards.size(0))):
                self.returns[step] = self.returns[step + 1] * gamma{mask} + self.rewards[step]
"""


def test_a_storage_class_whose_returns_forget_its_own_masks():
    """pytorch-a2c-ppo-acktr's RolloutStorage without `* self.masks[step + 1]`: the masks live on
    the class, not in the method; their layout (one more entry than the rewards) is not guessed."""
    (diag,) = lint(src(ROLLOUT_STORAGE.format(attr="masks", mask="")), "ML202")
    assert diag.fix is None
    assert "`self.masks[step + 1]` if `self.masks` holds one more entry than the rewards" in diag.message
    (diag,) = lint(src(ROLLOUT_STORAGE.format(attr="dones", mask="")), "ML202")
    assert "`(1 - self.dones[step + 1])`" in diag.message


@pytest.mark.parametrize("attr,mask", [
    ("masks", " * self.masks[step + 1]"),  # the original: masked
    ("action_masks", ""),  # invalid-action masks say nothing about episode ends
    ("attention_masks", ""),
])
def test_a_storage_class_not_flagged(attr, mask):
    assert lint(src(ROLLOUT_STORAGE.format(attr=attr, mask=mask)), "ML202") == []


def test_scalar_done_of_a_single_episode_is_not_a_sequence():
    code = src("""
        def run_episode(env, policy, gamma):
            rewards, done = [], False
            obs = env.reset()
            while not done:
                obs, reward, done, info = env.step(policy(obs))
                rewards.append(reward)
            R, returns = 0.0, []
            for r in reversed(rewards):
                R = r + gamma * R
                returns.insert(0, R)
            return returns
    """)
    assert lint(code, "ML202") == []


def test_buffer_attribute_sequence_is_used_for_the_fix():
    code = src("""
        def f(memory, gamma):
            out, R = [0.0] * len(memory.rewards), 0.0
            for t in reversed(range(len(memory.rewards))):
                R = memory.rewards[t] + gamma * R
                out[t] = R
            return out, memory.is_terminals
    """)
    out = fix(code, "ML202", unsafe=True)
    assert "R = memory.rewards[t] + gamma * R * (1 - memory.is_terminals[t])" in out


CLEANRL_UNMASKED = textwrap.dedent("""\
    import torch


    def gae(rewards, values, dones, next_done, next_value, gamma, gae_lambda, num_steps):
        advantages = torch.zeros_like(rewards)
        lastgaelam = 0
        for t in reversed(range(num_steps)):
            nextvalues = next_value if t == num_steps - 1 else values[t + 1]
            delta = rewards[t] + gamma * nextvalues - values[t]
            advantages[t] = lastgaelam = delta + gamma * gae_lambda * lastgaelam
        return advantages
    """)


def test_next_done_in_scope_means_dones_t_starts_an_episode_so_no_fix_is_guessed():
    # cleanrl's layout: the mask of step t is 1 - dones[t + 1] (1 - next_done at the last step);
    # (1 - dones[t]) would cut the wrong step
    diags = lint(CLEANRL_UNMASKED, "ML202")
    assert [d.start.row for d in diags] == [9, 10]
    assert all(d.fix is None for d in diags)
    assert "`(1 - dones[t + 1])`" in diags[0].message and "next_done" in diags[0].message
    assert fix(CLEANRL_UNMASKED, "ML202", unsafe=True) == CLEANRL_UNMASKED


def test_episode_starts_message_points_at_the_next_step():
    src = textwrap.dedent("""\
        def mc(rewards, episode_starts, gamma):
            R = 0.0
            out = []
            for t in reversed(range(len(rewards))):
                R = rewards[t] + gamma * R
                out.insert(0, R)
            return out
        """)
    [d] = lint(src, "ML202")
    assert "`(1 - episode_starts[t + 1])`" in d.message and d.fix is None


def test_a_mask_inside_delta_does_not_mask_the_gae_recursion():
    # delta is masked, the carried gae_t is not: returns still leak across episode ends
    src = textwrap.dedent("""\
        def gae(rewards, vals, dones, gamma, lam):
            gae_t = 0.0
            adv = [0.0] * len(rewards)
            for t in reversed(range(len(rewards))):
                nonterminal = 1.0 - dones[t]
                delta = rewards[t] + gamma * vals[t + 1] * nonterminal - vals[t]
                gae_t = delta + gamma * lam * gae_t
                adv[t] = gae_t
            return adv
        """)
    [d] = lint(src, "ML202")
    assert d.start.row == 7
    assert "gae_t = delta + gamma * lam * gae_t * (1 - dones[t])\n" in fix(src, "ML202", unsafe=True)
    masked = src.replace("gamma * lam * gae_t\n", "gamma * lam * nonterminal * gae_t\n")
    assert lint(masked, "ML202") == []


# ---- family: backward recursions outside the loop shapes (issue 21) -----------------------------
MORE_FLAGGED = {
    # a function over tensors with a time axis
    "tensor_time_axis": ("""
        import torch
        def compute_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float) -> torch.Tensor:
            T = rewards.shape[0]
            returns = torch.zeros_like(rewards)
            running = torch.zeros(rewards.shape[1])
            for t in reversed(range(T)):
                running = rewards[t] + gamma * running
                returns[t] = running
            return returns
    """, "running = rewards[t] + gamma * running * (1 - dones[t])"),
    "range_reversed_by_slice": ("""
        def f(rewards, dones, gamma, T):
            R, out = 0.0, [0.0] * T
            for t in range(T)[::-1]:
                R = rewards[t] + gamma * R
                out[t] = R
            return out
    """, "R = rewards[t] + gamma * R * (1 - dones[t])"),
    "forward_loop_reading_from_the_end": ("""
        def f(rewards, dones, gamma):
            T = len(rewards)
            R, out = 0.0, [0.0] * T
            for t in range(T):
                i = T - 1 - t
                R = rewards[i] + gamma * R
                out[i] = R
            return out
    """, "R = rewards[i] + gamma * R * (1 - dones[i])"),
    "forward_loop_negative_index": ("""
        def f(rewards, dones, gamma):
            R, out = 0.0, []
            for t in range(len(rewards)):
                R = rewards[-t - 1] + gamma * R
                out.append(R)
            return out
    """, "R = rewards[-t - 1] + gamma * R * (1 - dones[-t - 1])"),
    "vectorised_envs_first": ("""
        import torch
        def f(rewards, dones, gamma):
            returns = torch.zeros_like(rewards)
            T = rewards.shape[1]
            returns[:, T - 1] = rewards[:, T - 1]
            for t in reversed(range(T - 1)):
                returns[:, t] = rewards[:, t] + gamma * returns[:, t + 1]
            return returns
    """, "returns[:, t] = rewards[:, t] + gamma * returns[:, t + 1] * (1 - dones[:, t])"),
    "iterating_a_flip": ("""
        import torch
        def f(rewards, dones, gamma):
            R, out = torch.zeros_like(rewards[0]), []
            for r in torch.flip(rewards, dims=[0]):
                R = r + gamma * R
                out.append(R)
            return out
    """, None),
    "flip_cumsum": ("""
        import torch
        def discounted(rewards, dones, gamma):
            T = rewards.shape[0]
            discounts = gamma ** torch.arange(T, dtype=torch.float32)
            return torch.flip(torch.cumsum(torch.flip(rewards * discounts, dims=[0]), dim=0), dims=[0]) / discounts
    """, None),
    "numpy_flip_cumsum_through_a_name": ("""
        import numpy as np
        def f(rewards, dones, gamma):
            disc = gamma ** np.arange(len(rewards))
            return np.flip(np.cumsum(np.flip(rewards * disc))) / disc
    """, None),
    "lfilter_on_the_whole_rollout": ("""
        import scipy.signal
        def f(rewards, dones, gamma):
            return scipy.signal.lfilter([1], [1, -gamma], rewards[::-1] * 1.0, axis=0)[::-1]
    """, None),
}


@pytest.mark.parametrize("name", sorted(MORE_FLAGGED))
def test_more_shapes_flagged(name):
    code, fixed_line = MORE_FLAGGED[name]
    code = src(code)
    assert codes(code, "ML202") == ["ML202"]
    out = fix(code, "ML202", unsafe=True)
    if fixed_line is None:
        assert out == code
    else:
        assert fixed_line in out
        assert lint(out, "ML202") == []


def test_vectorised_gae_pair_masks_like_the_rewards():
    code = src("""
        import torch
        def f(rewards, values, dones, gamma, lam):
            num_envs, T = rewards.shape
            adv, gae = torch.zeros_like(rewards), torch.zeros(num_envs)
            for t in reversed(range(T)):
                delta = rewards[:, t] + gamma * values[:, t + 1] - values[:, t]
                gae = delta + gamma * lam * gae
                adv[:, t] = gae
            return adv
    """)
    assert rows(code, "ML202") == [6, 7]
    out = fix(code, "ML202", unsafe=True)
    assert "gae = delta + gamma * lam * gae * (1 - dones[:, t])" in out


def test_a_reset_on_done_restarts_only_the_recursion_it_assigns():
    # `next_value = 0` at an episode end masks delta's bootstrap, not the GAE accumulator
    code = src("""
        def f(rewards, values, dones, gamma, lam):
            T = len(rewards)
            adv, gae, next_value = [0.0] * T, 0.0, values[-1]
            for t in reversed(range(T)):
                if dones[t]:
                    next_value = 0.0
                delta = rewards[t] + gamma * next_value - values[t]
                gae = delta + gamma * lam * gae
                adv[t] = gae
                next_value = values[t]
            return adv
    """)
    assert rows(code, "ML202") == [8]
    both = code.replace("next_value = 0.0\n", "next_value = 0.0\n            gae = 0.0\n")
    assert rows(both, "ML202") == []


MORE_NOT_FLAGGED = {
    "forward_loop_reading_from_the_end_masked": """
        def f(rewards, dones, gamma):
            T = len(rewards)
            R, out = 0.0, [0.0] * T
            for t in range(T):
                i = T - 1 - t
                R = rewards[i] + gamma * R * (1 - dones[i])
                out[i] = R
            return out
    """,
    "forward_loop_with_a_countdown_that_is_not_an_index": """
        def f(rewards, dones, gamma):
            T = len(rewards)
            total = 0.0
            for t in range(T):
                remaining = T - t
                total = total + gamma ** remaining * rewards[t]
            return total, dones
    """,
    "forward_accumulation": """
        def f(rewards, dones, gamma):
            R = 0.0
            for t in range(len(rewards)):
                R = rewards[t] + gamma * R
            return R, dones
    """,
    "break_at_the_first_episode_end": """
        def f(rewards, dones, gamma):
            R, out = 0.0, []
            for t in reversed(range(len(rewards))):
                if dones[t] and out:
                    break
                R = rewards[t] + gamma * R
                out.append(R)
            return out
    """,
    "vectorised_masked": """
        def f(rewards, dones, gamma, T):
            for t in reversed(range(T - 1)):
                returns[:, t] = rewards[:, t] + gamma * returns[:, t + 1] * (1 - dones[:, t])
            return returns
    """,
    "spinningup_discount_cumsum_no_dones": """
        import scipy.signal
        def discount_cumsum(x, discount):
            return scipy.signal.lfilter([1], [1, float(-discount)], x[::-1], axis=0)[::-1]
    """,
    "cumsum_per_episode_segment": """
        import torch
        def f(rewards, dones, gamma):
            out = []
            for start, end in episode_bounds(dones):
                r = rewards[start:end]
                disc = gamma ** torch.arange(end - start)
                out.append(torch.flip(torch.cumsum(torch.flip(r * disc, [0]), 0), [0]) / disc)
            return out
    """,
    "cumsum_masked": """
        import torch
        def f(rewards, dones, gamma):
            disc = gamma ** torch.arange(len(rewards))
            return torch.flip(torch.cumsum(torch.flip(rewards * disc * (1 - dones), [0]), 0), [0])
    """,
    "forward_cumsum": """
        import torch
        def f(rewards, dones, gamma):
            disc = gamma ** torch.arange(len(rewards))
            return torch.cumsum(rewards * disc, 0), dones
    """,
}


@pytest.mark.parametrize("name", sorted(MORE_NOT_FLAGGED))
def test_more_near_misses_not_flagged(name):
    assert lint(src(MORE_NOT_FLAGGED[name]), "ML202") == []


def test_a_counter_of_finished_episodes_is_not_a_termination_sequence():
    # lightning-bolts' REINFORCE: returns of one finished episode; `done_episodes` counts episodes
    code = src("""
        class Reinforce:
            def __init__(self, gamma):
                self.gamma = gamma
                self.done_episodes = 0

            def calc_qvals(self, rewards):
                out, sum_r = [], 0.0
                for r in reversed(rewards):
                    sum_r = (sum_r * self.gamma) + r
                    out.append(sum_r)
                return out

            def step(self, done):
                if done:
                    self.done_episodes += 1
    """)
    assert lint(code, "ML202") == []
    assert rows(code.replace("self.done_episodes = 0", "self.dones = []"), "ML202") == [9]

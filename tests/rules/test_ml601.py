"""ML601 state-carried-across-epochs (preview): the seed's state stepping, and the state that is
carried over on purpose (environments, hidden state, iterators, train state) never flagged."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src, preview=True):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML601", preview=preview)]


SEED = """
    import torch
    def train(network, opt, par, ss, batch, num_epochs, num_steps):
        state = initialize_state(par, batch, ss)
        for epoch in range(num_epochs):
            for _ in range(num_steps):
                shocks = torch.randn(batch, 1)
                state = step(state, shocks, par, ss)
            loss = euler_residual_loss(network, state, par)
            opt.zero_grad()
            loss.backward()
            opt.step()
    """

FLAGGED = {
    "seed shape": (SEED, 8),
    "single loop, keyword arguments, backward in the same statement": ("""
        def train(model, opt, x0, shocks_fn, epochs):
            x = x0
            for epoch in range(epochs):
                x = simulate(state=x, shocks=shocks_fn())
                model.residual(x).pow(2).mean().backward()
                opt.step()
        """, 5),
    "module function and jax value_and_grad": ("""
        import jax
        import model_dynamics as dyn
        state = dyn.initial_state(128)
        for epoch in range(1000):
            state = dyn.step(state, jax.random.normal(key, (128,)))
            loss, grads = jax.value_and_grad(loss_fn)(params, state)
            params = sgd(params, grads)
        """, 6),
    "own method in a class, data tuple handed to train_step": ("""
        class Solver:
            def euler_step(self, states, shocks):
                return self.rho * states + shocks
            def fit(self, epochs):
                states = self.sample_ergodic(256)
                for epoch in range(epochs):
                    states = self.euler_step(states, self.draw_shocks())
                    data = (states, self.par)
                    self.train_step(data)
        """, 8),
    "conditional re-draw still carries": ("""
        def train(net, opt, epochs, redraw_every):
            z = init_state(64)
            for epoch in range(epochs):
                if epoch % redraw_every == 0:
                    z = init_state(64)
                z = transition(z, noise(64))
                loss = bellman_residual(net, z)
                loss.backward()
        """, 7),
    "seed order: train first, redraw under an if, step at the end of the epoch": ("""
        def train(network, opt, priors, batch, num_epochs, num_steps, redraw_every):
            par = draw_parameters(priors, batch)
            ss = steady_state(par)
            state = initialize_state(par, batch, ss)
            for epoch in range(num_epochs):
                loss = euler_loss(network, state, par, ss)
                loss.backward()
                opt.step()
                if epoch % redraw_every == 0:
                    par = draw_parameters(priors, batch)
                    ss = steady_state(par)
                    state = initialize_state(par, batch, ss)
                for _ in range(num_steps):
                    shocks = draw_shocks(batch)
                    state = step(state, shocks, par, ss)
        """, 16),
    "nested function body": ("""
        def outer(net, opt):
            def train(epochs):
                s = initialize(100)
                for epoch in range(epochs):
                    s = step(s, shocks(100))
                    loss = residual_loss(net, s)
                    loss.backward()
            return train
        """, 6),
    "explicit Euler step of the state": ("""
        def train(network, opt, x0, par, num_epochs, num_steps, dt=0.01):
            x = x0
            for epoch in range(num_epochs):
                for _ in range(num_steps):
                    x = x + dt * drift(x, par)
                loss = euler_residual(network, x, par).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, 6),
    "Euler step with the step size on the right and self.dt": ("""
        class Solver:
            def fit(self, network, opt, state, epochs):
                for epoch in range(epochs):
                    state = state + self.law_of_motion(state, self.par) * self.dt
                    loss = self.residual_loss(network, state)
                    loss.backward()
                    opt.step()
        """, 5),
    "tuple state passed as one argument": ("""
        def train(network, opt, k, z, num_epochs):
            for epoch in range(num_epochs):
                k, z = transition((k, z), draw_shocks())
                loss = euler_loss(network, k, z)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, 4),
}


@pytest.mark.parametrize("src, row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML601", row)]


def test_preview_rule_is_off_unless_preview_or_selected():
    assert _lint(SEED, preview=False) == [("ML601", 8)]  # selected explicitly: runs
    from mllint.testing import run
    assert [d.code for d in run(textwrap.dedent(SEED), None, preview=False).diagnostics] == []


NOT_FLAGGED = {
    "gradient descent on an input is not an Euler step": """
        def attack(model, opt, x, lr, epochs):
            for epoch in range(epochs):
                x = x - lr * input_grad(model, x)
                loss = model.loss(x)
                loss.backward()
                opt.step()
        """,
    "Euler rollout from a fresh initial state every epoch": """
        def train(func, opt, sample_x0, epochs, steps, dt):
            x = sample_x0()
            for epoch in range(epochs):
                x = sample_x0()
                for _ in range(steps):
                    x = x + dt * func(x)
                loss = (x - target).pow(2).mean()
                loss.backward()
                opt.step()
        """,
    "re-initialised every epoch although also created before the loop": """
        def train(network, opt, par, batch, epochs, steps):
            state = initialize_state(par, batch)
            for epoch in range(epochs):
                state = initialize_state(par, batch)
                for _ in range(steps):
                    state = step(state, draw_shocks(batch), par)
                loss = euler_residual_loss(network, state, par)
                loss.backward()
                opt.step()
        """,
    "Euler step of a gradient-named drift": """
        def train(opt, theta, epochs, dt):
            for epoch in range(epochs):
                theta = theta + dt * grad_field(theta)
                loss = energy_loss(theta)
                loss.backward()
                opt.step()
        """,
    "fresh samples each epoch (the fix)": """
        def train(network, opt, batch, num_epochs, num_steps):
            for epoch in range(num_epochs):
                par = draw_parameters(batch)
                state = initialize_state(par, batch)
                for _ in range(num_steps):
                    state = step(state, shocks(batch), par)
                loss = euler_residual_loss(network, state, par)
                loss.backward()
        """,
    "gym env.step": """
        def rollout(env, agent, opt):
            obs, _ = env.reset()
            for t in range(1000):
                obs, reward, terminated, truncated, info = env.step(agent.act(obs))
                loss = agent.loss(obs)
                loss.backward()
        """,
    "vectorised env, state named state": """
        def rollout(envs, agent, opt):
            state = envs.reset()
            for t in range(1000):
                state = envs.step(agent.act(state))
                loss = agent.loss(state)
                loss.backward()
        """,
    "functional env step(state, action)": """
        def rollout(policy, state, opt):
            for t in range(1000):
                action = policy(state)
                state = step(state, action)
                loss = policy_loss(policy, state)
                loss.backward()
        """,
    "functional env, env in the loop": """
        def rollout(env, policy, state, opt):
            for t in range(1000):
                state = step(state, policy(state))
                if env.done():
                    env.reset()
                loss = policy_loss(policy, state)
                loss.backward()
        """,
    "brax-style jit_env_step": """
        def train(state, params):
            for it in range(100):
                state = jit_env_step(state, params)
                loss = loss_fn(params, state)
                loss.backward()
        """,
    "rnn hidden state": """
        def train(model, data, opt):
            hidden = model.init_hidden(32)
            for epoch in range(10):
                for x, y in data:
                    hidden = repackage_hidden(hidden)
                    out, hidden = model(x, hidden)
                    loss = criterion(out, y)
                    loss.backward()
        """,
    "hidden state stepped by a function named step": """
        def train(cell, xs, opt):
            h = torch.zeros(16)
            for x in xs:
                h = step(h, x)
                loss = (h ** 2).mean()
                loss.backward()
        """,
    "data iterator": """
        def train(model, loader, opt):
            it = iter(loader)
            for _ in range(100):
                batch = next(it)
                loss = model(batch).mean()
                loss.backward()
        """,
    "flax train state": """
        def train(state, batches):
            for batch in batches:
                state, metrics = train_step(state, batch)
                loss = metrics["loss"]
        """,
    "optimizer state": """
        def train(params, opt_state, batches):
            for batch in batches:
                params, opt_state = update_step(params, opt_state, batch)
                loss = loss_fn(params, batch)
        """,
    "jax key split": """
        import jax
        def train(key, params, xs):
            for x in xs:
                key, sub = jax.random.split(key)
                loss, grads = jax.value_and_grad(loss_fn)(params, x, sub)
        """,
    "persistent chains": """
        def pcd(energy, x_neg, data, opt):
            for x_pos in data:
                x_neg = langevin_step(energy, x_neg)
                loss = energy(x_pos).mean() - energy(x_neg).mean()
                loss.backward()
        """,
    "object method step": """
        def train(sim, net, epochs):
            state = sim.reset()
            for epoch in range(epochs):
                state = sim.step(state, shocks())
                loss = residual_loss(net, state)
                loss.backward()
        """,
    "no training in the loop": """
        def simulate_path(state, par, n):
            for _ in range(n):
                state = step(state, shocks(), par)
            loss = residual_loss(state)
            return loss
        """,
    "state created inside the loop": """
        def train(net, epochs):
            for epoch in range(epochs):
                state = initialize(64)
                state = step(state, shocks(64))
                loss = residual_loss(net, state)
                loss.backward()
        """,
    "state read only outside the loss": """
        def train(net, opt, epochs):
            state = initialize(64)
            for epoch in range(epochs):
                state = step(state, shocks(64))
                print(state.mean())
                loss = net.penalty()
                loss.backward()
        """,
    "submodule named transition in a forward-like loop (transformers ESMFold)": """
        class StructureModule:
            def __init__(self):
                self.transition = Transition()
            def run(self, s, rigids):
                for i in range(8):
                    s = self.transition(s)
                    rigids = rigids.compose(self.bb_update(s))
                    rigids = rigids.stop_rot_gradient()
        """,
    "forward pass with a step function": """
        class Net:
            def forward(self, s):
                for block in range(4):
                    s = step(s, self.noise)
                    loss = residual_loss(s)
                return s
        """,
    "name read into a non-literal, then a grad-named call": """
        def f(state, rigids):
            for i in range(8):
                state = transition(state, shocks())
                rigids = compose(rigids, state)
                rigids = rigids.stop_rot_gradient()
        """,
    "backprop through a differentiable simulator (update after the rollout)": """
        def train(policy, opt, x0, epochs, horizon):
            for epoch in range(epochs):
                x = x0
                loss = 0.0
                for t in range(horizon):
                    x = step(x, policy(x))
                    loss = loss + cost(x)
                loss.backward()
                opt.step()
        """,
    "rollout loop with a loss but no update inside": """
        def rollout(policy, x, horizon):
            total_loss = 0.0
            for t in range(horizon):
                x = simulate(x, policy(x))
                total_loss = total_loss + cost_loss(x)
            return total_loss
        """,
    "scheduler and optimizer steps": """
        def train(opt, sched, epochs, model):
            lr = 0.1
            for epoch in range(epochs):
                lr = scheduler_step(lr, epoch)
                loss = model.loss(lr)
                loss.backward()
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_message_says_what_to_do():
    (diag,) = lint(textwrap.dedent(SEED), "ML601")
    assert "`state`" in diag.message and "`step(...)`" in diag.message
    assert "fresh" in diag.message

"""ML803 loss-graph-retained: loss tensors accumulated across training iterations with their graphs."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _rows(src):
    return [d.start.row for d in lint(textwrap.dedent(src), "ML803")]


LOOP = """
    import torch
    import torch.nn.functional as F
    def train(model, loader, opt, criterion):
        {init}
        for x, y in loader:
            opt.zero_grad()
            {loss}
            loss.backward()
            opt.step()
            {acc}
        {after}
    """


def _src(acc, init="total = 0", loss="loss = criterion(model(x), y)", after="print(total / len(loader))"):
    return LOOP.format(init=init, acc=acc, loss=loss, after=after)


FLAGGED = {
    "total += loss": _src("total += loss"),
    "running = running + loss": _src("total = total + loss"),
    "losses.append(loss), return len(losses)": _src("losses.append(loss)", init="losses = []",
                                                    after="return len(losses)"),
    "losses.append(loss), sum(losses)": _src("losses.append(loss)", init="losses = []",
                                             after="print(sum(losses) / len(losses))"),
    "losses += [loss]": _src("losses += [loss]", init="losses = []", after="print(losses)"),
    "scaled by the batch size": _src("total += loss * x.size(0)"),
    "a loss call accumulated directly": _src("total += F.mse_loss(model(x), y)", loss="loss = model(x).sum()"),
    "HF outputs.loss": _src("total += loss", loss="loss = model(x).loss"),
    "a loss from an unpacking, proven by backward()": _src("total += loss", loss="loss, logits = model(x)"),
}


@pytest.mark.parametrize("name", FLAGGED)
def test_flagged(name):
    assert _rows(FLAGGED[name]) == [11]


def test_trainer_class_attribute_accumulator():
    src = """
        class Trainer:
            def fit(self):
                self.total = 0.0
                for batch in self.loader:
                    self.opt.zero_grad()
                    loss = self.criterion(self.model(batch), batch)
                    loss.backward()
                    self.opt.step()
                    self.total += loss
        """
    assert _rows(src) == [10]


CLEAN = {
    ".item()": _src("total += loss.item()"),
    ".detach()": _src("total += loss.detach()"),
    "float()": _src("total += float(loss)"),
    "loss.data": _src("total += loss.data"),
    "rebound to a number": _src("total += loss", loss="loss = criterion(model(x), y)\n            loss = loss.item()"),
    "list of item() values": _src("losses.append(loss.item())", init="losses = []", after="print(sum(losses))"),
    "an accumulator made per iteration": _src("parts = []\n            parts.append(loss)", init="pass", after="pass"),
    "under no_grad": _src("with torch.no_grad():\n                total += criterion(model(x), y)"),
    "summed then backpropagated after the loop": _src("losses.append(loss)", init="losses = []",
                                                      after="torch.stack(losses).sum().backward()"),
    "summed into a name that is backpropagated": _src("losses.append(loss)", init="losses = []",
                                                      after="meta = sum(losses) / len(losses)\n        meta.backward()"),
    "a reward from the environment": _src("total += reward", loss="reward = env.step(0)[1]\n            loss = criterion(model(x), y)"),
}


@pytest.mark.parametrize("name", CLEAN)
def test_clean(name):
    assert _rows(CLEAN[name]) == []


@pytest.mark.parametrize("src", [
    # a sum of per-head losses, backpropagated once: no training loop around the accumulation
    """
    def compute_loss(heads, x, y, criterion):
        total = 0
        for head in heads:
            total += criterion(head(x), y)
        return total
    def train(model, heads, loader, opt, criterion):
        for x, y in loader:
            opt.zero_grad()
            compute_loss(heads, model(x), y, criterion).backward()
            opt.step()
    """,
    # REINFORCE: log-probs collected over an episode, used in the loss
    """
    import torch
    def train(policy, env, opt):
        for episode in range(100):
            log_probs = []
            for t in range(200):
                log_probs.append(policy(env.obs()).log_prob(0))
            loss = -torch.stack(log_probs).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    """,
    # modules appended in __init__, features returned from forward
    """
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = []
            for i in range(3):
                self.layers.append(nn.Linear(4, 4))
        def forward(self, x):
            feats = []
            for layer in self.layers:
                x = layer(x)
                feats.append(x)
            return feats
    def train(net, loader, opt):
        for x in loader:
            opt.zero_grad()
            net(x)[-1].sum().backward()
            opt.step()
    """,
    # numpy rewards of an RL rollout
    """
    def train(agent, env, opt):
        rewards = []
        for t in range(100):
            obs, reward, done, info = env.step(agent.act())
            rewards.append(reward)
            loss = agent.loss()
            opt.zero_grad()
            loss.backward()
            opt.step()
    """,
])
def test_must_not_flag(src):
    assert _rows(src) == []


def test_message_and_fix():
    src = textwrap.dedent(FLAGGED["total += loss"])
    [diag] = lint(src, "ML803")
    assert "`loss`" in diag.message and "`total`" in diag.message and "loss.item()" in diag.message
    assert fix(src, "ML803", unsafe=True) == src.replace("total += loss", "total += loss.item()")
    assert fix(src, "ML803") == src


def test_fix_detaches_when_the_accumulator_stays_a_tensor():
    src = textwrap.dedent(_src("losses.append(loss)", init="losses = []", after="print(torch.stack(losses).mean())"))
    assert fix(src, "ML803", unsafe=True) == src.replace("losses.append(loss)", "losses.append(loss.detach())")
    scaled = textwrap.dedent(FLAGGED["scaled by the batch size"])
    assert fix(scaled, "ML803", unsafe=True) == scaled.replace("total += loss * x.size(0)",
                                                               "total += (loss * x.size(0)).item()")


def test_accumulator_reset_every_epoch_accumulates_over_the_batches():
    src = """
        def fit(model, loader, opt, criterion):
            for epoch in range(10):
                epoch_loss = 0.0
                for x, y in loader:
                    opt.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    opt.step()
                    epoch_loss += loss
                print(epoch_loss)
        """
    assert _rows(src) == [10]

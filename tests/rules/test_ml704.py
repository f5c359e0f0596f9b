"""ML704 missing-zero-grad: loops that backpropagate and step without ever clearing gradients."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML704")]


FLAGGED = {
    "plain loop, optim alias": ("""
        from torch import optim
        def train(model, loader):
            opt = optim.Adam(model.parameters())
            for x in loader:
                model(x).sum().backward()
                opt.step()
        """, 7),
    "module-level script loop": ("""
        import torch
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for i in range(10):
            model(x).sum().backward()
            optimizer.step()
        """, 6),
    "trainer class: the loop calls a method that backpropagates and steps": ("""
        class Trainer:
            def update(self, batch):
                loss = self.model(batch).mean()
                loss.backward()
                self.optimizer.step()
            def fit(self, loader):
                for batch in loader:
                    self.update(batch)
        """, 6),
    "helper function with the optimizer as a parameter": ("""
        def apply(o, loss):
            loss.backward()
            o.step()
        def train(model, loader, actor_optimizer):
            for x in loader:
                apply(actor_optimizer, model(x).sum())
        """, 4),
    "AMP with a GradScaler": ("""
        import torch
        def train(model, loader, opt):
            scaler = torch.cuda.amp.GradScaler()
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                scaler.step(opt)
                scaler.update()
        """, 7),
    "accelerator.backward does not clear": ("""
        def train(model, loader, optimizer, accelerator):
            for x in loader:
                accelerator.backward(model(x).sum())
                optimizer.step()
        """, 5),
}

FLAGGED["a new optimizer each iteration over a model that outlives the loop"] = ("""
        from torch import optim
        def check(model, runs):
            for _ in range(runs):
                model(1).sum().backward()
                opt = optim.SGD([p for name, p in model.named_parameters()], lr=0.01)
                opt.step()
        """, 7)

CLEAN = {
    "a new tensor and optimizer each iteration (per-step guidance)": """
        import torch
        def guide(latents, steps, energy):
            for t in steps:
                x = latents.detach().clone().requires_grad_(True)
                opt = torch.optim.SGD([x], lr=0.1)
                energy(x, t).backward()
                opt.step()
                latents = x.detach()
        """,
    "a new model and optimizer per configuration (a test grid)": """
        from torch.optim import SGD
        def check(configs):
            for cfg in configs:
                model = Toy(cfg)
                optim = OptimWrapper(SGD(model.parameters(), lr=0.1))
                model(1).sum().backward()
                optim.step()
        """,
    "zero_grad set_to_none": """
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad(set_to_none=True)
                model(x).sum().backward()
                opt.step()
        """,
    "model.zero_grad after the step": """
        def train(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                opt.step()
                model.zero_grad()
        """,
    "p.grad = None loop in a helper": """
        class T:
            def clear(self):
                for p in self.model.parameters():
                    p.grad = None
            def fit(self, loader):
                for x in loader:
                    self.clear()
                    self.model(x).sum().backward()
                    self.optimizer.step()
        """,
    "p.grad.zero_()": """
        def train(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                opt.step()
                for p in model.parameters():
                    p.grad.detach_()
                    p.grad.zero_()
        """,
    "accumulation clearing after its conditional step": """
        def train(model, loader, opt, n):
            for i, x in enumerate(loader):
                (model(x).sum() / n).backward()
                if (i + 1) % n == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    "torch.autograd.grad without backward": """
        import torch
        def train(model, loader, opt):
            params = list(model.parameters())
            for x in loader:
                grads = torch.autograd.grad(model(x).sum(), params)
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()
        """,
    "DeepSpeed engine steps and clears": """
        def train(model_engine, loader):
            for x in loader:
                loss = model_engine(x)
                model_engine.backward(loss)
                model_engine.step()
        """,
    "Lightning training_step: the framework steps and clears": """
        import lightning as L
        class Model(L.LightningModule):
            def training_step(self, batch, batch_idx):
                return self.net(batch).mean()
        """,
    "step not in a loop (a helper whose callers are elsewhere)": """
        def update(model, opt, x):
            model(x).sum().backward()
            opt.step()
        """,
    "zero_grad through an imported helper": """
        from utils import zero_grad
        def train(model, loader, opt):
            for x in loader:
                zero_grad(model)
                model(x).sum().backward()
                opt.step()
        """,
    "env.step in an RL loop": """
        def run(env, agent, opt):
            for _ in range(100):
                obs, r, done, info = env.step(agent.act())
                opt.zero_grad()
                agent.loss(obs).backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML704", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []


def test_message_says_what_to_call():
    diags = lint(textwrap.dedent(FLAGGED["plain loop, optim alias"][0]), "ML704")
    assert "`opt.zero_grad()`" in diags[0].message

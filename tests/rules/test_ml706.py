"""ML706 optimizer-created-in-loop: optimizers rebuilt in the loop that steps them."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML706")]


FLAGGED = {
    "per batch, optim alias": ("""
        from torch import optim
        def train(model, loader):
            for x in loader:
                opt = optim.Adam(model.parameters())
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """, 5),
    "per epoch, filtered parameters": ("""
        import torch as T
        def train(model, loader, epochs):
            for epoch in range(epochs):
                opt = T.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.9)
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """, 5),
    "trainer class with self.optimizer, step in a helper": ("""
        import torch
        class Trainer:
            def update(self, x):
                self.optimizer.zero_grad()
                self.model(x).sum().backward()
                self.optimizer.step()
            def fit(self, loader):
                for x in loader:
                    self.optimizer = torch.optim.AdamW(self.model.parameters())
                    self.update(x)
        """, 10),
    "while loop over steps (issue 18)": ("""
        import torch
        def train(model, batches, cfg):
            step = 0
            while step < cfg.max_steps:
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                opt.zero_grad()
                model(next(batches)).sum().backward()
                opt.step()
                step += 1
        """, 6),
    "while True with a break": ("""
        from torch.optim import SGD
        def train(model, batches):
            while True:
                optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
                loss = model(next(batches)).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if loss.item() < 0.1:
                    break
        """, 5),
    "while loop in a trainer class, step in a helper": ("""
        import torch
        class Trainer:
            def update(self, x):
                self.optimizer.zero_grad()
                self.model(x).sum().backward()
                self.optimizer.step()
            def fit(self, loader):
                while self.global_step < self.args.max_steps and not self.done:
                    self.optimizer = torch.optim.AdamW(self.model.parameters())
                    self.update(next(loader))
                    self.global_step += 1
        """, 10),
    "SGD with positional momentum": ("""
        import torch
        def train(model, loader):
            for x in loader:
                opt = torch.optim.SGD(model.parameters(), 0.01, 0.9)
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """, 5),
    "SGD with options from a dict": ("""
        import torch
        def train(model, loader, cfg):
            for x in loader:
                opt = torch.optim.SGD(model.parameters(), **cfg)
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """, 5),
}

CLEAN = {
    "built once before the loop": """
        import torch
        def train(model, loader):
            opt = torch.optim.Adam(model.parameters())
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "meta-learning: a copy of the model per task": """
        import copy, torch
        def train(meta, tasks):
            for task in tasks:
                learner = copy.deepcopy(meta)
                opt = torch.optim.SGD(learner.parameters(), lr=0.1)
                for x in task:
                    opt.zero_grad()
                    learner(x).sum().backward()
                    opt.step()
        """,
    "model created in the loop (per seed)": """
        import torch
        def train(make, loader, n):
            for i in range(n):
                net = make()
                opt = torch.optim.Adam(net.parameters())
                for x in loader:
                    opt.zero_grad()
                    net(x).sum().backward()
                    opt.step()
        """,
    "stage loop over a literal": """
        import torch
        def train(model, loader):
            for name in ("freeze", "unfreeze"):
                opt = torch.optim.Adam(model.parameters())
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """,
    "loop over phases": """
        import torch
        def train(model, loader, phases):
            for phase in phases:
                opt = torch.optim.Adam(model.parameters(), lr=phase.lr)
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """,
    "plain SGD keeps no state (no momentum)": """
        import torch
        def train(model, loader):
            for x in loader:
                opt = torch.optim.SGD(model.parameters(), lr=0.01)
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "plain SGD, momentum 0 spelled out": """
        from torch import optim
        def train(model, loader):
            for x in loader:
                opt = optim.SGD(model.parameters(), 0.01, momentum=0.0)
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "built once before a while loop": """
        import torch
        def train(model, batches, max_steps):
            opt = torch.optim.Adam(model.parameters())
            step = 0
            while step < max_steps:
                opt.zero_grad()
                model(next(batches)).sum().backward()
                opt.step()
                step += 1
        """,
    "while loop over stages": """
        import torch
        def train(model, batches, stages):
            stage = 0
            while stage < len(stages):
                opt = torch.optim.Adam(model.parameters(), lr=stages[stage])
                for _ in range(100):
                    opt.zero_grad()
                    model(next(batches)).sum().backward()
                    opt.step()
                stage += 1
        """,
    "restart loop: a fresh optimizer per attempt": """
        import torch
        def train(model, batches, max_attempts):
            attempt = 0
            while attempt < max_attempts:
                opt = torch.optim.Adam(model.parameters())
                for _ in range(100):
                    opt.zero_grad()
                    loss = model(next(batches)).sum()
                    loss.backward()
                    opt.step()
                if loss.isfinite():
                    break
                attempt += 1
        """,
    "model rebuilt in the while loop": """
        import torch
        def search(make, batches):
            while True:
                net = make()
                opt = torch.optim.Adam(net.parameters())
                for _ in range(100):
                    opt.zero_grad()
                    net(next(batches)).sum().backward()
                    opt.step()
                if net.good():
                    return net
        """,
    "optimizer built in the loop but never stepped there": """
        import torch
        def build_all(models):
            opts = []
            for m in models:
                opts.append(torch.optim.Adam(m.parameters()))
            return opts
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML706", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []

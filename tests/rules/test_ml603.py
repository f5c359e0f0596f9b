"""ML603 reseeded-in-loop: a global seed reset to the same value on every training iteration or in
`__getitem__`."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML603")]


FLAGGED = {
    "epoch loop, args.seed": ("""
        import torch
        def train(model, loader, opt, args):
            for epoch in range(args.epochs):
                torch.manual_seed(args.seed)
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """, (5, 9)),
    "batch loop, module constant, numpy alias": ("""
        import numpy as onp
        SEED = 42
        def train(model, loader, optimizer):
            for batch in loader:
                onp.random.seed(SEED)
                model(batch).mean().backward()
                optimizer.step()
        """, (6, 9)),
    "from random import seed, literal, while True": ("""
        from random import seed
        def train(model, opt, batches):
            while True:
                seed(0)
                model(next(batches)).sum().backward()
                opt.step()
        """, (5, 9)),
    "cuda seed with a parameter, in a class": ("""
        import torch as T
        class Trainer:
            def fit(self, seed):
                for step in range(self.steps):
                    T.cuda.manual_seed_all(seed)
                    self.loss().backward()
                    self.optimizer.step()
        """, (6, 13)),
    "step in a helper of the file": ("""
        import torch
        def train_step(model, opt, x):
            model(x).sum().backward()
            opt.step()
        def train(model, opt, loader, cfg):
            for x in loader:
                torch.manual_seed(cfg.seed)
                train_step(model, opt, x)
        """, (8, 9)),
    "__getitem__ with self.seed": ("""
        import random
        from torch.utils.data import Dataset
        class Aug(Dataset):
            def __init__(self, seed):
                self.seed = seed
            def __getitem__(self, idx):
                random.seed(self.seed)
                return random.random()
        """, (8, 9)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML603", *where)]


NOT_FLAGGED = {
    "seeding once before the loop": """
        import torch
        def train(model, loader, opt, args):
            torch.manual_seed(args.seed)
            for epoch in range(args.epochs):
                for x in loader:
                    model(x).sum().backward()
                    opt.step()
        """,
    "seed + epoch": """
        import torch
        def train(model, loader, opt, args):
            for epoch in range(args.epochs):
                torch.manual_seed(args.seed + epoch)
                for x in loader:
                    model(x).sum().backward()
                    opt.step()
        """,
    "seed derived from the step inside the loop": """
        import numpy as np
        def train(model, loader, opt, base):
            for step, x in enumerate(loader):
                s = base * 1000 + step
                np.random.seed(s)
                model(x).sum().backward()
                opt.step()
        """,
    "per-sample seed from the index": """
        import random
        from torch.utils.data import Dataset
        class Aug(Dataset):
            def __getitem__(self, idx):
                random.seed(self.seed + idx)
                return random.random()
        """,
    "same transform on image and mask": """
        import random
        import numpy as np
        from torch.utils.data import Dataset
        class Seg(Dataset):
            def __getitem__(self, i):
                s = np.random.randint(2 ** 31)
                random.seed(s)
                img = self.t(self.images[i])
                random.seed(s)
                return img, self.t(self.masks[i])
        """,
    "a sweep over configurations (a literal tuple)": """
        import torch
        def compare(model_fn, loader):
            for amp in (False, True):
                torch.manual_seed(0)
                model, opt = model_fn()
                for x in loader:
                    model(x).sum().backward()
                    opt.step()
        """,
    "a sweep over learning rates": """
        import torch
        def sweep(lrs, make, loader):
            for lr in lrs:
                torch.manual_seed(0)
                model, opt = make(lr)
                for x in loader:
                    model(x).sum().backward()
                    opt.step()
        """,
    "a loop without training steps (evaluation)": """
        import torch
        def evaluate(model, loader):
            for x in loader:
                torch.manual_seed(0)
                model(x)
        """,
    "a generator's own seed, not the global one": """
        def train(model, loader, opt, env):
            for x in loader:
                env.seed(0)
                model(x).sum().backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_message_says_what_to_do():
    src = textwrap.dedent(FLAGGED["epoch loop, args.seed"][0])
    [d] = lint(src, "ML603")
    assert "`torch.manual_seed(args.seed)`" in d.message and "before the loop" in d.message

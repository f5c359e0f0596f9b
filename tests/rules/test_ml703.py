"""ML703 scheduler-before-optimizer-step: per-iteration and per-epoch schedulers stepped before the
optimizer; schedulers after it, on a metric or with an explicit step never flagged."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML703")]


FLAGGED = {
    "per iteration, lr_scheduler alias": ("""
        from torch.optim import lr_scheduler
        def train(model, loader, opt):
            sched = lr_scheduler.LambdaLR(opt, lambda s: 1.0)
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                sched.step()
                opt.step()
        """, 8),
    "per epoch before the batch loop": ("""
        def train(model, loader, optimizer, scheduler, epochs):
            for epoch in range(epochs):
                scheduler.step()
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
        """, 4),
    "per epoch before a helper that trains": ("""
        def train_one_epoch(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        def main(model, loader, opt, scheduler, epochs):
            for epoch in range(epochs):
                scheduler.step()
                train_one_epoch(model, loader, opt)
        """, 9),
    "trainer class with self.scheduler and AMP": ("""
        class Trainer:
            def train_step(self, batch):
                self.optimizer.zero_grad()
                self.scaler.scale(self.model(batch).mean()).backward()
                self.lr_scheduler.step()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            def fit(self, loader):
                for batch in loader:
                    self.train_step(batch)
        """, 6),
}

CLEAN = {
    "after the optimizer": """
        def train(model, loader, opt, scheduler):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
                scheduler.step()
        """,
    "per epoch after the batch loop": """
        def train(model, loader, optimizer, scheduler, epochs):
            for epoch in range(epochs):
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                scheduler.step()
        """,
    "ReduceLROnPlateau on a metric": """
        from torch.optim.lr_scheduler import ReduceLROnPlateau
        def train(model, loader, opt, epochs, val):
            plateau = ReduceLROnPlateau(opt)
            for epoch in range(epochs):
                plateau.step(val)
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """,
    "explicit step argument": """
        def train(model, loader, opt, scheduler):
            for i, x in enumerate(loader):
                scheduler.step(i)
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "accumulation: scheduler after the gated step": """
        def train(model, loader, opt, scheduler, n):
            for i, x in enumerate(loader):
                (model(x).sum() / n).backward()
                if (i + 1) % n == 0:
                    opt.step()
                    scheduler.step()
                    opt.zero_grad()
        """,
    "no optimizer step in the loop": """
        def warm(scheduler, epochs):
            for _ in range(epochs):
                scheduler.step()
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML703", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []

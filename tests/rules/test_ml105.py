"""ML105 scaler-step-bypassed: a direct optimizer.step() after a scaled backward; the safe fix."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML105")]


FLAGGED = {
    "no update at all": ("""
        import torch
        def train(model, loader, opt):
            scaler = torch.cuda.amp.GradScaler()
            for x in loader:
                opt.zero_grad()
                scaler.scale(model(x).sum()).backward()
                opt.step()
        """, 8),
    "GAN: one optimizer through the scaler, the other directly": ("""
        from torch.amp import GradScaler
        def train(G, D, loader, opt_g, opt_d):
            scaler = GradScaler("cuda")
            for z in loader:
                opt_d.zero_grad()
                scaler.scale(D(G(z)).mean()).backward()
                scaler.step(opt_d)
                opt_g.zero_grad()
                scaler.scale(-D(G(z)).mean()).backward()
                opt_g.step()
                scaler.update()
        """, 11),
    "trainer class, step in a helper method": ("""
        class Trainer:
            def apply(self):
                self.optimizer.step()
            def train_step(self, batch):
                self.optimizer.zero_grad()
                self.scaler.scale(self.model(batch).mean()).backward()
                self.apply()
                self.scaler.update()
        """, 4),
}

FLAGGED["loss scaled into a name first"] = ("""
        import torch
        def train(model, loader, opt):
            scaler = torch.cuda.amp.GradScaler()
            for x in loader:
                opt.zero_grad()
                scaled = scaler.scale(model(x).sum())
                scaled.backward()
                opt.step()
        """, 9)

CLEAN = {
    "scaler.step": """
        def train(model, loader, opt, scaler):
            for x in loader:
                opt.zero_grad()
                scaler.scale(model(x).sum()).backward()
                scaler.step(opt)
                scaler.update()
        """,
    "scaler created disabled": """
        import torch
        def train(model, loader, opt):
            scaler = torch.cuda.amp.GradScaler(enabled=False)
            for x in loader:
                opt.zero_grad()
                scaler.scale(model(x).sum()).backward()
                opt.step()
        """,
    "two optimizers both through scaler.step": """
        def train(G, D, loader, opt_g, opt_d, scaler):
            for z in loader:
                scaler.scale(D(G(z)).mean()).backward()
                scaler.step(opt_d)
                scaler.scale(-D(G(z)).mean()).backward()
                scaler.step(opt_g)
                scaler.update()
        """,
    "AMP and plain branches": """
        def train(model, loader, opt, scaler, amp):
            for x in loader:
                loss = model(x).sum()
                if amp:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
        """,
    "scaler.step in one branch, step in the other, scaled backward for both": """
        def train(model, loader, opt, scaler, amp):
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                if amp:
                    scaler.step(opt)
                else:
                    opt.step()
                scaler.update()
        """,
    "plain backward": """
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML105", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []


def test_fix_adds_update_only_when_missing():
    src = textwrap.dedent(FLAGGED["no update at all"][0])
    assert fix(src, "ML105") == src.replace("        opt.step()\n", "        scaler.step(opt)\n        scaler.update()\n")
    gan = textwrap.dedent(FLAGGED["GAN: one optimizer through the scaler, the other directly"][0])
    assert fix(gan, "ML105") == gan.replace("opt_g.step()", "scaler.step(opt_g)")


def test_no_fix_through_a_helper():
    src = textwrap.dedent(FLAGGED["trainer class, step in a helper method"][0])
    assert fix(src, "ML105") == src

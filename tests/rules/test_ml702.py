"""ML702 clip-after-step: clips that run after the step in the same iteration."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML702")]


FLAGGED = {
    "module alias, after the step": ("""
        import torch.nn as nn
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        """, 8),
    "clip_grad_value_ after a scaler step with unscale_": ("""
        import torch
        def train(model, loader, opt, scaler):
            for x in loader:
                opt.zero_grad()
                scaler.scale(model(x).sum()).backward()
                scaler.step(opt)
                scaler.update()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
        """, 10),
    "trainer class: the clip in a helper called after the step": ("""
        import torch
        class Trainer:
            def clip(self):
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
            def train_step(self, batch):
                self.optimizer.zero_grad()
                self.model(batch).mean().backward()
                self.optimizer.step()
                self.clip()
        """, 5),
    "accelerator.clip_grad_norm_ after the step": ("""
        def train(model, loader, optimizer, accelerator):
            for x in loader:
                accelerator.backward(model(x).sum())
                optimizer.step()
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.zero_grad()
        """, 6),
}

CLEAN = {
    "clip before the step": """
        import torch
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        """,
    "norm measured with an infinite threshold": """
        import math, torch
        def train(model, loader, opt, log):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)
                log(norm)
        """,
    "norm logged after a real clip before the step": """
        import torch
        def train(model, loader, opt, log):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                log(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        """,
    "GAN: the generator's clip after the discriminator's step": """
        import torch
        def train(G, D, loader, opt_g, opt_d):
            for z in loader:
                opt_d.zero_grad()
                D(G(z)).mean().backward()
                opt_d.step()
                opt_g.zero_grad()
                (-D(G(z)).mean()).backward()
                torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)
                opt_g.step()
        """,
    "clip for the second optimizer, before its step": """
        import torch
        def train(actor, critic, loader, a_opt, c_opt):
            for s in loader:
                (critic(s).mean() + actor(s).mean()).backward()
                c_opt.step()
                torch.nn.utils.clip_grad_norm_(actor.parameters(), 1.0)
                a_opt.step()
        """,
    "exclusive branches": """
        import torch
        def train(model, loader, opt, amp):
            for x in loader:
                model(x).sum().backward()
                if amp:
                    opt.step()
                else:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML702", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []

"""ML701 optimizer-step-order: a clearing between backward and step (or a step before backward),
and a per-micro-batch clearing under accumulation; the usual orders never flagged."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML701")]


FLAGGED = {
    "zero_grad between backward and step, torch.optim alias": ("""
        import torch as T
        def train(model, loader):
            opt = T.optim.Adam(model.parameters())
            for x in loader:
                model(x).sum().backward()
                opt.zero_grad(set_to_none=True)
                opt.step()
        """, 7),
    "module zero_grad between backward and step": ("""
        from torch import optim
        def train(model, loader):
            optimizer = optim.SGD(model.parameters(), lr=0.1)
            for x in loader:
                loss = model(x).sum()
                loss.backward()
                model.zero_grad()
                optimizer.step()
        """, 8),
    "step before backward, zero_grad at the top": ("""
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                opt.step()
                model(x).sum().backward()
        """, 4),
    "trainer class, self.optimizer, clearing helper with p.grad = None": ("""
        class Trainer:
            def clear(self):
                for p in self.model.parameters():
                    p.grad = None
            def train_step(self, batch):
                loss = self.model(batch).mean()
                loss.backward()
                self.clear()
                self.optimizer.step()
        """, 5),
    "p.grad.zero_() loop": ("""
        def step(model, opt, loss):
            loss.backward()
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.data.zero_()
            opt.step()
        """, 6),
    "module helper with renamed optimizer parameter": ("""
        def do_step(o):
            o.zero_grad()
            o.step()
        def train(model, loader, g_opt):
            for x in loader:
                model(x).sum().backward()
                do_step(g_opt)
        """, 3),
    "AMP: zero_grad before scaler.step": ("""
        import torch
        scaler = torch.cuda.amp.GradScaler()
        def train(model, loader, optimizer):
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                optimizer.zero_grad()
                scaler.step(optimizer)
                scaler.update()
        """, 7),
    "GAN: the generator's clearing before its step, after the discriminator's backward": ("""
        def train(G, D, loader, opt_g, opt_d):
            for z in loader:
                opt_d.zero_grad()
                D(G(z)).mean().backward()
                opt_d.step()
                loss_g = -D(G(z)).mean()
                loss_g.backward()
                opt_g.zero_grad()
                opt_g.step()
        """, 9),
    "accumulation by modulo with a per-micro-batch clearing": ("""
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                opt.zero_grad()
                (model(x).sum() / accum).backward()
                if (i + 1) % accum == 0:
                    opt.step()
        """, 4),
    "accumulation by a counter compared and reset": ("""
        def train(model, loader, opt, accum):
            count = 0
            for x in loader:
                model.zero_grad()
                (model(x).sum() / accum).backward()
                count += 1
                if count == accum:
                    opt.step()
                    count = 0
        """, 5),
}

FLAGGED["continue that leaves only an inner loop"] = ("""
        def train(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad = None
                        continue
                opt.step()
        """, 7)

FLAGGED["continue in a loop whose else clause steps"] = ("""
        def train(model, loader, opt):
            for batch in loader:
                for micro in batch:
                    model(micro).sum().backward()
                    if micro is None:
                        opt.zero_grad()
                        continue
                else:
                    opt.step()
        """, 7)

CLEAN = {
    **{f"clearing on a path that skips the step ({exit})": f"""
        import torch
        def train(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                if not torch.isfinite(norm):
                    opt.zero_grad(set_to_none=True)
                    print("non-finite gradient norm, skipping")
                    {exit}
                opt.step()
                opt.zero_grad()
        """ for exit in ("continue", "break", "return", "raise FloatingPointError()")},
    "clearing in an except block that skips the step": """
        import torch
        def train(model, loader):
            opt = torch.optim.AdamW(model.parameters())
            for x, y in loader:
                opt.zero_grad()
                try:
                    model(x, y).backward()
                except torch.cuda.OutOfMemoryError:
                    opt.zero_grad(set_to_none=True)
                    torch.cuda.empty_cache()
                    continue
                opt.step()
        """,
    "clearing before a break that skips the loop's else clause": """
        import torch
        def train(model, loader, n_micro=4):
            opt = torch.optim.AdamW(model.parameters())
            for batch in loader:
                opt.zero_grad()
                for micro in batch.chunk(n_micro):
                    loss = model(micro).mean() / n_micro
                    loss.backward()
                    if not torch.isfinite(loss):
                        opt.zero_grad()
                        break
                else:
                    opt.step()
        """,
    "clearing that skips the step, in a function the script calls": """
        import torch
        def main(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                if not torch.isfinite(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)):
                    opt.zero_grad(set_to_none=True)
                    continue
                opt.step()
                opt.zero_grad()
        if __name__ == "__main__":
            main(None, [], None)
        """,
    "zero_grad, backward, step": """
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "backward, step, zero_grad": """
        def train(model, loader, opt):
            for x in loader:
                model(x).sum().backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
        """,
    "accumulation clearing after the conditional step": """
        def train(model, loader, opt, n):
            for i, x in enumerate(loader):
                (model(x).sum() / n).backward()
                if (i + 1) % n == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    "two optimizers each in the right order (DCGAN)": """
        def train(netG, netD, loader, optimizerG, optimizerD):
            for real, noise in loader:
                netD.zero_grad()
                errD = netD(real).mean() - netD(netG(noise).detach()).mean()
                errD.backward()
                optimizerD.step()
                netG.zero_grad()
                errG = -netD(netG(noise)).mean()
                errG.backward()
                optimizerG.step()
        """,
    "another optimizer's zero_grad between a backward and the step": """
        def train(actor, critic, loader, actor_opt, critic_opt):
            for s in loader:
                critic_opt.zero_grad()
                critic(s).mean().backward()
                actor_opt.zero_grad()
                critic_opt.step()
        """,
    "branches that exclude each other": """
        def train(model, loader, opt, use_amp, scaler):
            for x in loader:
                if use_amp:
                    scaler.scale(model(x).sum()).backward()
                else:
                    opt.zero_grad()
                    model(x).sum().backward()
                opt.step()
        """,
    "LBFGS closure": """
        def train(model, x, opt):
            for _ in range(10):
                def closure():
                    opt.zero_grad()
                    loss = model(x).sum()
                    loss.backward()
                    return loss
                opt.step(closure)
        """,
    "DQN: whole update gated by a frequency": """
        def train(q, loader, optimizer, train_frequency):
            for global_step, batch in enumerate(loader):
                if global_step % train_frequency == 0:
                    loss = q(batch).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        """,
    "zero_grad once before the loop (another rule's business)": """
        def train(model, loader, opt):
            opt.zero_grad()
            for x in loader:
                model(x).sum().backward()
                opt.step()
        """,
    "Lightning manual optimization": """
        import lightning as L
        class GAN(L.LightningModule):
            def training_step(self, batch):
                opt = self.optimizers()
                opt.zero_grad()
                self.manual_backward(self.model(batch).mean())
                opt.step()
        """,
    "env.step is not an optimizer": """
        def rollout(env, policy, opt):
            for _ in range(10):
                opt.zero_grad()
                obs = env.step(policy(obs))
                policy(obs).sum().backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML701", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []


def test_message_names_the_optimizer_and_the_fix():
    diags = lint(textwrap.dedent(FLAGGED["zero_grad between backward and step, torch.optim alias"][0]), "ML701")
    assert "`opt.step()`" in diags[0].message and "before `backward()`" in diags[0].message

"""ML705 accumulation-without-loss-scaling: accumulation by modulo or by counter with undivided
losses; divided losses, framework accumulation and whole-update gating never flagged."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML705")]


FLAGGED = {
    "modulo gate": ("""
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                loss = model(x).sum()
                loss.backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """, 5),
    "counter compared and reset, AMP": ("""
        import torch
        def train(model, loader, opt, n):
            scaler = torch.cuda.amp.GradScaler()
            k = 0
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                k += 1
                if k >= n:
                    scaler.step(opt)
                    scaler.update()
                    opt.zero_grad(set_to_none=True)
                    k = 0
        """, 7),
    "trainer class, self.optimizer, not (i + 1) % N": ("""
        class Trainer:
            def fit(self, loader):
                for step, batch in enumerate(loader):
                    loss = self.model(batch).mean()
                    loss.backward()
                    if not (step + 1) % self.grad_accum:
                        self.optimizer.step()
                        self.model.zero_grad()
        """, 6),
    "step in a helper method": ("""
        class Trainer:
            def apply(self):
                self.optimizer.step()
                self.optimizer.zero_grad()
            def fit(self, loader):
                for i, batch in enumerate(loader):
                    self.model(batch).mean().backward()
                    if i % self.accum == self.accum - 1 or i == len(loader) - 1:
                        self.apply()
        """, 8),
    "a framework's name in the file does not switch the rule off": ("""
        import lightning  # only used elsewhere in the file
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                model(x).sum().backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """, 5),
}

CLEAN = {
    "divided at creation": """
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                loss = model(x).sum() / accum
                loss.backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    "divided in place": """
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                loss = model(x).sum()
                loss /= accum
                loss.backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    "multiplied by 1 / N in the backward": """
        def train(model, loader, opt, accum):
            for i, x in enumerate(loader):
                (model(x).sum() * (1 / accum)).backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    "Accelerate accumulate and accelerator.backward": """
        def train(model, loader, optimizer, accelerator):
            for i, batch in enumerate(loader):
                with accelerator.accumulate(model):
                    accelerator.backward(model(batch).mean())
                    if (i + 1) % 4 == 0:
                        optimizer.step()
                        optimizer.zero_grad()
        """,
    "DQN: the whole update under the frequency gate": """
        def train(q, loader, optimizer, args):
            for global_step, batch in enumerate(loader):
                if global_step > args.learning_starts:
                    if global_step % args.train_frequency == 0:
                        loss = q(batch).mean()
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
        """,
    "TD3 delayed policy update": """
        def train(actor, critic, loader, actor_optimizer, q_optimizer, policy_frequency):
            for global_step, batch in enumerate(loader):
                qf_loss = critic(batch).mean()
                q_optimizer.zero_grad()
                qf_loss.backward()
                q_optimizer.step()
                if global_step % policy_frequency == 0:
                    actor_loss = -critic(actor(batch)).mean()
                    actor_optimizer.zero_grad()
                    actor_loss.backward()
                    actor_optimizer.step()
        """,
    "SB3-style gated train call": """
        class Algo:
            def train(self):
                loss = self.policy.loss()
                self.policy.optimizer.zero_grad()
                loss.backward()
                self.policy.optimizer.step()
            def learn(self, total):
                for t in range(total):
                    self.collect()
                    if t % self.train_freq == 0:
                        self.train()
        """,
    "every-iteration step": """
        def train(model, loader, opt):
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "N literally 1": """
        def train(model, loader, opt):
            for i, x in enumerate(loader):
                model(x).sum().backward()
                if (i + 1) % 1 == 0:
                    opt.step()
                    opt.zero_grad()
        """,
}


@pytest.mark.parametrize("src,row", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, row):
    assert _lint(src) == [("ML705", row)]


@pytest.mark.parametrize("src", CLEAN.values(), ids=CLEAN.keys())
def test_clean(src):
    assert _lint(src) == []


@pytest.mark.parametrize("before,after", [
    ("        loss.backward()\n", "        (loss / accum).backward()\n"),
    ("        scaler.scale(a + b).backward()\n", "        scaler.scale((a + b) / accum).backward()\n"),
])
def test_fix_divides_by_the_condition_n(before, after):
    src = ("def train(model, loader, opt, accum, scaler, a, b):\n"
           "    for i, x in enumerate(loader):\n"
           "        loss = model(x).sum()\n" + before +
           "        if (i + 1) % accum == 0:\n"
           "            opt.step()\n"
           "            opt.zero_grad()\n")
    assert fix(src, "ML705", unsafe=True) == src.replace(before, after)

"""ML204 target-update-tracks-grad: Polyak/EMA updates over zipped parameters that read the
trained parameters with autograd on."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML204")]


FLAGGED = {
    "DDPG/TD3 soft update in a class": ("""
        import torch
        class TD3:
            def update(self):
                for param, target_param in zip(self.critic.parameters(), self.critic_target.parameters()):
                    target_param.copy_(self.tau * param + (1 - self.tau) * target_param)
        """, (6, 13)),
    "mul_().add_() EMA, alias th": ("""
        import torch as th
        def ema(ema_model, model, d):
            for e, p in zip(ema_model.parameters(), model.parameters()):
                e.mul_(d).add_(p, alpha=1 - d)
        """, (5, 9)),
    "lerp_ over named_parameters": ("""
        import torch
        def polyak(target, online, tau):
            for (_, tp), (_, p) in zip(target.named_parameters(), online.named_parameters()):
                tp.lerp_(p, tau)
        """, (5, 9)),
    "hard copy from list(...)": ("""
        import torch
        def hard_update(target, source):
            for t, s in zip(list(target.parameters()), list(source.parameters())):
                t.copy_(s)
        """, (5, 9)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML204", *where)]


NOT_FLAGGED = {
    "under no_grad": """
        import torch
        def soft_update(target, online, tau):
            with torch.no_grad():
                for tp, p in zip(target.parameters(), online.parameters()):
                    tp.copy_(tau * p + (1 - tau) * tp)
        """,
    "no_grad decorator": """
        import torch
        class Agent:
            @torch.no_grad()
            def soft_update(self):
                for tp, p in zip(self.target.parameters(), self.online.parameters()):
                    tp.mul_(1 - self.tau).add_(p, alpha=self.tau)
        """,
    "helper called under no_grad": """
        import torch
        def soft_update(target, online, tau):
            for tp, p in zip(target.parameters(), online.parameters()):
                tp.copy_(tau * p + (1 - tau) * tp)
        def train_step(target, online):
            with torch.no_grad():
                soft_update(target, online, 0.005)
        """,
    "through .data (cleanrl, TD3)": """
        def update(target_network, q_network, tau):
            for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                target_param.data.copy_(tau * param.data + (1.0 - tau) * target_param.data)
        """,
    "trained parameter read through .detach()": """
        def update(target, online, tau):
            for tp, p in zip(target.parameters(), online.parameters()):
                tp.data.mul_(1 - tau)
                tp.data.add_(tau * p.detach())
        """,
    "inference_mode": """
        import torch
        def update(target, online):
            with torch.inference_mode():
                for tp, p in zip(target.parameters(), online.parameters()):
                    tp.copy_(p)
        """,
    "gradients, not parameters": """
        def load_grads(params, grads):
            for p, g in zip(params.parameters(), grads):
                p.grad.copy_(g)
        """,
    "an optimizer's own tensor lists": """
        def copy_back(dst, src):
            for d, s in zip(dst, src):
                d.copy_(s)
        """,
    "load_state_dict copy": """
        def hard_update(target, online):
            target.load_state_dict(online.state_dict())
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_fix_wraps_the_loop_in_no_grad_with_the_files_torch_name():
    src = textwrap.dedent("""
        import torch as th
        class Agent:
            def soft_update(self):
                for tp, p in zip(self.target.parameters(), self.online.parameters()):
                    tp.copy_(self.tau * p + (1 - self.tau) * tp)
                self.updates += 1
        """)
    assert fix(src, "ML204") == textwrap.dedent("""
        import torch as th
        class Agent:
            def soft_update(self):
                with th.no_grad():
                    for tp, p in zip(self.target.parameters(), self.online.parameters()):
                        tp.copy_(self.tau * p + (1 - self.tau) * tp)
                self.updates += 1
        """)


def test_no_fix_without_a_torch_import():
    src = textwrap.dedent("""
        def update(target, online):
            for tp, p in zip(target.parameters(), online.parameters()):
                tp.copy_(p)
        """)
    (diag,) = lint(src, "ML204")
    assert diag.fix is None
    assert "with torch.no_grad():" in diag.message

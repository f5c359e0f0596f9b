"""ML102 clip-before-unscale: flagged shapes, must-not-flag list, and the fix's placement."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _lint(src):
    return [(d.code, d.start.row) for d in lint(textwrap.dedent(src), "ML102")]


def _fix(src):
    return fix(textwrap.dedent(src), "ML102")


FLAGGED = {
    "function": """
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """,
    "alias torch as T": """
        import torch as T
        def step(model, opt, loss):
            scaler = T.cuda.amp.GradScaler()
            scaler.scale(loss).backward()
            T.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """,
    "from torch import nn": """
        from torch import nn
        def step(model, opt, grad_scaler, loss):
            grad_scaler.scale(loss).backward()
            nn.utils.clip_grad_value_(model.parameters(), 0.1)
            grad_scaler.step(opt)
            grad_scaler.update()
        """,
    "imported with another name": """
        from torch.nn.utils import clip_grad_norm_ as clip
        from torch.cuda.amp import GradScaler
        amp_scaler = GradScaler()
        def step(model, opt, loss):
            amp_scaler.scale(loss).backward()
            clip(model.parameters(),
                 max_norm=1.0)
            amp_scaler.step(opt)
        """,
    "module-level script loop": """
        import torch
        scaler = torch.amp.GradScaler()
        for x, y in loader:
            loss = model(x, y)
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
        """,
    "class attribute bound in __init__": """
        import torch
        class T:
            def __init__(self):
                self.grad_scaler = torch.amp.GradScaler("cuda", enabled=True)
            def step(self, loss):
                self.grad_scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.grad_scaler.step(self.optimizer)
        """,
    "split scale and backward": """
        import torch
        def step(model, opt, scaler, loss):
            scaled = scaler.scale(loss)
            scaled.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
    "backward under if use_amp": """
        import torch
        def step(model, opt, scaler, loss, use_amp):
            if use_amp:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if use_amp:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
        """,
    "accumulation block": """
        import torch
        def train(model, loader, opt, scaler, accum):
            for i, (x, y) in enumerate(loader):
                scaler.scale(model(x, y) / accum).backward()
                if (i + 1) % accum == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
        """,
    "clamp_ on grads in a loop": """
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            for p in model.parameters():
                p.grad.clamp_(-1, 1)
            scaler.step(opt)
        """,
    "clamp by assignment": """
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            for p in model.parameters():
                p.grad = torch.clamp(p.grad, -1, 1)
            scaler.step(opt)
        """,
    "nested function": """
        import torch
        def outer(model, opt):
            def step(loss):
                scaler = torch.amp.GradScaler()
                scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
            return step
        """,
    "clipping helper method of the same class": """
        import torch
        class T:
            def __init__(self):
                self.scaler = torch.amp.GradScaler()
            def clip_gradients(self):
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            def step(self, loss):
                self.scaler.scale(loss).backward()
                self.clip_gradients()
                self.scaler.step(self.opt)
        """,
    "scaler from IfExp": """
        import torch
        def train(model, opt, loss, amp):
            scaler = torch.amp.GradScaler() if amp else None
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """,
    "scaled loss bound to a name first": """
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaled = scaler.scale(loss)
            scaled.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """,
    "scaler not named scaler, used as one": """
        import torch
        def step(model, opt, loss, amp):
            amp.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            amp.step(opt)
            amp.update()
        """,
    "scaled backward in a helper method": """
        import torch
        class Trainer:
            def __init__(self, model):
                self.scaler = torch.amp.GradScaler()
                self.opt = torch.optim.AdamW(model.parameters())
            def backward_pass(self, loss):
                self.scaler.scale(loss).backward()
            def train_step(self, loss):
                self.backward_pass(loss)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.scaler.step(self.opt)
                self.scaler.update()
        """,
    "scaled backward in a function nested in the training function": """
        import torch
        def train(model, loader, opt):
            scaler = torch.amp.GradScaler("cuda")
            def backward(loss):
                scaler.scale(loss).backward()
            for x in loader:
                backward(model(x).sum())
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
        """,
    "unscale_ only on logging steps": """
        import torch
        def train(model, loader, opt, log_every=100):
            scaler = torch.amp.GradScaler("cuda")
            for step, x in enumerate(loader):
                scaler.scale(model(x).sum()).backward()
                if step % log_every == 0:
                    scaler.unscale_(opt)
                    print(step, sum(p.grad.norm() for p in model.parameters()))
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
        """,
    "scaler.step in a helper function": """
        import torch
        def apply(scaler, optimizer):
            scaler.step(optimizer)
            scaler.update()
        def train(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            apply(scaler, opt)
        """,
}


@pytest.mark.parametrize("src", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src):
    got = _lint(src)
    assert [code for code, _ in got] == ["ML102"]
    row = got[0][1]
    line = textwrap.dedent(src).splitlines()[row - 1]
    assert "clip" in line or "clamp" in line
    assert "def " not in line


NOT_FLAGGED = {
    "unscale_ first": """
        import torch
        def step(model, opt, scaler, loss):
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
    "unscale_ in the same if branch": """
        import torch
        def step(model, opt, scaler, loss, use_amp):
            if use_amp:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if use_amp:
                scaler.step(opt)
                scaler.update()
        """,
    "unscale_ through a helper method": """
        import torch
        class T:
            def __init__(self):
                self.scaler = torch.amp.GradScaler()
            def _unscale(self):
                self.scaler.unscale_(self.opt)
            def step(self, loss):
                self.scaler.scale(loss).backward()
                self._unscale()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.scaler.step(self.opt)
        """,
    "full-precision branch": """
        import torch
        def step(model, opt, scaler, loss, use_amp):
            if use_amp:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        """,
    "no scaler": """
        import torch
        def step(model, opt, loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        """,
    "fsdp model method": """
        import torch
        from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler
        def step(model, opt, loss):
            scaler = ShardedGradScaler()
            scaler.scale(loss).backward()
            model.clip_grad_norm_(1.0)
            scaler.step(opt)
        """,
    "deepspeed engine": """
        def step(engine, loss):
            engine.backward(loss)
            engine.clip_grad_norm_(1.0)
            engine.step()
        """,
    "accelerate": """
        def step(accelerator, model, opt, loss):
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        """,
    "lightning clip_gradients": """
        class M:
            def training_step(self, batch, i):
                opt = self.optimizers()
                self.manual_backward(self.loss(batch))
                self.clip_gradients(opt, gradient_clip_val=0.5)
                opt.step()
        """,
    "object with scale and step that is no scaler": """
        import torch
        def f(model, sched, opt, x):
            sched.scale(x).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            sched.step(opt)
        """,
    "helper that unscales before clipping": """
        import torch
        class T:
            def clip_gradients(self):
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            def step(self, loss):
                self.scaler.scale(loss).backward()
                self.clip_gradients()
                self.scaler.step(self.opt)
                self.scaler.update()
        """,
    "helper that is a whole training step": """
        import torch
        def clip_and_step(model, opt, scaler):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        def train(model, opt, scaler, loss):
            scaler.scale(loss).backward()
            clip_and_step(model, opt, scaler)
            scaler.step(opt)
            scaler.update()
        """,
    "clip after step": """
        import torch
        def step(model, opt, scaler, loss):
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        """,
    "clamp on activations": """
        import torch
        def step(model, opt, scaler, x):
            scaler.scale(model(x).sum()).backward()
            x.clamp_(-1, 1)
            scaler.step(opt)
            scaler.update()
        """,
    "local clip_grad_norm_ helper that is not torch's": """
        def clip_grad_norm_(params, max_norm, scaler):
            scaler.unscale_(params)
        def step(model, opt, scaler, loss):
            scaler.scale(loss).backward()
            clip_grad_norm_(model.parameters(), 1.0, scaler)
            scaler.step(opt)
            scaler.update()
        """,
}


NOT_FLAGGED["unscale_ and clip under two ifs with the same test"] = """
    import torch
    def train(model, loader, opt, args):
        scaler = torch.amp.GradScaler()
        for x in loader:
            scaler.scale(model(x).sum()).backward()
            if args.clip_grad is not None:
                scaler.unscale_(opt)
            if args.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            scaler.step(opt)
            scaler.update()
    """
NOT_FLAGGED["unscale_ in the same amp branch as the backward"] = """
    import torch
    def train(model, loader, opt, scaler, use_amp):
        for x in loader:
            if use_amp:
                scaler.scale(model(x).sum()).backward()
                scaler.unscale_(opt)
            else:
                model(x).sum().backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if use_amp:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
    """


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_fix_uses_the_optimizer_passed_to_scaler_step_as_written():
    src = """
        import torch
        class T:
            def step(self, loss):
                self.scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.scaler.step(self.opt)
                self.scaler.update()
        """
    assert _fix(src) == textwrap.dedent("""
        import torch
        class T:
            def step(self, loss):
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.scaler.step(self.opt)
                self.scaler.update()
        """)


def test_fix_keeps_the_clip_indentation_and_guards_a_conditional_backward():
    src = """
        import torch
        def train(model, loader, opt, scaler, use_amp, accum):
            for i, (x, y) in enumerate(loader):
                if use_amp:
                    scaler.scale(model(x, y)).backward()
                else:
                    model(x, y).backward()
                if (i + 1) % accum == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    if use_amp:
                        scaler.step(opt)
                        scaler.update()
        """
    assert _fix(src) == textwrap.dedent("""
        import torch
        def train(model, loader, opt, scaler, use_amp, accum):
            for i, (x, y) in enumerate(loader):
                if use_amp:
                    scaler.scale(model(x, y)).backward()
                else:
                    model(x, y).backward()
                if (i + 1) % accum == 0:
                    if use_amp:
                        scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    if use_amp:
                        scaler.step(opt)
                        scaler.update()
        """)


def test_fix_goes_before_a_per_parameter_loop():
    src = """
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            for group in opt.param_groups:
                torch.nn.utils.clip_grad_norm_(group["params"], 1.0)
            scaler.step(opt)
        """
    assert _fix(src) == textwrap.dedent("""
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            for group in opt.param_groups:
                torch.nn.utils.clip_grad_norm_(group["params"], 1.0)
            scaler.step(opt)
        """)


def test_fix_joins_a_one_line_suite():
    src = """
        import torch
        def step(model, opt, scaler, loss, clip):
            scaler.scale(loss).backward()
            if clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """
    assert _fix(src) == textwrap.dedent(src).replace("if clip: ", "if clip: scaler.unscale_(opt); ")


NO_FIX = {
    "two optimizers after the clip": """
        import torch
        def step(gen, disc, opt_g, opt_d, scaler, loss):
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
            scaler.step(opt_g)
            scaler.step(opt_d)
            scaler.update()
        """,
    "unscale_ after the clip": """
        import torch
        def step(model, opt, scaler, loss):
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
        """,
    "clip in a one-line suite under an AMP guard of its own": """
        import torch
        def step(model, opt, scaler, loss, clip, amp):
            if amp:
                scaler.scale(loss).backward()
            if clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
    "step optimizer from *args": """
        import torch
        def step(model, opts, scaler, loss):
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(*opts)
            scaler.update()
        """,
    "backward and clip repeat in a loop that steps after it": """
        import torch
        def step(model, opt, scaler, chunks):
            for chunk in chunks:
                scaler.scale(model(chunk)).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
    "scaled backward in a helper (its names may not exist at the clip)": FLAGGED["scaled backward in a helper method"],
    "scaler.step in a helper": FLAGGED["scaler.step in a helper function"],
    "unscale_ only on some steps (unscaling twice would raise)": FLAGGED["unscale_ only on logging steps"],
    "guard with a call": """
        import torch
        def step(model, opt, scaler, loss, cfg):
            if cfg.amp_enabled():
                scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
}


@pytest.mark.parametrize("src", NO_FIX.values(), ids=NO_FIX.keys())
def test_reported_without_a_fix(src):
    diags = lint(textwrap.dedent(src), "ML102")
    assert [d.code for d in diags] == ["ML102"]
    assert diags[0].fix is None
    assert _fix(src) == textwrap.dedent(src)


def test_message_names_scaler_and_optimizer():
    diags = lint(textwrap.dedent(FLAGGED["class attribute bound in __init__"]), "ML102")
    assert "`self.grad_scaler.unscale_(self.optimizer)`" in diags[0].message
    late = lint(textwrap.dedent(NO_FIX["unscale_ after the clip"]), "ML102")
    assert "move the existing `unscale_` call above the clip" in late[0].message


def test_no_second_guard_when_the_clip_is_already_under_the_same_test():
    src = """
        import torch
        def step(model, opt, scaler, loss, use_amp):
            if use_amp:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            if use_amp:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
        """
    assert _fix(src) == textwrap.dedent("""
        import torch
        def step(model, opt, scaler, loss, use_amp):
            if use_amp:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            if use_amp:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
        """)


def test_fix_for_a_loss_scaled_into_a_name():
    assert _fix(FLAGGED["scaled loss bound to a name first"]) == textwrap.dedent("""
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaled = scaler.scale(loss)
            scaled.backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """)


def test_message_through_helpers_names_the_callers_optimizer():
    diags = lint(textwrap.dedent(FLAGGED["scaler.step in a helper function"]), "ML102")
    assert "`scaler.unscale_(opt)`" in diags[0].message


@pytest.mark.parametrize("rebound", ["scaled = loss", "scaled = scaled.detach()"])
def test_a_rebound_scaled_name_is_no_longer_scaled(rebound):
    src = f"""
        import torch
        def step(model, opt, loss):
            scaler = torch.amp.GradScaler()
            scaled = scaler.scale(loss)
            {rebound}
            scaled.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
        """
    assert _lint(src) == []


def test_message_for_a_conditional_unscale():
    (d,) = lint(textwrap.dedent(FLAGGED["unscale_ only on logging steps"]), "ML102")
    assert d.message.endswith("on every step (the `unscale_` before it runs only under a condition)")

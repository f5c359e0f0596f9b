"""analysis.timeline: the events of one training step, in order, with helpers spliced in and
receivers renamed to the caller's arguments."""

import textwrap

import libcst as cst

from mllint.analysis.iterations import accumulation_gate, gate_of, leaves_before
from mllint.analysis.timeline import file_facts, timeline
from mllint.engine.context import FileContext

SRC = textwrap.dedent("""
    import torch
    from torch import optim

    def update(o, loss):
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        o.step()

    def train(model, loader, g_opt, sched, env):
        opt = optim.Adam(model.parameters())
        for i, x in enumerate(loader):
            g_opt.zero_grad(set_to_none=True)
            env.step(0)
            update(g_opt, model(x).sum())
            if (i + 1) % 4 == 0:
                sched.step()
            with torch.no_grad():
                model.eval()
    """)


def _ctx():
    return FileContext("t.py", SRC, module=cst.parse_module(SRC))


def test_events_in_order_with_helper_spliced_and_renamed():
    ctx = _ctx()
    train = next(f for f in file_facts(ctx).functions() if getattr(f, "name", None) and f.name.value == "train")
    events = timeline(ctx, train)
    assert [(e.kind, e.target) for e in events] == [
        ("opt_create", "opt"), ("zero_grad", "g_opt"), ("backward", None), ("clip", None),
        ("step", "g_opt"), ("sched_step", "sched"), ("eval", "model")]
    step = events[4]
    assert step.via and step.innermost_loop() is not None
    sched = events[5]
    assert gate_of(sched) is not None and gate_of(step) is None
    assert events[6].path[-1][1] == "no_grad"


def test_accumulation_gates():
    def gate(test):
        return accumulation_gate(cst.parse_statement(f"if {test}:\n    opt.step()\n    count = 0\n"))
    assert gate("(i + 1) % n == 0") is not None
    assert gate("not step % accum or last") is not None
    assert gate("count >= n") is not None
    assert gate("(i + 1) % 1 == 0") is None
    assert gate("epoch > warmup") is None


EVAL_SRC = textwrap.dedent("""
    import torch

    def loss_of(model, x, do_backward=True):
        loss = model(x).sum()
        if do_backward:
            loss.backward()
        return loss

    @torch.no_grad()
    def validate(net, loader):
        net.eval()
        for x in loader:
            net(x)

    def main(model, loader, opt):
        for x in loader:
            loss_of(model, x)
            loss_of(model, x, do_backward=False)
            opt.step()
        with torch.set_grad_enabled(False):
            model.forward(x)
        torch.set_grad_enabled(True)
        model.to("cpu").train()
        validate(model, loader)
    """)


def test_model_calls_no_grad_regions_and_constant_arguments():
    ctx = FileContext("t.py", EVAL_SRC, module=cst.parse_module(EVAL_SRC))
    facts = file_facts(ctx)
    main = next(f for f in facts.functions() if getattr(f, "name", None) and f.name.value == "main")
    events = timeline(ctx, main, forwards=True)
    # model calls are recorded for any name that is not an import or a builtin (`loss_of(...)`,
    # `model.to(...)` too): the rules keep those of the model they follow
    events = [e for e in events if e.kind != "loss" and (e.kind != "forward" or e.target == "model")]
    kinds = [(e.kind, e.target) for e in events]
    # one backward only: the second call passes do_backward=False
    assert kinds == [("forward", "model"), ("backward", None), ("forward", "model"), ("step", "opt"),
                     ("forward", "model"), ("grad_on", None), ("train", "model"), ("eval", "model"),
                     ("forward", "model")]
    assert events[4].path[-1][1] == "no_grad"  # with torch.set_grad_enabled(False)
    assert events[-1].path[0][1] == "no_grad"  # validate is decorated with @torch.no_grad()
    # without forwards=True the other rules see no model calls
    assert [e.kind for e in timeline(ctx, main)] == ["backward", "step", "train", "eval"]
    names = {f.name.value for f in facts.called()}
    assert names == {"loss_of", "validate"}


GRAD_MODE_SRC = textwrap.dedent("""
    import torch
    from torch import no_grad as ng

    @torch.no_grad()
    def ema(a, b): pass

    def polyak(a, b): pass

    def plain(a, b): pass

    def train(model, opt):
        with torch.set_grad_enabled(False):
            polyak(1, 2)
        with ng():
            model.eval()
        with torch.set_grad_enabled(True):
            plain(1, 2)
    """)


def test_no_grad_regions_are_part_of_the_timeline():
    ctx = FileContext("t.py", GRAD_MODE_SRC, module=cst.parse_module(GRAD_MODE_SRC))
    ft = file_facts(ctx)
    functions = {f.name.value: f for f in ft.functions() if isinstance(f, cst.FunctionDef)}
    assert functions["ema"] in ft.no_grad_regions
    assert functions["train"] not in ft.no_grad_regions
    withs = [s for s in functions["train"].body.body if isinstance(s, cst.With)]
    assert [w in ft.no_grad_regions for w in withs] == [True, True, False]
    assert "polyak" in ft.called_in_no_grad and "plain" not in ft.called_in_no_grad
    assert timeline(ctx, functions["train"])[0].path[-1][1] == "no_grad"


def test_scaled_loss_names_and_scalers_known_by_their_use():
    src = textwrap.dedent("""
        class Trainer:
            def apply(self):
                self.amp.unscale_(self.opt)
                self.amp.step(self.opt)
            def train_step(self, loss, other):
                scaled = self.amp.scale(loss)
                scaled.backward()
                self.apply()
                scaled = other
                scaled.backward()
    """)
    ctx = FileContext("t.py", src, module=cst.parse_module(src))
    train_step = next(f for f in file_facts(ctx).functions() if getattr(f, "name", None) and
                      f.name.value == "train_step")
    events = timeline(ctx, train_step)
    assert [(e.kind, e.scaler, e.target) for e in events] == [
        ("backward", "self.amp", None), ("unscale", "self.amp", "self.opt"), ("step", "self.amp", "self.opt"),
        ("backward", None, None)]
    assert ctx.code(events[0].loss) == "loss"  # the loss that was scaled, not the scaled name
    assert [e.place() for e in events[1:3]] == [e.via[0] for e in events[1:3]]


def test_loss_creation_events():
    src = textwrap.dedent("""
        import torch.nn.functional as F
        from torch import nn
        def train(model, loader, opt):
            losses = []
            loss_fn = nn.MSELoss()
            for x, y in loader:
                out = model(x)
                ce = F.cross_entropy(out, y)
                self.d_loss = loss_fn(out, y)
                loss = ce + self.d_loss
                loss.backward()
                losses.append(loss.item())
                loss = None
    """)
    ctx = FileContext("t.py", src, module=cst.parse_module(src))
    train = file_facts(ctx).functions()[1]
    events = [e for e in timeline(ctx, train, forwards=True) if e.kind in ("loss", "backward")]
    assert [(e.kind, e.target or ctx.code(e.loss)) for e in events] == [
        ("loss", "ce"), ("loss", "self.d_loss"), ("loss", "loss"), ("backward", "loss")]
    assert not any(e.kind == "loss" for e in timeline(ctx, train))  # only with forwards=True


def test_self_backward_is_the_class_own_method_when_it_defines_one():
    src = textwrap.dedent("""
        class Trainer:
            def backward(self, loss):
                self.scaler.scale(loss).backward()
            def train_step(self, loss):
                self.backward(loss)
                self.scaler.step(self.opt)
        class LitModel:
            def training_step(self, batch):
                self.backward(batch.sum())
    """)
    ctx = FileContext("t.py", src, module=cst.parse_module(src))
    roots = {f.name.value: f for f in file_facts(ctx).functions() if getattr(f, "name", None)}
    assert [(e.kind, e.scaler, e.framework) for e in timeline(ctx, roots["train_step"])] == [
        ("backward", "self.scaler", None), ("step", "self.scaler", None)]
    assert [(e.kind, e.framework) for e in timeline(ctx, roots["training_step"])] == [("backward", "self")]


def test_nested_defs_are_followed_and_exits_are_frames():
    src = textwrap.dedent("""
        import torch
        def train(model, loader, opt):
            def backward(loss):
                loss.backward()
            for batch in loader:
                try:
                    backward(model(batch).sum())
                except RuntimeError:
                    opt.zero_grad()
                    continue
                for micro in batch:
                    pass
                else:
                    opt.step()
    """)
    ctx = FileContext("t.py", src, module=cst.parse_module(src))
    train = next(f for f in file_facts(ctx).functions() if getattr(f, "name", None) and f.name.value == "train")
    events = timeline(ctx, train)
    assert [(e.kind, [part for _, part in e.path]) for e in events] == [
        ("backward", ["loop"]), ("zero_grad", ["loop", "except"]), ("step", ["loop", "loop_else"])]
    assert events[0].via  # through the nested def
    assert leaves_before(events[1], events[2]) and not leaves_before(events[0], events[2])

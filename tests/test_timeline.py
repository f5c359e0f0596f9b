"""analysis.timeline: the events of one training step, in order, with helpers spliced in and
receivers renamed to the caller's arguments."""

import textwrap

import libcst as cst

from mllint.analysis.timeline import accumulation_gate, file_facts, gate_of, timeline
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

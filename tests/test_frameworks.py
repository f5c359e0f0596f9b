"""Framework facts (analysis/frameworks.py): what a framework does is credited where it does it,
and a framework's name elsewhere in the file switches no rule off."""

import textwrap

import libcst as cst

from mllint.analysis.timeline import file_facts, timeline
from mllint.engine.context import FileContext
from mllint.testing import lint


def _events(src, function):
    src = textwrap.dedent(src)
    ctx = FileContext("t.py", src, module=cst.parse_module(src))
    root = next(f for f in file_facts(ctx).functions() if getattr(f, "name", None) and f.name.value == function)
    return [(e.kind, e.framework) for e in timeline(ctx, root)]


def test_framework_backwards_are_marked():
    src = """
        import lightning as L
        class Model(L.LightningModule):
            def training_step(self, batch, batch_idx):
                opt = self.optimizers()
                loss = self(batch).sum()
                self.manual_backward(loss)
                opt.step()
        def fit(accelerator, model_engine, loss):
            accelerator.backward(loss)
            model_engine.backward(loss)
            loss.backward()
        """
    assert _events(src, "training_step") == [("backward", "self"), ("step", None)]
    assert _events(src, "fit") == [("backward", "accelerator"), ("backward", "model_engine"), ("backward", None)]


PLAIN_LOOP = """
    import torch
    {imports}
    def train(model, loader, opt, accelerator):
        scaler = torch.amp.GradScaler()
        for x in loader:
            opt.zero_grad()
            scaler.scale(model(x).sum()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
    """


def test_a_framework_imported_elsewhere_in_the_file_switches_no_rule_off():
    for imports in ("", "import lightning as L\nfrom accelerate import Accelerator\nimport deepspeed"):
        src = textwrap.dedent(PLAIN_LOOP).replace("{imports}", imports)
        assert [d.code for d in lint(src, "ML102")] == ["ML102"], imports


def test_the_frameworks_own_clip_is_credited():
    src = textwrap.dedent("""
        def train(model, loader, opt, accelerator):
            for x in loader:
                opt.zero_grad()
                accelerator.backward(model(x).sum())
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        """)
    assert lint(src, "ML102") == [] and lint(src, "ML105") == []

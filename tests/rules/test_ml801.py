"""ML801 eval-without-no-grad: evaluation loops after model.eval() that run the model with autograd on."""

import textwrap

import pytest

from mllint.testing import fix, lint


def _rows(src):
    return [d.start.row for d in lint(textwrap.dedent(src), "ML801")]


FLAGGED = {
    "eval loop in the training function": ("""
        import torch
        def train(model, loader, val_loader, opt):
            for epoch in range(3):
                model.train()
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                model.eval()
                for x, y in val_loader:
                    out = model(x)
        """, 12),
    "validate() helper called after training (torch alias)": ("""
        import torch as T
        def validate(net, loader):
            net.eval()
            correct = 0
            for x, y in loader:
                correct += (net(x).argmax(1) == y).sum().item()
            return correct
        def main(model, loader, opt):
            for x, y in loader:
                opt.zero_grad(); model(x).sum().backward(); opt.step()
            print(validate(model, loader))
        """, 7),
    "eval() in the caller, loop in an evaluate() helper": ("""
        import torch
        def evaluate(net, loader):
            return [net(x) for x in loader] + [net.forward(x) for x in loader]
        def run(net, loader):
            total = 0
            for x in loader:
                total += net(x).sum().item()
            return total
        def main(model, loader, opt):
            opt.step()
            model.eval()
            run(model, loader)
        """, 8),
    "trainer class, self.model": ("""
        import torch
        class Trainer:
            def validate(self):
                self.model.eval()
                losses = []
                for batch in self.val_loader:
                    losses.append(self.criterion(self.model(batch), batch).item())
                return sum(losses) / len(losses)
            def fit(self):
                for batch in self.loader:
                    self.opt.zero_grad(); self.model(batch).sum().backward(); self.opt.step()
                return self.validate()
        """, 8),
    "model.module and DDP style": ("""
        import torch
        def main(model, loader, opt):
            opt.step()
            model.eval()
            for x in loader:
                model.module(x)
        """, 7),
    "Accelerate: evaluation loop without no_grad": ("""
        import torch
        def main(model, loader, eval_loader, opt, accelerator):
            for batch in loader:
                accelerator.backward(model(**batch).loss)
                opt.step()
            model.eval()
            for batch in eval_loader:
                outputs = model(**batch)
                accelerator.gather_for_metrics(outputs.logits)
        """, 9),
    "module-level script": ("""
        import torch
        model = Net()
        model.eval()
        preds = []
        for x in loader:
            preds.append(model(x).argmax(-1).tolist())
        """, 7),
    "grad re-enabled after a bare set_grad_enabled(False)": ("""
        import torch
        def main(model, loader, opt):
            opt.step()
            torch.set_grad_enabled(False)
            torch.set_grad_enabled(True)
            model.eval()
            for x in loader:
                model(x)
        """, 9),
    "train(False) is eval": ("""
        import torch
        def main(model, loader, opt):
            opt.step()
            model.train(False)
            while True:
                model(next(loader))
        """, 7),
    "entry point decorated by a CLI framework": ("""
        import click, torch
        @click.command()
        def predict(path):
            model = load(path)
            model.eval()
            for x in batches(path):
                print(model(x))
        """, 8),
}

CLEAN = {
    "with torch.no_grad() around the loop": """
        import torch
        def main(model, loader, opt):
            opt.step()
            model.eval()
            with torch.no_grad():
                for x in loader:
                    model(x)
        """,
    "inference_mode, aliases": """
        from torch import inference_mode
        def main(model, loader, opt):
            opt.step()
            model.eval()
            with inference_mode():
                for x in loader:
                    model(x)
        """,
    "set_grad_enabled(False) block": """
        import torch
        def main(model, loader, opt):
            opt.step()
            model.eval()
            with torch.set_grad_enabled(False):
                for x in loader:
                    model(x)
        """,
    "phase loop with set_grad_enabled(phase == 'train')": """
        import torch
        def main(model, loaders, opt):
            opt.step()
            model.eval()
            with torch.set_grad_enabled(False):
                for x in loaders:
                    model(x)
        """,
    "bare set_grad_enabled(False)": """
        import torch
        def main(model, loader, opt):
            opt.step()
            torch.set_grad_enabled(False)
            model.eval()
            for x in loader:
                model(x)
        """,
    "@torch.no_grad() on the helper": """
        import torch
        @torch.no_grad()
        def validate(model, loader):
            model.eval()
            for x in loader:
                model(x)
        def main(model, loader, opt):
            opt.step()
            validate(model, loader)
        """,
    "@torch.no_grad on the caller (no call parentheses)": """
        import torch
        def validate(model, loader):
            model.eval()
            for x in loader:
                model(x)
        @torch.no_grad
        def evaluate_all(model, loaders):
            for loader in loaders:
                validate(model, loader)
        def main(model, loader, opt):
            opt.step()
            evaluate_all(model, [loader])
        """,
    "a project's own inference-mode decorator (yolov5)": """
        from utils.torch_utils import smart_inference_mode
        @smart_inference_mode()
        def run(model, dataloader):
            model.eval()
            for im, targets in dataloader:
                preds = model(im)
        """,
    "a retry loop around one profiling forward (open_clip's profiler)": """
        def profile(model, inputs):
            return model(inputs)
        def main(model, inputs, opt):
            opt.step()
            model.eval()
            retries = 2
            while retries:
                retries -= 1
                try:
                    flops = profile(model, inputs)
                    break
                except RuntimeError:
                    model = model.cpu()
        """,
    "caller's with block around the helper call": """
        import torch
        class Trainer:
            def validate(self):
                self.model.eval()
                for b in self.val_loader:
                    self.model(b)
            def fit(self):
                for b in self.loader:
                    self.opt.zero_grad(); self.model(b).sum().backward(); self.opt.step()
                with torch.no_grad():
                    self.validate()
        """,
    "an evaluation function nothing in the file calls": """
        import torch
        def evaluate(model, loader):
            model.eval()
            for x in loader:
                model(x)
        """,
    "a loop that calls backward (fine-tuning with dropout off)": """
        import torch
        def main(model, loader, opt):
            model.eval()
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """,
    "a rollout in eval mode whose outputs are backpropagated": """
        import torch
        def rollout(policy, env):
            log_probs = []
            for t in range(100):
                log_probs.append(policy(env.obs()).log_prob(0))
            return log_probs
        def main(policy, env, opt):
            for episode in range(10):
                policy.eval()
                lp = rollout(policy, env)
                opt.zero_grad()
                torch.stack(lp).sum().backward()
                opt.step()
        """,
    "model.train() before the loop": """
        import torch
        def main(model, loader, opt):
            opt.step()
            model.eval()
            model.train()
            for x in loader:
                model(x)
        """,
    "Lightning validation_step": """
        import torch
        import lightning as L
        class Lit(L.LightningModule):
            def validation_step(self, batch, idx):
                self.eval()
                for x in batch:
                    self(x)
            def training_step(self, batch, idx):
                return self(batch).sum()
        """,
    "another model in eval mode (a frozen teacher) while the student trains": """
        import torch
        def main(student, teacher, loader, opt):
            teacher.eval()
            for x in loader:
                t = teacher(x)
                opt.zero_grad()
                (student(x) - t).pow(2).mean().backward()
                opt.step()
        """,
    "HF Trainer: evaluation is the library's": """
        from transformers import Trainer
        def main(model, args, train_ds, eval_ds):
            trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds)
            trainer.train()
            model.eval()
            for batch in range(3):
                trainer.evaluate()
        """,
    "Accelerate: evaluation loop under no_grad, gather_for_metrics": """
        import torch
        def main(model, loader, eval_loader, opt, accelerator):
            for batch in loader:
                accelerator.backward(model(**batch).loss)
                opt.step()
            model.eval()
            for batch in eval_loader:
                with torch.no_grad():
                    outputs = model(**batch)
                accelerator.gather_for_metrics(outputs.logits)
        """,
    "eval outside loops, one forward": """
        import torch
        def main(model, x, opt):
            opt.step()
            model.eval()
            return model(x)
        """,
}


@pytest.mark.parametrize("name", FLAGGED)
def test_flagged(name):
    src, row = FLAGGED[name]
    assert _rows(src) == [row]


@pytest.mark.parametrize("name", CLEAN)
def test_clean(name):
    assert _rows(CLEAN[name]) == []


def test_message_says_what_to_do():
    src, _ = FLAGGED["eval loop in the training function"]
    [diag] = lint(textwrap.dedent(src), "ML801")
    assert "model.eval()" in diag.message and "with torch.no_grad():" in diag.message


def test_fix_wraps_the_loop():
    src = textwrap.dedent("""
        import torch
        def evaluate(model, loader, opt):
            opt.step()
            model.eval()
            for x in loader:
                out = model(x)

                print(out)
            return 1
        """)
    want = textwrap.dedent("""
        import torch
        def evaluate(model, loader, opt):
            opt.step()
            model.eval()
            with torch.no_grad():
                for x in loader:
                    out = model(x)

                    print(out)
            return 1
        """)
    assert fix(src, "ML801", unsafe=True) == want
    assert fix(src, "ML801") == src  # unsafe: not applied by --fix alone


@pytest.mark.parametrize("src", [
    # eval() in the caller, the loop in a helper: the helper may serve other callers in train mode
    FLAGGED["eval() in the caller, loop in an evaluate() helper"][0],
    # a sampling function: its outputs may be trained on by a caller elsewhere
    """
    import torch
    @some.decorator
    def sample(model, loader):
        model.eval()
        for x in loader:
            model(x)
    """,
    # torch is not imported as a module
    """
    from torch import nn
    def main(model, loader, opt):
        opt.step()
        model.eval()
        for x in loader:
            model(x)
    """,
])
def test_no_fix_offered(src):
    src = textwrap.dedent(src)
    assert _rows(src)
    assert fix(src, "ML801", unsafe=True) == src


def test_fix_in_the_helper_that_calls_eval_and_loops():
    src = textwrap.dedent(FLAGGED["validate() helper called after training (torch alias)"][0])
    fixed = fix(src, "ML801", unsafe=True)
    assert "    with T.no_grad():\n        for x, y in loader:\n            correct +=" in fixed
    assert _rows(fixed) == []

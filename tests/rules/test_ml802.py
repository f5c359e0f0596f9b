"""ML802 eval-mode-not-restored: eval() inside the training loop without train() before the next step."""

import textwrap

import pytest

from mllint.testing import lint


def _rows(src):
    return [d.start.row for d in lint(textwrap.dedent(src), "ML802")]


FLAGGED = {
    "train() once before the epoch loop, eval() at its end": ("""
        import torch
        def fit(model, loader, val_loader, opt):
            model.train()
            for epoch in range(10):
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                model.eval()
                with torch.no_grad():
                    for x, y in val_loader:
                        model(x)
        """, 10),
    "validate() helper sets eval and never restores (optimizer from the model's parameters)": ("""
        import torch
        @torch.no_grad()
        def validate(net, loader):
            net.eval()
            return sum(net(x).sum().item() for x in loader)
        def fit(model, loader, val_loader):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(10):
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                print(validate(model, val_loader))
        """, 14),
    "periodic evaluation inside the batch loop": ("""
        def fit(model, loader, opt):
            model.train()
            for step, (x, y) in enumerate(loader):
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
                if step % 100 == 0:
                    evaluate(model)
        def evaluate(model):
            model.eval()
        """, 9),
    "trainer class, self.model, evaluate() method": ("""
        class Trainer:
            def evaluate(self):
                self.model.eval()
                for b in self.val_loader:
                    self.model(b)
            def train_epoch(self):
                for b in self.loader:
                    self.optimizer.zero_grad()
                    self.model(b).sum().backward()
                    self.optimizer.step()
            def fit(self):
                self.model.train()
                for epoch in range(self.epochs):
                    self.train_epoch()
                    self.evaluate()
        """, 16),
    "train(False) is eval; accelerator.backward": ("""
        def fit(model, loader, opt, accelerator):
            model.train()
            for epoch in range(3):
                for x in loader:
                    accelerator.backward(model(x).sum())
                    opt.step()
                model.train(False)
        """, 8),
}

CLEAN = {
    "train() at the top of each epoch": """
        import torch
        def fit(model, loader, val_loader, opt):
            for epoch in range(10):
                model.train()
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                model.eval()
        """,
    "the evaluation helper restores train mode at its end": """
        def evaluate(model, loader):
            model.eval()
            for x in loader:
                model(x)
            model.train()
        def fit(model, loader, opt):
            model.train()
            for step, x in enumerate(loader):
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
                if step % 100 == 0:
                    evaluate(model, loader)
        """,
    "evaluation after the last epoch only": """
        def fit(model, loader, opt):
            model.train()
            for epoch in range(10):
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
            model.eval()
        """,
    "frozen BatchNorm: eval() on a submodule only": """
        def fit(model, loader, opt):
            for epoch in range(10):
                model.train()
                model.backbone.eval()
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """,
    "frozen BatchNorm through modules()": """
        import torch
        def fit(model, loader, opt):
            for epoch in range(10):
                model.train()
                for m in model.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.eval()
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
        """,
    "phase loop: the mode is set in both branches every iteration": """
        import torch
        def fit(model, loaders, opt):
            for epoch in range(10):
                for phase in ["train", "val"]:
                    if phase == "train":
                        model.train()
                    else:
                        model.eval()
                    for x in loaders[phase]:
                        out = model(x)
                        if phase == "train":
                            opt.zero_grad()
                            out.sum().backward()
                            opt.step()
        """,
    "a frozen teacher put in eval mode every iteration": """
        import torch
        def fit(student, teacher, loader):
            opt = torch.optim.Adam(student.parameters())
            student.train()
            for x in loader:
                teacher.eval()
                opt.zero_grad()
                (student(x) - teacher(x)).pow(2).mean().backward()
                opt.step()
        """,
    "Lightning: no user loop, Lightning restores train mode": """
        import lightning as L
        class Lit(L.LightningModule):
            def validation_step(self, batch, idx):
                self.eval()
                return self(batch).sum()
            def training_step(self, batch, idx):
                return self(batch).sum()
        """,
    "HF Trainer: the library switches modes": """
        from transformers import Trainer
        def main(model, args, ds):
            trainer = Trainer(model=model, args=args, train_dataset=ds, eval_dataset=ds)
            for round in range(3):
                trainer.train()
                trainer.evaluate()
        """,
    "RL: eval for evaluation episodes, train() back before the update": """
        import torch
        def main(agent, env, opt):
            for it in range(100):
                agent.eval()
                evaluate_episodes(agent, env)
                agent.train()
                opt.zero_grad()
                agent.loss(env).backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("name", FLAGGED)
def test_flagged(name):
    src, row = FLAGGED[name]
    assert _rows(src) == [row]


@pytest.mark.parametrize("name", CLEAN)
def test_clean(name):
    assert _rows(CLEAN[name]) == []


def test_message_names_the_step_and_what_to_do():
    src, _ = FLAGGED["validate() helper sets eval and never restores (optimizer from the model's parameters)"]
    [diag] = lint(textwrap.dedent(src), "ML802")
    assert "net.eval()" not in diag.message  # renamed to the caller's model
    assert "model.eval()" in diag.message and "model.train()" in diag.message and "line 12" in diag.message


def test_eval_and_train_chained_on_other_module_methods():
    src = """
        def fit(model, loader, opt, device):
            for epoch in range(3):
                model.to(device).train()
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                model.eval().cpu()
        """
    assert _rows(src) == []
    assert _rows(src.replace("model.to(device).train()", "opt = SGD(model.parameters())")) == [9]


def test_train_or_eval_in_one_conditional_expression():
    src = """
        def fit(model, loader, opt):
            for mode in (True, False, True):
                model.train() if mode else model.eval()
                if mode:
                    opt.zero_grad()
                    model(loader).sum().backward()
                    opt.step()
        """
    assert _rows(src) == []


def test_helper_called_with_a_constant_that_rules_out_its_backward():
    src = """
        class Trainer:
            def _loss(self, batch, do_backward=True):
                loss = self.model(batch).sum()
                if do_backward:
                    loss.backward()
                return loss
            def train_step(self, batch):
                self.model.train()
                self._loss(batch)
                self.optimizer.step()
            def validation_step(self, batch):
                self.model.eval()
                return self._loss(batch, do_backward=False)
            def fit(self):
                for epoch in range(3):
                    for batch in self.loader:
                        self.train_step(batch)
                    for batch in self.val_loader:
                        self.validation_step(batch)
        """
    assert _rows(src) == []
    # without the constant the validation loop backpropagates, and in eval mode
    assert _rows(src.replace("do_backward=False", "do_backward=flag")) == [20]


def test_reported_at_the_call_inside_the_loop():
    src = """
        def evaluate(model):
            model.eval()
        def train(model, loader, opt):
            model.train()
            for epoch in range(3):
                for x in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    opt.step()
                evaluate(model)
        def main():
            train(net, loader, opt)
        main()
        """
    assert _rows(src) == [11]


def test_an_ema_model_evaluated_by_the_same_helper_is_not_the_trained_model():
    # timm's train.py: validate(model_ema) puts the EMA copy in eval mode for good; the helper
    # calls its parameter `model`, which is also the name of the model that trains
    src = """
        def train_one_epoch(model, loader, opt):
            model.train()
            def _backward(loss):
                loss.backward()
                opt.step()
            for x in loader:
                opt.zero_grad()
                _backward(model(x).sum())
        def validate(model, loader):
            model.eval()
        for epoch in range(10):
            train_one_epoch(model, loader, opt)
            validate(model, loader)
            validate(model_ema, loader)
        """
    assert _rows(src) == []

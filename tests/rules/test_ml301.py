"""ML301 schedule-uses-local-counter: flagged variants, must-not-flag cases, fix and message."""

import textwrap

import pytest

from mllint.testing import fix, lint


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


HEAD = """
from torch import nn as N
from utils.annealing import compute_expansion_penalty as cep


class LossHead(N.Module):
    def __init__(self, total_steps):
        super().__init__()
        self.total_steps = total_steps
        self.dqn_step_counter = 0
"""

FLAGGED = {
    "guard_clause_before_the_increment": HEAD + """
    def forward(self, x, global_step: int = 0):
        if not x.dqn_active:
            return None
        self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)
""",
    "keyword_current_step": HEAD + """
    def forward(self, x, global_step: int = 0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)
""",
    "positional_schedule_name": HEAD + """
    def forward(self, x, step):
        if x.dqn_active:
            self.dqn_step_counter = self.dqn_step_counter + 1
        return self.temperature_schedule(self.dqn_step_counter, self.total_steps)
""",
    "incremented_in_other_method": HEAD + """
    def update_dqn(self, batch):
        self.dqn_step_counter += 1

    def forward(self, x, global_step=0):
        return x * linear_decay(float(self.dqn_step_counter), self.total_steps)
""",
    "through_a_local_alias": HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        counter = self.dqn_step_counter
        return get_epsilon(counter, self.total_steps)
""",
    "nested_function_and_comprehension": HEAD + """
    def forward(self, xs, global_step=0):
        try:
            loss = self.dqn(xs)
        except ValueError:
            self.dqn_step_counter += 1
        def scale(x):
            return x * anneal_penalty(progress=self.dqn_step_counter / self.total_steps)
        return [scale(x) for x in xs]
""",
    "trainer_global_step_read": HEAD + """
    def training_step(self, batch, batch_idx):
        if batch.dqn_active:
            self.dqn_step_counter += 1
        self.log("step", self.trainer.global_step)
        return warmup_factor(t=self.dqn_step_counter)
""",
    "counter_initialised_in_base_class": """
from torch import nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_updates = 0


class QHead(Base):
    def forward(self, x, global_step=0):
        if x.sum() > 0:
            self.q_updates += 1
        return compute_q_temperature(self.q_updates, 1000)
""",
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_flagged(name):
    diags = lint(src(FLAGGED[name]), "ML301")
    assert [d.code for d in diags] == ["ML301"]


def test_reports_at_the_counter_argument_and_fixes_with_the_global_step():
    code = src(FLAGGED["keyword_current_step"])
    (d,) = lint(code, "ML301")
    assert (d.start.row, d.start.column) == (14, 33)
    assert "self.dqn_step_counter" in d.message and "pass `global_step` instead" in d.message
    fixed = fix(code, "ML301", unsafe=True)
    assert "cep(current_step=global_step, total_steps=self.total_steps)" in fixed
    assert lint(fixed, "ML301") == []
    assert fix(code, "ML301") == code  # unsafe: not applied by --fix alone


@pytest.mark.parametrize("name, replacement", [
    ("positional_schedule_name", "self.temperature_schedule(step, self.total_steps)"),
    ("incremented_in_other_method", "linear_decay(float(global_step), self.total_steps)"),
    ("through_a_local_alias", "get_epsilon(global_step, self.total_steps)"),
    ("trainer_global_step_read", "warmup_factor(t=self.trainer.global_step)"),
])
def test_fix_uses_the_step_in_scope(name, replacement):
    assert replacement in fix(src(FLAGGED[name]), "ML301", unsafe=True)


NO_STEP_IN_SCOPE = HEAD + """
    def forward(self, x):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)


def train(train_state, head, batches):
    for batch in batches:
        train_state.step += 1
        head(batch)
"""


def test_no_fix_when_the_step_is_only_in_the_training_loop():
    (d,) = lint(src(NO_STEP_IN_SCOPE), "ML301")
    assert d.fix is None
    assert "add a `global_step` parameter to `forward`" in d.message
    assert fix(src(NO_STEP_IN_SCOPE), "ML301", unsafe=True) == src(NO_STEP_IN_SCOPE)


NOT_FLAGGED = {
    "guard_clause_on_training_mode": HEAD + """
    def forward(self, x, global_step: int = 0):
        if not self.training:
            return None
        self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)
""",
    "no_step_in_reach_plain_class": """
class Annealer:
    def __init__(self, total_steps):
        self.total_steps = total_steps
        self.dqn_step_counter = 0

    def __call__(self, x):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)
""",
    "unconditional_increment_same_method": HEAD + """
    def train_step(self, batch, global_step):
        self.dqn_step_counter += 1
        return cep(current_step=self.dqn_step_counter, total_steps=self.total_steps)
""",
    "increment_under_self_training": HEAD + """
    def forward(self, x, global_step=0):
        if self.training:
            self.dqn_step_counter += 1
        return cep(self.dqn_step_counter, self.total_steps)
""",
    "accumulation_boundary": HEAD + """
    def micro_step(self, batch, step):
        if (step + 1) % self.accum == 0:
            self.dqn_step_counter += 1
        return cep(self.dqn_step_counter, self.total_steps)
""",
    "synced_from_the_global_step": HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        self.dqn_step_counter = global_step
        return cep(self.dqn_step_counter, self.total_steps)
""",
    "uses_global_step": HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(current_step=global_step, total_steps=self.total_steps)
""",
    "optimizer_and_scheduler_step": HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        self.optimizer.step()
        self.lr_scheduler.step()
        self.scheduler.step(self.dqn_step_counter)
        return x
""",
    "range_loop_index": """
def train(model, total_steps, global_step=0):
    for step in range(total_steps):
        eps = linear_schedule(1.0, 0.05, total_steps, step)
        model(eps)
""",
    "attribute_named_global_step": """
class Trainer:
    def __init__(self):
        self.global_step = 0

    def fit(self, batches, step=0):
        for i, batch in enumerate(batches):
            if (i + 1) % 4:
                continue
            self.global_step += 1
            lr = warmup_lr(self.global_step)
""",
    "incremented_by_the_training_loop_in_another_method": """
class Trainer:
    def __init__(self):
        self.steps = 0

    def fit(self, loader):
        for i, batch in enumerate(loader):
            self.steps += 1
            self.train_step(batch, i)

    def train_step(self, batch, step):
        lr = warmup_schedule(self.steps)
""",
    "not_a_counter_attribute": HEAD + """
    def forward(self, x, global_step=0):
        return cep(current_step=self.total_steps // 2, total_steps=self.total_steps)
""",
    "schedule_argument_is_not_the_step": HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(current_step=global_step, total_steps=self.total_steps, offset=self.dqn_step_counter)
""",
}


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED))
def test_not_flagged(name):
    assert lint(src(NOT_FLAGGED[name]), "ML301") == []


def test_schedule_name_resolved_through_an_import_alias():
    code = src(HEAD + """
    def forward(self, x, global_step=0):
        if x.dqn_active:
            self.dqn_step_counter += 1
        return cep(self.dqn_step_counter, self.total_steps)
""")
    assert [d.start.row for d in lint(code, "ML301")] == [14]


def test_suppressed_by_noqa():
    code = src(FLAGGED["keyword_current_step"]).replace(
        "total_steps=self.total_steps)", "total_steps=self.total_steps)  # noqa: ML301")
    assert lint(code, "ML301") == []


SEED_LOSSES_PY = """
import torch
from torch import nn


class ACTLossHead(nn.Module):
    def __init__(self, model, enable_dqn=False):
        super().__init__()
        self.model = model
        self.enable_dqn = enable_dqn
        if enable_dqn:
            self.dqn_step_counter = 0

    def forward(self, return_keys, **model_kwargs):
        new_carry, outputs = self.model(**model_kwargs)
        if self.enable_dqn and self.training:
            from models.dqn_utils import compute_epsilon
            config = self.model.config
            current_epsilon = compute_epsilon(
                self.dqn_step_counter,
                epsilon_start=config.dqn_epsilon_start,
                epsilon_end=config.dqn_epsilon_end,
                epsilon_decay_steps=config.dqn_epsilon_decay_steps,
            )
            self.dqn_step_counter += 1
        return new_carry, outputs
"""


def test_seed_losses_py_with_the_training_loop_in_another_file():
    (d,) = lint(src(SEED_LOSSES_PY), "ML301")
    assert d.start.row == 19 and d.fix is None
    assert "add a `global_step` parameter to `forward`" in d.message


BASE_HEAD_PY = """
import torch
from torch import nn


class DQNHead(nn.Module):
    def __init__(self, enable_dqn=False):
        super().__init__()
        self.enable_dqn = enable_dqn
        self.dqn_step_counter = 0

    def tick(self):
        if self.enable_dqn and self.training:
            self.dqn_step_counter += 1
"""

SUBCLASS_PY = """
from heads import DQNHead


class ACTLossHead(DQNHead):
    def forward(self, return_keys, **model_kwargs):
        epsilon = compute_epsilon(self.dqn_step_counter, epsilon_decay_steps=1000)
        self.tick()
        return epsilon
"""


def test_counter_of_a_base_class_in_another_project_file(tmp_path):
    (tmp_path / "heads.py").write_text(BASE_HEAD_PY)
    path = tmp_path / "losses.py"
    path.write_text(SUBCLASS_PY)
    (d,) = lint(SUBCLASS_PY, "ML301", path=str(path))
    assert d.start.row == 7 and "self.dqn_step_counter" in d.message and "under a condition" in d.message
    # the base ticks on every call: no longer a lagging counter
    (tmp_path / "heads.py").write_text(BASE_HEAD_PY.replace("        if self.enable_dqn and self.training:\n    ", ""))
    assert lint(SUBCLASS_PY, "ML301", path=str(path)) == []
    # no such file in the project: nothing to follow
    (tmp_path / "heads.py").unlink()
    assert lint(SUBCLASS_PY, "ML301", path=str(path)) == []


def test_component_without_step_in_reach_and_unconditional_increment_elsewhere_is_not_flagged():
    code = src("""
        import torch.nn as nn

        class Agent(nn.Module):
            def __init__(self):
                super().__init__()
                self.env_steps = 0

            def act(self, obs):
                self.env_steps += 1
                return obs

            def explore(self):
                return epsilon_schedule(self.env_steps)
        """)
    assert lint(code, "ML301") == []


def test_lightning_module_uses_its_global_step():
    code = src("""
        import lightning.pytorch as pl

        class Model(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.q_updates = 0

            def training_step(self, batch, batch_idx):
                if batch_idx % 2 == 1 and batch.q:
                    pass
                if batch.q:
                    self.q_updates += 1
                return compute_q_temperature(self.q_updates)
        """)
    assert "compute_q_temperature(self.global_step)" in fix(code, "ML301", unsafe=True)


def test_getattr_alias_as_in_the_seed_model():
    code = src("""
        from torch import nn

        class TinyRecursiveReasoningModel(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.config = config
                self.training_step = 0

            def forward(self, carry, batch, global_step: int = 0):
                if carry.halted.any():
                    self.training_step += 1
                current_step = getattr(self, "training_step", 0)
                temperature = compute_q_temperature(current_step=current_step, total_steps=self.config.total_steps)
                return temperature
        """)
    (d,) = lint(code, "ML301")
    assert d.start.row == 13
    assert "compute_q_temperature(current_step=global_step," in fix(code, "ML301", unsafe=True)


LIGHTNING_BATCH_INDEX = {
    "positional": ("""
        import pytorch_lightning as pl
        class VAE(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                recon, kl = self(batch)
                beta = linear_anneal(batch_idx, self.hparams.warmup_steps)
                return recon + beta * kl
    """, "beta = linear_anneal(self.global_step, self.hparams.warmup_steps)"),
    "keyword and another hook": ("""
        import lightning as L
        class Model(L.LightningModule):
            def on_train_batch_start(self, batch, batch_nb):
                self.tau = temperature_schedule(step=batch_nb, total=10_000)
    """, "self.tau = temperature_schedule(step=self.global_step, total=10_000)"),
    "in arithmetic": ("""
        import pytorch_lightning as pl
        class VAE(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                beta = kl_anneal(float(batch_idx) / self.hparams.warmup_steps)
                return beta
    """, "beta = kl_anneal(float(self.global_step) / self.hparams.warmup_steps)"),
    "through a local name": ("""
        import pytorch_lightning as pl
        class VAE(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                it = batch_idx
                return linear_anneal(it, 1000)
    """, "return linear_anneal(self.global_step, 1000)"),
}


@pytest.mark.parametrize("name", sorted(LIGHTNING_BATCH_INDEX))
def test_lightning_batch_index_drives_a_schedule(name):
    code, fixed_line = LIGHTNING_BATCH_INDEX[name]
    code = src(code)
    assert [d.code for d in lint(code, "ML301")] == ["ML301"]
    out = fix(code, "ML301", unsafe=True)
    assert fixed_line in out and lint(out, "ML301") == []


LIGHTNING_NOT_FLAGGED = {
    "global_step": """
        class M(LightningModule):
            def training_step(self, batch, batch_idx):
                return kl_anneal(self.global_step, 1000)
    """,
    "epoch-based annealing": """
        class M(LightningModule):
            def training_step(self, batch, batch_idx):
                return temperature_schedule(self.current_epoch)
    """,
    "batch index rebound to a global step": """
        class M(LightningModule):
            def training_step(self, batch, batch_idx):
                batch_idx = self.global_step
                return kl_anneal(batch_idx, 1000)
    """,
    "batch index passed to a non-schedule call": """
        class M(LightningModule):
            def training_step(self, batch, batch_idx):
                self.log_images(batch_idx, batch)
                return self.loss(batch)
    """,
    "a local computed from the batch index (an offset not worth guessing)": """
        class M(LightningModule):
            def training_step(self, batch, batch_idx):
                it = batch_idx + self.offset
                return kl_anneal(it, 1000)
    """,
    "a batch index outside a step hook": """
        def evaluate(model, loader):
            for batch_idx, batch in enumerate(loader):
                model.warmup(batch_idx)
    """,
}


@pytest.mark.parametrize("name", sorted(LIGHTNING_NOT_FLAGGED))
def test_lightning_not_flagged(name):
    assert lint(src(LIGHTNING_NOT_FLAGGED[name]), "ML301") == []


def test_lightning_module_through_a_base_of_the_same_file_uses_its_global_step():
    code = src("""
        import pytorch_lightning as pl
        class Base(pl.LightningModule):
            pass
        class Model(Base):
            def __init__(self):
                super().__init__()
                self.q_steps = 0
            def training_step(self, batch, batch_idx):
                if batch.q:
                    self.q_steps += 1
                return compute_q_temperature(self.q_steps)
    """)
    assert [d.code for d in lint(code, "ML301")] == ["ML301"]
    assert "compute_q_temperature(self.global_step)" in fix(code, "ML301", unsafe=True)

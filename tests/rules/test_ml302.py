"""ML302 hardcoded-schedule-steps: YAML and Python forms, must-not-flag lists, YAML safety."""

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.testing import lint


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def rows_cols(text, path="cfg.yaml"):
    return [(d.start.row, d.start.column, d.code) for d in lint(src(text), "ML302", path=path)]


# ---- YAML ------------------------------------------------------------------------------------

def test_hydra_config_from_the_seed():
    text = """
    defaults:
      - arch: multimodal_hesc
    epochs: 100
    expansion_anneal_steps: 50000
    q_temperature_anneal_steps: 100000
    dqn_warmup_steps: 5000
    """
    assert rows_cols(text) == [(4, 1, "ML302"), (5, 1, "ML302"), (6, 1, "ML302")]


def test_message_suggests_the_ratio_when_the_total_is_known():
    (d,) = lint("total_steps: 100000\nwarmup_steps: 5000\n", "ML302", path="c.yaml")
    assert "`warmup_steps: 5000`" in d.message
    assert "`warmup_ratio: 0.05`" in d.message
    (d,) = lint("max_steps: 10000\nexpansion_anneal_steps: 50000\n", "ML302", path="c.yml")
    assert "`expansion_anneal_ratio: 5.0`" in d.message and "longer than the whole run" in d.message


@pytest.mark.parametrize("text,path", [
    ("max_steps: 10000\nwarmup_ratio: 0.1\nwarmup_steps: 500\n", "c.yaml"),
    ("def train(max_steps=10000, warmup_ratio=0.1, warmup_steps=500):\n    pass\n", "t.py"),
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--max-steps', default=10000)\n"
     "p.add_argument('--warmup-ratio', default=0.1)\np.add_argument('--warmup-steps', default=500)\n", "t.py"),
])
def test_an_existing_ratio_is_named_instead_of_suggesting_a_new_one(text, path):
    """transformers' TrainingArguments layout: both are there, and warmup_steps > 0 wins."""
    (d,) = lint(text, "ML302", path=path)
    assert "is configured next to it" in d.message and "to 0 so the ratio decides" in d.message
    assert "warmup_ratio" in d.message.replace("-", "_") and "→" not in d.message


def test_message_without_a_total_in_steps_names_the_run_length():
    (d,) = lint("num_epochs: 3\nlr_warmup_steps: 500\n", "ML302", path="c.yaml")
    assert "`num_epochs`" in d.message and "ratio" in d.message and "→" not in d.message


def test_an_evaluation_length_is_not_the_run_length():
    text = "train:\n  lr_warmup_steps: 10\n  epochs: 4\neval:\n  max_iters: 100\n"
    (d,) = lint(text, "ML302", path="c.yaml")
    assert "`train.epochs`" in d.message and "max_iters" not in d.message and "→" not in d.message


@pytest.mark.parametrize("text, expected", [
    ("trainer:\n  max_epochs: 10\nscheduler:\n  num_warmup_steps: 1000\n", [(4, 3)]),
    ("agent:\n  epsilon_decay_steps: 20000\n  total_timesteps: 1000000\n", [(2, 3)]),
    ("max_iters: 600000\nlr_decay_iters: 600000\nwarmup_iters: 2000\n", [(2, 1), (3, 1)]),
    ("---\nepochs: 1\nwarmup_steps: 100_000\n---\nwarmup_steps: 5\n", [(3, 1)]),
    ("runs:\n  - epochs: 5\n    rampup_steps: 300\n", [(3, 5)]),
])
def test_yaml_variants(text, expected):
    assert [(r, c) for r, c, _ in rows_cols(text)] == expected


@pytest.mark.parametrize("text", [
    "epochs: 10\nsave_steps: 1000\neval_steps: 500\nlog_every: 10\nlogging_steps: 50\n",
    "epochs: 10\nwarmup_ratio: 0.1\nexpansion_anneal_ratio: 0.5\nexploration_fraction: 0.2\n",
    "total_steps: 1000\nwarmup_steps: ${oc.eval:'int(0.1 * ${total_steps})'}\n",
    "total_steps: 1000\nwarmup_steps: '500'\nanneal_steps: 0\nwarmup_epochs: 5\n",
    "warmup_steps: 4000\nd_model: 512\n",  # no configurable run length next to it
    "n_steps: 2048\nwarmup_steps: 100\n",  # SB3's n_steps is the rollout length, not the run length
    "epochs: 10\ndecay_schedule: cosine\nweight_decay: 0.01\n",
    # the only length is an evaluation's (batches per evaluation), not the training run's
    "train:\n  lr_warmup_steps: 100\neval:\n  max_iters: 100\nvalidation:\n  max_steps: 50\n",
])
def test_yaml_not_flagged(text):
    assert lint(text, "ML302", path="cfg.yaml") == []


def test_yaml_line_suppression():
    text = "epochs: 10\nwarmup_steps: 500  # mllint: disable=ML302\nanneal_steps: 7\n"
    assert [d.start.row for d in lint(text, "ML302", path="c.yaml")] == [3]


def test_malformed_yaml_is_a_syntax_diagnostic():
    diags = lint("epochs: 10\nwarmup_steps: [500\n", "ML302", path="c.yaml")
    assert [(d.code, d.start.row) for d in diags] == [("ML000", 3)]
    assert "YAML" in diags[0].message


def test_yaml_is_never_constructed():
    text = "epochs: 1\nwarmup_steps: !!python/object/apply:os.system ['echo pwned']\nanneal_steps: 10\n"
    assert [d.start.row for d in lint(text, "ML302", path="c.yaml")] == [3]


def test_alias_bomb_stays_cheap():
    lines = ["a0: &a0 [epochs, warmup]"]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]")
    lines += ["epochs: 3", "warmup_steps: 10"]
    diags = lint("\n".join(lines) + "\n", "ML302", path="bomb.yaml")
    assert [d.start.row for d in diags] == [42]


def test_directory_run_lints_yaml_files(tmp_path: Path):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "cfg_pretrain.yaml").write_text("epochs: 100\nq_temperature_anneal_steps: 100000\n")
    (conf / "other.yml").write_text("total_steps: 10\nsave_steps: 5\n")
    (tmp_path / "train.py").write_text("print('hi')\n")
    out = CliRunner().invoke(main, ["--select", "ML302", "--no-cache", str(tmp_path)])
    assert out.exit_code == 1
    assert "cfg_pretrain.yaml:2:1: ML302" in out.output
    named = CliRunner().invoke(main, ["--select", "ML302", "--no-cache", str(conf / "cfg_pretrain.yaml")])
    assert named.exit_code == 1 and "ML302" in named.output


# ---- Python ----------------------------------------------------------------------------------

FLAGGED_PY = {
    "dataclass": ("""
        from dataclasses import dataclass, field

        @dataclass
        class PretrainConfig:
            epochs: int = 100
            global_batch_size: int = 32
            expansion_anneal_steps: int = 50000
            q_temperature_anneal_steps: int = field(default=100000)
        """, [7, 8]),
    "dataclass_aliased_module": ("""
        import dataclasses as dc

        @dc.dataclass(frozen=True)
        class Cfg:
            max_steps: int = 20000
            warmup_steps: int = 500
        """, [6]),
    "attrs": ("""
        import attr

        @attr.s
        class Cfg:
            num_epochs = attr.ib(default=10)
            dqn_warmup_steps = attr.ib(default=5000)
        """, [6]),
    "pydantic": ("""
        from pydantic import BaseModel, Field

        class TrainConfig(BaseModel):
            total_timesteps: int = 1_000_000
            epsilon_decay_steps: int = Field(20000, description="linear decay")
        """, [5]),
    "argparse": ("""
        import argparse

        def parse_args():
            parser = argparse.ArgumentParser()
            parser.add_argument("--num_train_epochs", type=int, default=3)
            parser.add_argument("--warmup-steps", "-w", type=int, default=1000)
            return parser.parse_args()
        """, [6]),
    "click": ("""
        import click

        @click.command()
        @click.option("--epochs", default=10)
        @click.option("--lr-warmup-steps", default=2000, type=int)
        def main(epochs, lr_warmup_steps):
            pass
        """, [5]),
    "function_defaults": ("""
        class Annealer:
            def __init__(self, total_steps=100000, anneal_steps=50000, warmup_steps=0):
                self.total_steps = total_steps
        """, [2]),
}


@pytest.mark.parametrize("name", sorted(FLAGGED_PY))
def test_python_flagged(name):
    text, rows = FLAGGED_PY[name]
    assert [d.start.row for d in lint(src(text), "ML302")] == rows


def test_python_message_gives_the_ratio():
    text, _ = FLAGGED_PY["function_defaults"]
    (d,) = lint(src(text), "ML302")
    assert "`anneal_steps=50000`" in d.message and "`anneal_ratio=0.5`" in d.message


NOT_FLAGGED_PY = {
    "no_run_length": """
        def noam(step, d_model=512, warmup_steps=4000):
            return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)
        """,
    "plain_class_is_not_a_config": """
        class Schedule:
            epochs = 10
            warmup_steps = 500
        """,
    "derived_from_total": """
        from dataclasses import dataclass

        @dataclass
        class Cfg:
            total_steps: int = 1000
            warmup_ratio: float = 0.1
            save_steps: int = 500
            eval_steps: int = 100
            logging_steps: int = 10
            log_every: int = 10
            warmup_steps: int = 0

            @property
            def num_warmup_steps(self):
                return int(self.warmup_ratio * self.total_steps)
        """,
    "argparse_in_separate_functions": """
        def add_schedule_args(parser):
            parser.add_argument("--warmup_steps", type=int, default=500)

        def add_train_args(parser):
            parser.add_argument("--epochs", type=int, default=3)
        """,
    "argparse_no_literal_default": """
        def parse(parser, defaults):
            parser.add_argument("--epochs", type=int, default=3)
            parser.add_argument("--warmup_steps", type=int, default=defaults.warmup)
            parser.add_argument("--save_steps", type=int, default=500)
        """,
}


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED_PY))
def test_python_not_flagged(name):
    assert lint(src(NOT_FLAGGED_PY[name]), "ML302") == []


def test_python_fixture_in_the_seed_shape():
    path = Path(__file__).resolve().parents[2] / "fixtures" / "ML302" / "pretrain_config.py"
    text = path.read_text()
    flagged = [i for i, line in enumerate(text.splitlines(), start=1) if line.endswith("# flagged")]
    diags = lint(text, "ML302", path=path.name)
    assert [d.start.row for d in diags] == flagged
    assert len(flagged) == 6
    by_row = {d.start.row: d.message for d in diags}
    assert "`dqn_warmup_ratio = 0.05`" in by_row[flagged[3]]


def test_benchmark_warmup_iterations_are_not_a_schedule():
    # torch/utils/throughput_benchmark.py: found when linting PyTorch's own sources
    src = ("class ThroughputBenchmark:\n"
           "    def benchmark(self, num_calling_threads=1, num_warmup_iters=10, num_iters=100):\n"
           "        pass\n\n\n"
           "def profile_model(model, warmup_steps=5000, total_steps=100000):\n    pass\n")
    assert lint(src, "ML302") == []
    assert [d.code for d in lint("def train(model, warmup_steps=5000, total_steps=100000):\n    pass\n", "ML302")] \
        == ["ML302"]


# ---- schedule lengths and change points (T_max, milestones, a scheduler's total) ----------------

@pytest.mark.parametrize("text, expected", [
    ("epochs: 90\nscheduler:\n  name: multistep\n  milestones: [30, 60, 90]\n", [(4, 3)]),
    ("train:\n  num_epochs: 200\nlr_scheduler:\n  milestones:\n    - 100\n    - 150\n", [(4, 3)]),
    ("epochs: 120\nlr_steps: [80, 100]\n", [(2, 1)]),
    ("trainer:\n  max_epochs: 100\nscheduler:\n  name: cosine\n  params:\n    T_max: 100\n", [(6, 5)]),
    ("trainer: {max_epochs: 100}\nscheduler: {name: cosine, kwargs: {T_max: 100, eta_min: 0.0}}\n", [(2, 36)]),
    ("max_epochs: 10\nscheduler:\n  _target_: torch.optim.lr_scheduler.OneCycleLR\n  max_lr: 0.1\n"
     "  total_steps: 10000\n", [(5, 3)]),
    ("trainer:\n  max_steps: 50000\nlr_scheduler:\n  class_path: timm.scheduler.CosineLRScheduler\n"
     "  init_args:\n    t_initial: 50000\n", [(6, 5)]),
])
def test_yaml_schedule_lengths(text, expected):
    assert [(r, c) for r, c, _ in rows_cols(text)] == expected


def test_yaml_length_message_gives_the_interpolation():
    (d,) = lint("trainer:\n  max_epochs: 100\nscheduler:\n  T_max: 100\n", "ML302", path="c.yaml")
    assert "`T_max: 100` is an absolute schedule length" in d.message
    assert "`T_max: ${trainer.max_epochs}`" in d.message
    (d,) = lint("epochs: 90\nmilestones: [30, 60, 90]\n", "ML302", path="c.yaml")
    assert "`milestones: [30, 60, 90]` are absolute change points" in d.message and "fractions" in d.message


@pytest.mark.parametrize("text", [
    "trainer:\n  max_epochs: 100\nscheduler:\n  T_max: ${trainer.max_epochs}\n",  # derived from the run length
    "epochs: 100\nscheduler:\n  milestones: [0.3, 0.6, 0.9]\n",  # fractions of the run
    "scheduler:\n  T_max: 100\n  milestones: [30, 60]\n",  # no configurable run length next to it
    "epochs: 100\nscheduler:\n  _target_: torch.optim.lr_scheduler.LinearLR\n  total_iters: 5\n",  # a warmup
    "epochs: 100\nscheduler:\n  _target_: torch.optim.lr_scheduler.StepLR\n  step_size: 30\n",  # a period
    "epochs: 100\nscheduler:\n  _target_: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts\n  T_0: 10\n",
    "max_train_steps: 100000\nnoise_scheduler:\n  _target_: diffusers.DDPMScheduler\n  num_train_timesteps: 1000\n",
    "max_epochs: 10\nscheduler:\n  _target_: torch.optim.lr_scheduler.OneCycleLR\n  total_steps: null\n",
    "epochs: 10\nmilestones: []\nsteps: [1, 2]\n",
])
def test_yaml_schedule_lengths_not_flagged(text):
    assert lint(text, "ML302", path="cfg.yaml") == []


# ---- a Hydra config group: the schedule in one file, the run length in another ---------------------

GROUP = {
    "conf/config.yaml": "defaults:\n  - trainer: default\n  - scheduler: cosine\n  - _self_\nseed: 1\n",
    "conf/trainer/default.yaml": "max_epochs: 100\ngradient_clip_val: 1.0\n",
    "conf/scheduler/cosine.yaml": "_target_: torch.optim.lr_scheduler.CosineAnnealingLR\nT_max: 100\n",
    "conf/scheduler/step.yaml": "_target_: torch.optim.lr_scheduler.MultiStepLR\nmilestones: [30, 60, 90]\n",
    "conf/scheduler/warmup.yaml": "num_warmup_steps: 500\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _group_rows(root: Path, name: str) -> list[int]:
    path = root / name
    return [d.start.row for d in lint(path.read_text(), "ML302", path=str(path), root=root)]


@pytest.mark.parametrize("name, rows", [
    ("conf/scheduler/cosine.yaml", [2]),
    ("conf/scheduler/step.yaml", [2]),  # an option the defaults list does not select: composed the same way
    ("conf/scheduler/warmup.yaml", [1]),
    ("conf/trainer/default.yaml", []),
    ("conf/config.yaml", []),
])
def test_group_file_is_judged_with_the_run_length_of_its_composition(tmp_path, name, rows):
    _write(tmp_path, GROUP)
    assert _group_rows(tmp_path, name) == rows


def test_group_message_names_the_composed_run_length(tmp_path):
    _write(tmp_path, GROUP)
    path = tmp_path / "conf/scheduler/cosine.yaml"
    (d,) = lint(path.read_text(), "ML302", path=str(path), root=tmp_path)
    assert "`trainer.max_epochs`" in d.message and "${trainer.max_epochs}" in d.message


@pytest.mark.parametrize("files, name, rows", [
    # the run length in the primary config itself, the schedule two group levels down
    ({"conf/config.yaml": "defaults:\n  - model: resnet\n  - _self_\nepochs: 90\n",
      "conf/model/resnet.yaml": "defaults:\n  - scheduler: multistep\ndepth: 50\n",
      "conf/model/scheduler/multistep.yaml": "milestones: [30, 60]\n"}, "conf/model/scheduler/multistep.yaml", [1]),
    # a primary config with the schedule in it, the run length in the group it selects
    ({"conf/config.yaml": "defaults:\n  - trainer: default\n  - _self_\nscheduler:\n  T_max: 100\n",
      "conf/trainer/default.yaml": "max_epochs: 100\n"}, "conf/config.yaml", [5]),
    # near misses: no primary config selects the group; the composition has no run length
    ({"conf/scheduler/cosine.yaml": "T_max: 100\n", "conf/trainer/default.yaml": "max_epochs: 100\n"},
     "conf/scheduler/cosine.yaml", []),
    ({"conf/config.yaml": "defaults:\n  - scheduler: cosine\n", "conf/scheduler/cosine.yaml": "T_max: 100\n",
      "conf/other/default.yaml": "max_epochs: 100\n"}, "conf/scheduler/cosine.yaml", []),
    # the defaults list names a file that is missing: nothing is guessed
    ({"conf/config.yaml": "defaults:\n  - trainer: missing\n  - scheduler: cosine\n",
      "conf/scheduler/cosine.yaml": "T_max: 100\n", "conf/trainer/default.yaml": "max_epochs: 100\n"},
     "conf/scheduler/cosine.yaml", []),
])
def test_group_layouts(tmp_path, files, name, rows):
    _write(tmp_path, files)
    assert _group_rows(tmp_path, name) == rows


def test_a_cached_group_result_follows_the_other_files(tmp_path, monkeypatch):
    """The run length lives in another file: editing it must change the finding on a cached run."""
    _write(tmp_path, GROUP)
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    monkeypatch.chdir(tmp_path)
    args = ["--jobs", "1", "--select", "ML302", "conf/scheduler/cosine.yaml"]
    assert "cosine.yaml:2:1: ML302" in CliRunner().invoke(main, args).output
    (tmp_path / "conf/trainer/default.yaml").write_text("gradient_clip_val: 1.0\n")  # no run length any more
    assert "ML302" not in CliRunner().invoke(main, args).output
    (tmp_path / "conf/trainer/default.yaml").write_text("max_steps: 100\n")
    assert "cosine.yaml:2:1: ML302" in CliRunner().invoke(main, args).output
    (tmp_path / "conf/config.yaml").write_text("defaults:\n  - trainer: default\n")  # no longer selects the group
    assert "ML302" not in CliRunner().invoke(main, args).output


# ---- Python: schedule lengths in defaults and scheduler constructions ------------------------------

LENGTHS_PY = {
    "dataclass_t_max": ("""
        from dataclasses import dataclass

        @dataclass
        class Cfg:
            epochs: int = 90
            t_max: int = 90
            lr_milestones: tuple = (30, 60)
        """, [6, 7]),
    "argparse_t_max_and_milestones": ("""
        import argparse

        def get_args():
            p = argparse.ArgumentParser()
            p.add_argument("--epochs", type=int, default=200)
            p.add_argument("--t-max", type=int, default=200)
            p.add_argument("--milestones", type=int, nargs="+", default=[100, 150])
            return p.parse_args()
        """, [6, 7]),
    "scheduler_next_to_argparse": ("""
        import argparse
        import torch
        from torch.optim.lr_scheduler import CosineAnnealingLR

        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", default=90, type=int)
        args = parser.parse_args()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = CosineAnnealingLR(opt, T_max=90)
        for epoch in range(args.epochs):
            train(epoch)
            scheduler.step()
        """, [9]),
    "aliased_module_and_positional": ("""
        import torch.optim as O

        def fit(model, cfg):
            opt = O.SGD(model.parameters(), lr=0.1)
            sched = O.lr_scheduler.MultiStepLR(opt, [30, 60, 80], gamma=0.1)
            for epoch in range(cfg.num_epochs):
                sched.step()
        """, [5]),
    "method_and_function_parameter": ("""
        from torch import optim

        class Trainer:
            def __init__(self, model, epochs=100):
                self.opt = optim.AdamW(model.parameters())
                self.sched = optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=100)
        """, [6]),
    "transformers_and_onecycle": ("""
        import torch
        from transformers import get_linear_schedule_with_warmup

        def main(config):
            opt = torch.optim.AdamW(model.parameters())
            s1 = get_linear_schedule_with_warmup(opt, num_warmup_steps=100, num_training_steps=10000)
            s2 = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10000)
            for step in range(config["max_steps"]):
                pass
        """, [6, 7]),
}


@pytest.mark.parametrize("name", sorted(LENGTHS_PY))
def test_python_schedule_lengths_flagged(name):
    text, rows = LENGTHS_PY[name]
    assert [d.start.row for d in lint(src(text), "ML302")] == rows


def test_python_scheduler_message_names_the_run_length():
    text, _ = LENGTHS_PY["scheduler_next_to_argparse"]
    (d,) = lint(src(text), "ML302")
    assert "`T_max=90` is an absolute schedule length" in d.message and "e.g. `T_max=args.epochs`" in d.message


LENGTHS_NOT_FLAGGED_PY = {
    "derived_from_the_run_length": """
        import torch

        def main(args, loader):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            a = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
            b = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(loader) * args.epochs)
            c = torch.optim.lr_scheduler.MultiStepLR(opt, [int(f * args.epochs) for f in (0.5, 0.75)])
        """,
    "a_constant_used_for_both": """
        import torch

        EPOCHS = 90

        def main(args):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
            for epoch in range(EPOCHS):
                print(args.lr)
        """,
    "run_length_not_configurable": """
        import torch

        def train(epoch):
            pass

        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200)
        for epoch in range(200):
            train(epoch)
            scheduler.step()
        """,
    "warmups_and_periods": """
        import torch
        from transformers import get_cosine_schedule_with_warmup

        def main(args, total):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
            cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs - 5)
            both = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])
            step = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            restarts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10)
            hf = get_cosine_schedule_with_warmup(opt, num_warmup_steps=500, num_training_steps=total)
        """,
    "run_length_in_another_function": """
        import torch

        def lrs(scheduler, num_steps):
            return [scheduler.step() for _ in range(num_steps)]

        def test_cosine():
            opt = torch.optim.SGD([torch.zeros(1)], lr=0.1)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        """,
    "self_attribute_constant_and_current_epoch": """
        import torch

        class Runner:
            def __init__(self, model):
                self.epochs = 100
                self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=100)

            def resume(self, ckpt):
                self.start = ckpt.epoch
        """,
    "not_torch": """
        from mylib import CosineAnnealingLR, get_scheduler

        def main(args):
            a = get_scheduler("cosine", num_training_steps=1000)
            b = CosineAnnealingLR(steps=args.epochs)
        """,
}


@pytest.mark.parametrize("name", sorted(LENGTHS_NOT_FLAGGED_PY))
def test_python_schedule_lengths_not_flagged(name):
    assert lint(src(LENGTHS_NOT_FLAGGED_PY[name]), "ML302") == []


def test_python_fixture_with_schedulers():
    path = Path(__file__).resolve().parents[2] / "fixtures" / "ML302" / "train_schedulers.py"
    text = path.read_text()
    flagged = [i for i, line in enumerate(text.splitlines(), start=1) if line.endswith("# flagged")]
    assert len(flagged) == 4
    assert [d.start.row for d in lint(text, "ML302", path=path.name)] == flagged

"""ML303 total-steps-rounding: flagged forms, must-not-flag cases, and the fix's three shapes."""

import textwrap

import pytest

from mllint.testing import fix, lint


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


FLAGGED = {
    "seed": "total_steps = int(config.epochs * train_metadata.total_groups * "
            "train_metadata.mean_puzzle_examples / config.global_batch_size)\n",
    "floor_division": "num_training_steps = args.num_epochs * len(train_dataset) // args.batch_size\n",
    "math_floor_alias": "import math as m\nmax_steps = m.floor(n_samples * epochs / bs)\n",
    "numpy_ceil": "import numpy as np\nt_total = np.ceil(epochs * len(ds) / batch_size)\n",
    "round": "total_iters = round(len(ds) / cfg.batch_size * cfg.max_epochs)\n",
    "wrapped_in_max": "total_steps = max(1, int(epochs * n / batch_size))\n",
    "attribute_target": "self.total_steps = int(self.cfg.epochs * self.n_train / self.cfg.batch_size)\n",
    "scheduler_keyword": "sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=100, "
                         "num_training_steps=int(epochs * len(ds) / batch_size))\n",
    "cosine_t_max": "sched = CosineAnnealingLR(opt, T_max=int(args.epochs * len(ds) / args.batch_size))\n",
    "in_method": "class T:\n    def setup(self, ds):\n        self.max_steps = int(self.epochs * len(ds) / self.batch_size)\n",
    # a neutral name that sizes a schedule
    "neutral_name_t_max": "def f(opt, epochs, n_train, batch_size):\n    steps = epochs * n_train // batch_size\n"
                          "    return CosineAnnealingLR(opt, T_max=steps)\n",
    "neutral_name_total_steps": "def f(opt, epochs, n, batch_size):\n    n_steps = int(epochs * n / batch_size)\n"
                                "    return OneCycleLR(opt, max_lr=0.1, total_steps=n_steps)\n",
    # printed, and also sizing a schedule
    "logged_and_used": "def f(opt, epochs, n, batch_size):\n    total_steps = int(epochs * n / batch_size)\n"
                       "    print(total_steps)\n    return CosineAnnealingLR(opt, T_max=total_steps)\n",
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_flagged(name):
    assert [d.code for d in lint(FLAGGED[name], "ML303")] == ["ML303"]


NOT_FLAGGED = {
    "loader_length": "total_steps = len(train_loader) * epochs\n",
    "per_epoch_ceil": "import math\ntotal_steps = math.ceil(n / batch_size) * epochs\n",
    "per_epoch_floor_first": "steps_per_epoch = max(1, int(samples / batch_size))\ntotal_steps = steps_per_epoch * epochs\n",
    "logging_interval": "log_every = int(epochs * n / batch_size / 100)\n",
    "eval_count": "num_eval_batches = int(epochs * len(val_ds) / batch_size)\n",
    "ratio_of_total": "warmup_steps = int(cfg.warmup_ratio * total_steps)\n",
    "no_epochs": "total_steps = int(n_samples / batch_size)\n",
    "no_batch": "total_steps = int(epochs * steps_per_epoch * 1.0 / grad_scale)\n",
    "inner_rounding": "total_steps = int(epochs * math.ceil(n / batch_size))\n",
    "save_steps": "save_steps = epochs * len(ds) // batch_size // 10\n",
    "fraction_of_the_run": "total_steps = int(epochs * len(ds) / batch_size * 0.9)\n",
    "ratio_of_the_run": "max_steps = int(cfg.anneal_ratio * epochs * n / batch_size)\n",
    # named like a schedule total, used only for a progress bar
    "progress_bar_only": "def f(epochs, dataset, batch_size):\n    total_steps = int(epochs * len(dataset) / batch_size)\n"
                         "    return tqdm(total=total_steps)\n",
    "neutral_name_not_a_schedule": "def f(epochs, n, batch_size):\n    steps = epochs * n // batch_size\n"
                                   "    return steps\n",
}


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED))
def test_not_flagged(name):
    assert lint(NOT_FLAGGED[name], "ML303") == []


def test_seed_fix_without_a_known_loader_is_ceil_per_epoch_and_imports_math():
    fixed = fix("import torch\n\n" + FLAGGED["seed"], "ML303", unsafe=True)
    assert fixed == ("import math\nimport torch\n\ntotal_steps = math.ceil(train_metadata.total_groups * "
                     "train_metadata.mean_puzzle_examples / config.global_batch_size) * config.epochs\n")
    assert fix(FLAGGED["seed"], "ML303") == FLAGGED["seed"]  # unsafe: not applied by --fix alone


def test_fix_keeps_the_future_import_first_and_reuses_a_math_alias():
    code = '"""doc"""\nfrom __future__ import annotations\nimport math as m\nt_total = int(epochs * n / bs)\n'
    assert fix(code, "ML303", unsafe=True).endswith("import math as m\nt_total = m.ceil(n / bs) * epochs\n")
    code = '"""doc"""\nfrom __future__ import annotations\n\nt_total = int(epochs * n / bs)\n'
    assert fix(code, "ML303", unsafe=True) == ('"""doc"""\nfrom __future__ import annotations\n\nimport math\n'
                                               't_total = math.ceil(n / bs) * epochs\n')


def test_fix_follows_drop_last_true_of_the_training_loader():
    code = src("""
        from torch.utils.data import DataLoader

        def loaders(train_ds, val_ds, bs):
            train_loader = DataLoader(train_ds, batch_size=bs, shuffle=True, drop_last=True)
            val_loader = DataLoader(val_ds, batch_size=bs)
            return train_loader, val_loader

        def schedule_length(n_train, bs, epochs):
            total_steps = int(epochs * n_train / bs)
            return total_steps
        """)
    (d,) = lint(code, "ML303")
    assert "drops the last partial batch" in d.message
    assert "total_steps = n_train // bs * epochs" in fix(code, "ML303", unsafe=True)


@pytest.mark.parametrize("drop_last", ["False", "flag"])
def test_fix_is_ceil_when_drop_last_is_false_or_unknown(drop_last):
    code = src(f"""
        import torch

        def schedule_length(ds, n_train, bs, epochs, flag):
            loader_kwargs = dict(batch_size=bs)
            make = lambda: torch.utils.data.DataLoader(ds, batch_size=bs, drop_last={drop_last})
            total_steps = int(epochs * n_train / bs)
            return total_steps
        """)
    assert "total_steps = math.ceil(n_train / bs) * epochs" in fix(code, "ML303", unsafe=True)


def test_fix_uses_the_loader_in_scope_and_accumulation():
    code = src("""
        def train(model, train_dataloader, args):
            t_total = int(args.num_train_epochs * len(train_dataloader.dataset) / (args.train_batch_size * args.gradient_accumulation_steps))
            return t_total
        """)
    fixed = fix(code, "ML303", unsafe=True)
    assert "t_total = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps) * args.num_train_epochs" in fixed
    assert fixed.startswith("import math\n")


def test_two_candidate_loaders_without_a_training_one_use_the_per_epoch_form():
    code = src("""
        from torch.utils.data import DataLoader

        def setup(a, b, n, bs, epochs):
            loader_a = DataLoader(a, batch_size=bs)
            loader_b = DataLoader(b, batch_size=bs)
            total_steps = epochs * n // bs
            return total_steps
        """)
    assert "total_steps = math.ceil(n / bs) * epochs" in fix(code, "ML303", unsafe=True)


def test_a_loader_created_after_the_total_is_not_used_by_the_fix():
    # len(loader) there would raise UnboundLocalError: the per-epoch form is used instead
    code = src("""
        from torch.utils.data import DataLoader

        def setup(opt, ds, epochs, bs):
            total_steps = epochs * len(ds) // bs
            loader = DataLoader(ds, batch_size=bs)
            return total_steps, loader
        """)
    assert "total_steps = math.ceil(len(ds) / bs) * epochs" in fix(code, "ML303", unsafe=True)
    assert "total_steps = len(loader) * epochs" in fix(code.replace(
        "    total_steps = epochs * len(ds) // bs\n    loader = DataLoader(ds, batch_size=bs)\n",
        "    loader = DataLoader(ds, batch_size=bs)\n    total_steps = epochs * len(ds) // bs\n"), "ML303", unsafe=True)


def test_message_position_and_suppression():
    code = "x = 1\ntotal_steps = int(epochs * n / batch_size)\n"
    (d,) = lint(code, "ML303")
    assert (d.start.row, d.start.column) == (2, 15)
    assert lint(code.replace("batch_size)\n", "batch_size)  # noqa: ML303\n"), "ML303") == []

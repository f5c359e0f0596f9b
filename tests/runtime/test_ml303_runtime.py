"""ML303 runtime proof: for sizes where the roundings differ, the fixed total equals the number of
batches a real torch.utils.data.DataLoader yields over the epochs, with drop_last=True and with
drop_last=False; the original one-rounding total equals neither."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mllint.testing import fix

from .conftest import load_fixture

N, BATCH, EPOCHS = 10, 4, 3  # 2.5 batches per epoch: floor 2, ceil 3, one rounding of 7.5 -> 7


def batches_yielded(dataset, batch_size, epochs, drop_last):
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    return sum(1 for _ in range(epochs) for _ in loader)


def dataset(n=N):
    return TensorDataset(torch.arange(float(n)).unsqueeze(1))


def _seed_total(name):
    config = SimpleNamespace(epochs=EPOCHS, global_batch_size=BATCH, lr=0.1)
    metadata = SimpleNamespace(total_groups=N, mean_puzzle_examples=1)
    *_, total = load_fixture("ML303", name).init_train_state(config, metadata, torch.nn.Linear(1, 1))
    return total


def test_seed_total_without_known_loader_matches_a_loader_that_keeps_the_last_batch():
    kept = batches_yielded(dataset(), BATCH, EPOCHS, drop_last=False)
    assert kept == 9
    assert _seed_total("bad") == 7
    assert _seed_total("fixed") == kept


@pytest.mark.parametrize("drop_last", [True, False])
def test_total_from_the_loader_in_scope(drop_last):
    expected = batches_yielded(dataset(), BATCH, EPOCHS, drop_last)
    model = torch.nn.Linear(1, 1)
    _, bad = load_fixture("ML303", "bad").build_schedule(dataset(), model, BATCH, EPOCHS, drop_last)
    _, fixed = load_fixture("ML303", "fixed").build_schedule(dataset(), model, BATCH, EPOCHS, drop_last)
    assert bad.total_steps == 7 != expected
    assert fixed.total_steps == expected
    optimizer = fixed.optimizer
    for _ in range(expected):  # OneCycleLR raises if stepped past its total: the fixed one fits exactly
        optimizer.step()
        fixed.step()


@pytest.mark.parametrize("drop_last", [True, False])
def test_total_with_gradient_accumulation_counts_optimizer_steps(drop_last):
    accum = 2
    loader = DataLoader(dataset(14), batch_size=BATCH, drop_last=drop_last)  # 3 or 4 batches per epoch
    optimizer_steps = 0
    for _ in range(EPOCHS):
        for i, _batch in enumerate(loader):
            if (i + 1) % accum == 0 or i + 1 == len(loader):
                optimizer_steps += 1
    _, bad = load_fixture("ML303", "bad").num_update_steps(dataset(14), BATCH, accum, EPOCHS, drop_last)
    _, fixed = load_fixture("ML303", "fixed").num_update_steps(dataset(14), BATCH, accum, EPOCHS, drop_last)
    assert fixed == optimizer_steps
    assert bad != optimizer_steps


DROP_LAST_SOURCE = '''
import torch


def make_train_loader(dataset, batch_size):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)


def total_steps_for(n_samples, batch_size, epochs):
    total_steps = int(epochs * n_samples / batch_size)
    return total_steps
'''


def test_per_epoch_form_follows_drop_last_true_when_no_loader_is_in_scope():
    fixed_source = fix(DROP_LAST_SOURCE, "ML303", unsafe=True)
    assert "n_samples // batch_size * epochs" in fixed_source
    bad_ns, fixed_ns = {}, {}
    exec(compile(DROP_LAST_SOURCE, "bad", "exec"), bad_ns)
    exec(compile(fixed_source, "fixed", "exec"), fixed_ns)
    expected = batches_yielded(dataset(), BATCH, EPOCHS, drop_last=True)
    assert expected == 6
    assert bad_ns["total_steps_for"](N, BATCH, EPOCHS) == 7
    assert fixed_ns["total_steps_for"](N, BATCH, EPOCHS) == expected
    assert math.ceil(N / BATCH) * EPOCHS != expected  # the ceil form would be wrong here


def test_fixed_totals_match_the_loader_over_a_grid_of_sizes():
    fixed = load_fixture("ML303", "fixed")
    floor_ns = {}
    exec(compile(fix(DROP_LAST_SOURCE, "ML303", unsafe=True), "fixed", "exec"), floor_ns)
    differing = 0
    for n in range(1, 14):
        for batch in range(1, 6):
            epochs = 1 + (n + batch) % 3
            kept = batches_yielded(dataset(n), batch, epochs, drop_last=False)
            dropped = batches_yielded(dataset(n), batch, epochs, drop_last=True)
            config = SimpleNamespace(epochs=epochs, global_batch_size=batch, lr=0.1)
            metadata = SimpleNamespace(total_groups=n, mean_puzzle_examples=1)
            *_, total = fixed.init_train_state(config, metadata, torch.nn.Linear(1, 1))
            assert total == kept
            assert floor_ns["total_steps_for"](n, batch, epochs) == dropped
            differing += int(epochs * n / batch) not in (kept, dropped) or kept != dropped
    assert differing > 20  # the grid exercises sizes where the roundings disagree

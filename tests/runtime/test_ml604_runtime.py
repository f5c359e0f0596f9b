"""ML604 runtime proof: a DistributedSampler (explicit num_replicas/rank, no process group needed)
yields the same order in every epoch without `set_epoch`, and a new order each epoch with it."""

import torch
from torch.utils.data import TensorDataset

from .conftest import load_fixture


def _dataset():
    return TensorDataset(torch.arange(64))


def test_without_set_epoch_every_epoch_repeats_the_order():
    first, second = load_fixture("ML604", "bad").epoch_orders(_dataset(), epochs=2)
    assert sorted(first) != first, "the sampler does shuffle"
    assert first == second


def test_with_set_epoch_each_epoch_has_its_own_order():
    first, second = load_fixture("ML604", "good").epoch_orders(_dataset(), epochs=2)
    assert first != second
    assert len(first) == len(second) == 32, "each epoch is this rank's half of the data"


def test_both_ranks_repeat_their_shares_without_set_epoch():
    bad = load_fixture("ML604", "bad")
    for rank in (0, 1):
        first, second = bad.epoch_orders(_dataset(), epochs=2, rank=rank)
        assert first == second

"""ML602 runtime proof: a DataLoader with two workers over a dataset that owns a generator object
yields the same draws from both workers; reseeding it in a `worker_init_fn` makes them distinct."""

from .conftest import load_fixture


def _by_worker(pairs):
    # batch_size=None with 2 workers: worker 0 serves indices 0, 2, ...; worker 1 serves 1, 3, ...
    noise = dict(pairs)
    return [noise[i] for i in sorted(noise) if i % 2 == 0], [noise[i] for i in sorted(noise) if i % 2 == 1]


def test_two_workers_draw_the_same_values():
    worker0, worker1 = _by_worker(load_fixture("ML602", "bad").draws(num_workers=2, size=6))
    assert worker0 == worker1
    assert len(set(worker0)) == len(worker0), "within one worker the draws do vary"


def test_torch_generator_is_copied_too():
    offsets = load_fixture("ML602", "bad").torch_crop_offsets(size=4).tolist()
    assert offsets[0] == offsets[1] and offsets[2] == offsets[3]


def test_reseeding_per_worker_gives_distinct_draws():
    worker0, worker1 = _by_worker(load_fixture("ML602", "good").draws(num_workers=2, size=6))
    assert not set(worker0) & set(worker1)

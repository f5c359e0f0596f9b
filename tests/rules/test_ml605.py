"""ML605 ddp-without-distributed-sampler: a DDP script training from a loader without a
DistributedSampler."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML605")]


FLAGGED = {
    "torchrun script, shuffle=True": ("""
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        def main(ds, model, epochs):
            model = DDP(model)
            loader = DataLoader(ds, batch_size=8, shuffle=True)
            for epoch in range(epochs):
                for batch in loader:
                    model(batch)
        """, (7, 14)),
    "mp.spawn worker, aliases, default sampler, helper of the file": ("""
        import torch.multiprocessing as mp
        import torch.nn.parallel as par
        import torch.utils.data as tud
        def train_epoch(model, data):
            for x in data:
                model(x)
        def worker(rank, ds, model):
            model = par.DistributedDataParallel(model, device_ids=[rank])
            train_data = tud.DataLoader(ds, batch_size=8)
            for epoch in range(3):
                train_epoch(model, train_data)
        if __name__ == "__main__":
            mp.spawn(worker, nprocs=2)
        """, (10, 18)),
    "class trainer": ("""
        import torch
        from torch.utils.data import DataLoader
        class Trainer:
            def __init__(self, ds, model):
                self.model = torch.nn.parallel.DistributedDataParallel(model)
                self.train_loader = DataLoader(ds, shuffle=True)
            def fit(self):
                for epoch in range(10):
                    for x in self.train_loader:
                        self.model(x)
        """, (7, 29)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML605", *where)]


NOT_FLAGGED = {
    "DistributedSampler": """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, model):
            model = DDP(model)
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for x in loader:
                model(x)
        """,
    "conditional sampler": """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, model, distributed):
            model = DDP(model) if distributed else model
            sampler = DistributedSampler(ds) if distributed else None
            loader = DataLoader(ds, shuffle=sampler is None, sampler=sampler)
            for x in loader:
                model(x)
        """,
    "no DDP in the file": """
        from torch.utils.data import DataLoader
        def main(ds, model):
            loader = DataLoader(ds, shuffle=True)
            for x in loader:
                model(x)
        """,
    "evaluation loader": """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        def main(ds, model):
            model = DDP(model)
            val_loader = DataLoader(ds, batch_size=8)
            for x in val_loader:
                model(x)
        """,
    "IterableDataset sharding by rank": """
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader, IterableDataset
        class Shards(IterableDataset):
            def __iter__(self):
                yield from range(dist.get_rank(), 100, dist.get_world_size())
        def main(model):
            model = DDP(model)
            ds = Shards()
            loader = DataLoader(ds, batch_size=4)
            for x in loader:
                model(x)
        """,
    "Accelerate prepares the loader": """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        def main(accelerator, ds, model):
            model = DDP(model)
            loader = DataLoader(ds, shuffle=True)
            loader = accelerator.prepare(loader)
            for x in loader:
                model(x)
        """,
    "Lightning trainer gets the loader": """
        import lightning as L
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        def main(ds, model):
            wrapped = DDP(model)
            loader = DataLoader(ds, shuffle=True)
            L.Trainer().fit(model, loader)
        """,
    "keyword arguments from a dict": """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        def main(ds, model, kwargs):
            model = DDP(model)
            loader = DataLoader(ds, **kwargs)
            for x in loader:
                model(x)
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_message_says_what_to_do():
    (diag,) = lint(textwrap.dedent(FLAGGED["torchrun script, shuffle=True"][0]), "ML605")
    assert "sampler=DistributedSampler(dataset)" in diag.message and "every rank" in diag.message

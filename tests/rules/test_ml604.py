"""ML604 distributed-sampler-without-set-epoch: a DistributedSampler whose loader is iterated once
per epoch with no `set_epoch` call on it."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML604")]


FLAGGED = {
    "named sampler, nested loops": ("""
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        def main(ds, epochs):
            sampler = DistributedSampler(ds)
            loader = DataLoader(ds, sampler=sampler)
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """, (5, 15)),
    "aliases: import torch.utils.data as D": ("""
        import torch.utils.data as D
        def main(ds, epochs):
            s = D.DistributedSampler(ds, num_replicas=2, rank=0)
            dl = D.DataLoader(ds, batch_size=8, sampler=s)
            for ep in range(epochs):
                for i, (x, y) in enumerate(dl):
                    pass
        """, (4, 9)),
    "inline sampler, fully qualified": ("""
        import torch
        def main(ds, epochs):
            loader = torch.utils.data.DataLoader(ds, sampler=torch.utils.data.distributed.DistributedSampler(ds))
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """, (4, 54)),
    "helper of the same file iterates the loader": ("""
        from torch.utils.data import DataLoader, DistributedSampler
        def train_one_epoch(model, data_loader):
            for x in data_loader:
                model(x)
        def main(ds, model, epochs):
            train_sampler = DistributedSampler(ds)
            train_loader = DataLoader(ds, sampler=train_sampler)
            for epoch in range(epochs):
                train_one_epoch(model, train_loader)
        """, (7, 21)),
    "batch sampler over the distributed sampler": ("""
        import torch
        from torch.utils.data import DataLoader, BatchSampler
        from torch.utils.data.distributed import DistributedSampler
        def main(ds, epochs):
            sampler_train = DistributedSampler(ds)
            batch_sampler_train = BatchSampler(sampler_train, 2, drop_last=True)
            loader = DataLoader(ds, batch_sampler=batch_sampler_train)
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """, (6, 21)),
    "class: method iterating, called per epoch": ("""
        from torch.utils.data import DataLoader, DistributedSampler
        class Trainer:
            def __init__(self, ds):
                self.sampler = DistributedSampler(ds)
                self.loader = DataLoader(ds, sampler=self.sampler)
            def _run_epoch(self):
                for batch in self.loader:
                    pass
            def train(self, epochs):
                for epoch in range(epochs):
                    self._run_epoch()
        """, (5, 24)),
    "while True with a manual epoch counter": ("""
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        def main(ds, max_epochs):
            sampler = DistributedSampler(ds, shuffle=True)
            loader = DataLoader(ds, sampler=sampler)
            epoch = 0
            while True:
                for batch in loader:
                    pass
                epoch += 1
                if epoch == max_epochs:
                    break
        """, (5, 15)),
    "set_epoch on another object": ("""
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, other, epochs):
            sampler = DistributedSampler(ds)
            loader = DataLoader(ds, sampler=sampler)
            for epoch in range(epochs):
                other.set_epoch(epoch)
                for batch in loader:
                    pass
        """, (4, 15)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML604", *where)]


NOT_FLAGGED = {
    "set_epoch on the sampler": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, epochs):
            sampler = DistributedSampler(ds)
            loader = DataLoader(ds, sampler=sampler)
            for epoch in range(epochs):
                sampler.set_epoch(epoch)
                for batch in loader:
                    pass
        """,
    "set_epoch through loader.sampler": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, epochs):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for epoch in range(epochs):
                loader.sampler.set_epoch(epoch)
                for batch in loader:
                    pass
        """,
    "set_epoch in a helper called per epoch": """
        from torch.utils.data import DataLoader, DistributedSampler
        def run_epoch(data_loader, epoch):
            data_loader.sampler.set_epoch(epoch)
            for batch in data_loader:
                pass
        def main(ds, epochs):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for epoch in range(epochs):
                run_epoch(loader, epoch)
        """,
    "sampler handed to an imported helper": """
        from torch.utils.data import DataLoader, DistributedSampler
        from utils import train
        def main(ds, epochs):
            sampler1 = DistributedSampler(ds)
            train_loader = DataLoader(ds, sampler=sampler1)
            for epoch in range(epochs):
                train(train_loader, epoch, sampler=sampler1)
        """,
    "loader handed to an imported helper (may set the epoch)": """
        from torch.utils.data import DataLoader, DistributedSampler
        from engine import train_one_epoch
        def main(ds, epochs):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for epoch in range(epochs):
                train_one_epoch(loader, epoch)
        """,
    "shuffle=False": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, epochs):
            sampler = DistributedSampler(ds, shuffle=False)
            loader = DataLoader(ds, sampler=sampler)
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """,
    "evaluation loader": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, epochs):
            val_sampler = DistributedSampler(ds)
            val_loader = DataLoader(ds, sampler=val_sampler)
            for epoch in range(epochs):
                for batch in val_loader:
                    pass
        """,
    "single pass (no epoch loop)": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for batch in loader:
                pass
        """,
    "Accelerate prepares the loader": """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(accelerator, ds, epochs):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            loader = accelerator.prepare(loader)
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """,
    "Lightning trainer gets the loader": """
        import lightning as L
        from torch.utils.data import DataLoader, DistributedSampler
        def main(model, ds):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            L.Trainer(max_epochs=10).fit(model, loader)
        """,
    "builder returns the loader": """
        from torch.utils.data import DataLoader, DistributedSampler
        def build(ds):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            return loader
        """,
    "another library's DistributedSampler": """
        from torch.utils.data import DataLoader
        from mylib.samplers import DistributedSampler
        def main(ds, epochs):
            loader = DataLoader(ds, sampler=DistributedSampler(ds))
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_message_names_the_call_to_add():
    src = """
        from torch.utils.data import DataLoader, DistributedSampler
        def main(ds, epochs):
            train_sampler = DistributedSampler(ds)
            loader = DataLoader(ds, sampler=train_sampler)
            for epoch in range(epochs):
                for batch in loader:
                    pass
        """
    (diag,) = lint(textwrap.dedent(src), "ML604")
    assert "`train_sampler.set_epoch(epoch)`" in diag.message
    assert "same shuffle order" in diag.message

"""ML602 dataset-rng-shared-across-workers: a Dataset's own generator object drawn from per sample,
never reseeded per worker."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML602")]


FLAGGED = {
    "numpy default_rng": ("""
        import numpy as np
        from torch.utils.data import Dataset
        class D(Dataset):
            def __init__(self):
                self.rng = np.random.default_rng(0)
            def __getitem__(self, i):
                return self.rng.random()
        """, (6, 20)),
    "RandomState, aliases": ("""
        from numpy.random import RandomState as RS
        import torch.utils.data as tud
        class D(tud.Dataset):
            def __init__(self, seed):
                self.state = RS(seed)
            def __getitem__(self, i):
                return self.state.randint(10)
        """, (6, 22)),
    "random.Random in an IterableDataset": ("""
        import random
        from torch.utils.data import IterableDataset
        class S(IterableDataset):
            def __init__(self):
                self.r = random.Random()
            def __iter__(self):
                while True:
                    yield self.r.random()
        """, (6, 18)),
    "torch.Generator as generator= argument": ("""
        import torch
        from torch.utils import data
        class Crops(data.Dataset):
            def __init__(self):
                self.g = torch.Generator()
                self.g.manual_seed(0)
            def __getitem__(self, i):
                return torch.randint(0, 8, (2,), generator=self.g)
        """, (6, 18)),
    "drawn in a helper method (albumentations-style transform)": ("""
        import numpy as np
        from torch.utils.data import Dataset
        class Seg(Dataset):
            def __init__(self, images, transform):
                self.images = images
                self.transform = transform
                self.rng = np.random.default_rng()
            def _flip(self, x):
                return x[:, ::-1] if self.rng.random() < 0.5 else x
            def __getitem__(self, i):
                x = self.transform(image=self.images[i])["image"]
                return self._flip(x)
        """, (8, 20)),
    "subclass of a dataset class of the file": ("""
        import numpy as np
        from torchvision.datasets import CIFAR10
        class Base(CIFAR10):
            pass
        class Noisy(Base):
            def __init__(self, *a):
                super().__init__(*a)
                self.rng = np.random.default_rng(1)
            def __getitem__(self, i):
                x, y = super().__getitem__(i)
                return x + self.rng.normal(), y
        """, (9, 20)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML602", *where)]


NOT_FLAGGED = {
    "global numpy and random (reseeded by PyTorch)": """
        import random
        import numpy as np
        from torch.utils.data import Dataset
        class D(Dataset):
            def __getitem__(self, i):
                return np.random.rand() + random.random()
        """,
    "generator seeded from the index": """
        import numpy as np
        from torch.utils.data import Dataset
        class D(Dataset):
            def __getitem__(self, i):
                rng = np.random.default_rng(i)
                return rng.random()
        """,
    "generator replaced per sample": """
        import numpy as np
        from torch.utils.data import Dataset
        class D(Dataset):
            def __init__(self, seed):
                self.seed = seed
                self.rng = np.random.default_rng(seed)
            def __getitem__(self, i):
                self.rng = np.random.default_rng(self.seed + i)
                return self.rng.random()
        """,
    "reseeded from get_worker_info in __iter__": """
        import random
        from torch.utils.data import IterableDataset, get_worker_info
        class S(IterableDataset):
            def __init__(self):
                self.r = random.Random(0)
            def __iter__(self):
                info = get_worker_info()
                if info is not None:
                    self.r.seed(info.seed)
                yield self.r.random()
        """,
    "reseeded in a worker_init_fn": """
        import numpy as np
        import torch
        from torch.utils.data import Dataset, DataLoader
        class D(Dataset):
            def __init__(self):
                self.rng = np.random.default_rng(0)
            def __getitem__(self, i):
                return self.rng.random()
        def init_worker(worker_id):
            info = torch.utils.data.get_worker_info()
            info.dataset.rng = np.random.default_rng(info.seed)
        loader = DataLoader(D(), num_workers=4, worker_init_fn=init_worker)
        """,
    "generator used only in __init__": """
        import torch
        from torch.utils.data import Dataset
        class D(Dataset):
            def __init__(self, n):
                g = torch.Generator().manual_seed(0)
                self.perm = torch.randperm(n, generator=g)
                self.g = torch.Generator()
            def __getitem__(self, i):
                return self.perm[i]
        """,
    "not a Dataset": """
        import numpy as np
        class Env:
            def __init__(self):
                self.rng = np.random.default_rng(0)
            def __getitem__(self, i):
                return self.rng.random()
        """,
    "generator passed in (its seeding is the caller's)": """
        from torch.utils.data import Dataset
        class D(Dataset):
            def __init__(self, rng):
                self.rng = rng
            def __getitem__(self, i):
                return self.rng.random()
        """,
    "get_worker_info only to shard is not a reseed, but nothing is drawn here": """
        from torch.utils.data import IterableDataset, get_worker_info
        import random
        class S(IterableDataset):
            def __init__(self, items):
                self.items = items
                self.r = random.Random(0)
            def __iter__(self):
                info = get_worker_info()
                return iter(self.items[info.id::info.num_workers])
        """,
}


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


def test_sharding_with_get_worker_info_does_not_count_as_reseeding():
    src = """
        import random
        from torch.utils.data import IterableDataset, get_worker_info
        class S(IterableDataset):
            def __init__(self, items):
                self.items = items
                self.r = random.Random(0)
            def __iter__(self):
                info = get_worker_info()
                items = self.items[info.id::info.num_workers]
                self.r.shuffle(items)
                return iter(items)
        """
    assert _lint(src) == [("ML602", 7, 18)]


def test_message_says_what_to_do():
    src = FLAGGED["numpy default_rng"][0]
    (diag,) = lint(textwrap.dedent(src), "ML602")
    assert "`self.rng`" in diag.message and "worker_init_fn" in diag.message and "same state" in diag.message

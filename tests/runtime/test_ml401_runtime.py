"""ML401 runtime proof: after a few optimizer steps on an objective that treats every row alike,
the rows of the zero-initialised parameters are still identical; with the fix they differ."""

import pytest
import torch

from .conftest import load_fixture

D, M, STEPS = 4, 3, 5


def _distinct_rows(t: torch.Tensor) -> int:
    return len({tuple(row.tolist()) for row in t.detach().reshape(t.shape[0], -1)})


def _train_menu(name):
    torch.manual_seed(0)
    module = load_fixture("ML401", name)
    menu = module.MenuElement(D, M, module.Flow(M))
    opt = torch.optim.Adam([menu.mus], lr=0.05)
    target = torch.rand(M)
    start = menu.mus.detach().clone()
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((menu.bundles() - target) ** 2).sum()  # the same objective for every menu element
        loss.backward()
        opt.step()
    return menu, start


def test_zero_menu_elements_never_separate():
    menu, start = _train_menu("bad")
    assert not torch.equal(menu.mus.detach(), start), "the parameter did train"
    assert _distinct_rows(menu.mus) == 1
    assert _distinct_rows(menu.bundles()) == 1, "every menu element maps to the same bundle"


def test_fixed_menu_elements_differ():
    menu, _ = _train_menu("fixed")
    assert _distinct_rows(menu.mus) == D
    assert _distinct_rows(menu.bundles()) == D


@pytest.mark.parametrize("name,distinct", [("bad", 1), ("fixed", 5)])
def test_prototypes_under_a_symmetric_loss(name, distinct):
    torch.manual_seed(0)
    module = load_fixture("ML401", name)
    protos = module.Prototypes(5, 2)
    opt = torch.optim.SGD(protos.parameters(), lr=0.1)
    x = torch.randn(16, 2)
    for _ in range(STEPS):
        opt.zero_grad()
        protos(x).mean().backward()  # pulls every centre towards the data alike
        opt.step()
    assert _distinct_rows(protos.centers) == distinct


@pytest.mark.parametrize("name,distinct", [("bad", 1), ("fixed", 3)])
def test_codebook_and_queries_start(name, distinct):
    torch.manual_seed(0)
    module = load_fixture("ML401", name)
    book = module.Codebook(3, 2, torch.empty(3, 2))
    assert _distinct_rows(book.codebook) == distinct
    assert _distinct_rows(book.queries) == distinct
    assert book.queries.dtype == torch.float32

"""ML802 runtime proof: with the original loop the second epoch's training forwards run in eval mode
(`model.training is False`: dropout off); with train() restored every training forward is in train mode."""

import torch

from .conftest import load_fixture


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8))
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.head(self.backbone(x))


def _modes(name):
    torch.manual_seed(0)
    model = Net()
    loader = [(torch.randn(6, 4), torch.randn(6, 1)) for _ in range(2)]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    modes = []
    load_fixture("ML802", name).train(model, loader, loader, opt, epochs=2, modes=modes)
    return modes


def test_original_trains_the_second_epoch_in_eval_mode():
    assert _modes("bad") == [True, True, False, False]


def test_restored_trains_every_epoch_in_train_mode():
    assert _modes("good") == [True, True, True, True]

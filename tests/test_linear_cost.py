"""Rules cost time linear in the file: generated files with hundreds to thousands of candidates in
one scope (at module level and inside one function), one per rule family's candidate shape.

Work is counted, not timed: `mllint.traversal.WORK` counts the nodes the rules' sub-walks visit
and the entries the analysis layer's queries scan. A rule that walked its scope again for every
candidate (as ML103, ML102, ML201 and ML202 once did) makes that count grow with the square of
the file.
"""

from __future__ import annotations

import pytest

from mllint.testing import run
from mllint.engine.traversal import WORK

# Per rule: (imports, setup at the top of the scope, the candidate block repeated with i = 0, 1, ...).
SHAPES = {
    "ML103": ("import torch\n", "", "b{i} = a{i} / a{i}.std()\n"),
    "ML102": ("import torch\n", "scaler = torch.cuda.amp.GradScaler()\n",
              "scaler.scale(loss{i}).backward()\n"
              "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
              "scaler.step(opt)\n"
              "scaler.update()\n"),
    "ML201": ("import torch\n", "",
              "returns_{i} = (returns_{i} - returns_{i}.mean()) / (returns_{i}.std() + 1e-8)\n"
              "loss_{i} = ((values - returns_{i}) ** 2).mean()\n"),
    # one name normalised again and again, never reaching a value loss: the data-flow query
    # (analysis.flow) must not rescan the name's later uses for every candidate
    "ML201 one name": ("import torch\n", "",
                       "returns = (returns - returns.mean()) / (returns.std() + 1e-8)\n"
                       "w_{i} = returns * 2\n"),
    "ML701": ("", "", "for x in batch:\n    model(x).sum().backward()\n    opt.zero_grad()\n    opt.step()\n"),
    "ML704": ("", "", "for x in batch:\n    model(x).sum().backward()\n    opt.step()\n"),
    "ML705": ("", "", "for i, x in enumerate(batch):\n    model(x).sum().backward()\n"
                      "    if (i + 1) % T == 0:\n        opt.step()\n        opt.zero_grad()\n"),
    "ML105": ("", "", "for x in batch:\n    opt.zero_grad()\n    scaler.scale(model(x).sum()).backward()\n"
                      "    opt.step()\n"),
    # a total assigned again and again: where it is passed is one fact per scope, not one walk per total
    "ML303": ("import torch\n", "",
              "total_steps = int(epochs * n{i} / batch_size)\n"
              "sched{i} = Sched(opt, total_steps=total_steps)\n"),
    # one state carried through many epoch loops: its first binding and each loop's facts once
    "ML601": ("", "state = init()\n",
              "for epoch in range(E):\n"
              "    state = simulate(state, par)\n"
              "    loss = criterion(model(state))\n"
              "    loss.backward()\n"),
    "ML202": ("", "dones = batch.dones\nrewards = batch.rewards\n",
              "for t in reversed(range(T)):\n"
              "    R{i} = rewards[t] + gamma * R{i}\n"),
    # forward loops read from the end, and reverse cumulative sums: no rescan of the scope either
    # the file's init index and helper index are built once, whatever the number of parameters
    "ML401": ("import torch\n", "", "mus{i} = torch.nn.Parameter(torch.zeros(D, m))\nnu{i} = torch.randn(D)\n"),
    "ML202 forward": ("", "dones = batch.dones\nrewards = batch.rewards\n",
                      "for t in range(T):\n"
                      "    k = T - 1 - t\n"
                      "    R{i} = rewards[k] + gamma * R{i}\n"),
    "ML202 cumsum": ("import torch\n", "dones = batch.dones\nrewards = batch.rewards\n",
                     "disc{i} = gamma ** torch.arange(T)\n"
                     "G{i} = torch.flip(torch.cumsum(torch.flip(rewards * disc{i}, [0]), 0), [0])\n"),
}


def source(code: str, lines: int, where: str) -> tuple[str, int]:
    """A file of about `lines` lines made of `code`'s candidate block, repeated; (text, blocks)."""
    imports, setup, block = SHAPES[code]
    blocks = max(1, (lines - imports.count("\n") - setup.count("\n") - 3) // block.count("\n"))
    body = setup + "".join(block.format(i=i) for i in range(blocks))
    if where == "function":
        indented = "".join(f"    {line}\n" for line in body.splitlines())
        return f"{imports}\n\ndef train(model, opt, batch, values, T, gamma, *losses):\n{indented}", blocks
    return imports + body, blocks


def work(code: str, lines: int, where: str) -> int:
    text, blocks = source(code, lines, where)
    before = WORK.units
    result = run(text, code.split()[0], prescreen=True)
    spent = WORK.units - before
    assert not result.errors
    assert len(result.diagnostics) == blocks  # every candidate was checked
    return spent


@pytest.mark.parametrize("where", ["module", "function"])
@pytest.mark.parametrize("code", sorted(SHAPES))
def test_work_grows_linearly(code, where):
    small, medium = work(code, 100, where), work(code, 1_000, where)
    assert medium / small <= 11, (small, medium)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["module", "function"])
@pytest.mark.parametrize("code", sorted(SHAPES))
def test_work_grows_linearly_up_to_40k_lines(code, where):
    w1, w10, w40 = work(code, 1_000, where), work(code, 10_000, where), work(code, 40_000, where)
    assert w10 / w1 <= 11, (w1, w10)
    assert w40 / w10 <= 4.5, (w10, w40)

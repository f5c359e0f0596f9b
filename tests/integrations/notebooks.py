"""A notebook shaped like the seed's Colab training notebook (pip installs, shell lines, magics,
a GPU check, outputs with images) with ML101's anti-pattern in one cell, written as Colab writes
files (2-space indent, its own key order, cell ids, no trailing newline) or as Jupyter does."""

from __future__ import annotations

import json

CELLS = [
    ("markdown", "# MARL STL BFT training (T4 optimized)\n\nRun all cells in order."),
    ("code", "!pip install -q torch gymnasium\n%load_ext autoreload\n%autoreload 2"),
    ("code", "import math\n\nimport torch\nfrom torch import nn\n\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'"),
    ("code", "%%bash\nnvidia-smi --query-gpu=name --format=csv\nls -la /content"),
    ("code", "class PolicyTrainer:\n    def __init__(self, model):\n        self.model = model\n"
             "        self.opt = torch.optim.Adam(model.parameters(), lr=3e-4)\n"
             "        self.scaler = torch.amp.GradScaler()\n\n"
             "    def sanitize(self):\n        for p in self.model.parameters():\n"
             "            if p.grad is not None:\n"
             "                p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0, neginf=-1.0)"),
    ("code", "%%time\ntrainer = PolicyTrainer(nn.Linear(8, 2))\nlogs = !ls /content\nx = (1\n     % 2)"),
    ("markdown", "Results: value loss exploding."),
    ("code", "trainer.model?\n%matplotlib inline\nprint('value loss', 998829.64)"),
]

FIXED_CELL_5 = ("class PolicyTrainer:\n    def __init__(self, model):\n        self.model = model\n"
                "        self.opt = torch.optim.Adam(model.parameters(), lr=3e-4)\n"
                "        self.scaler = torch.amp.GradScaler()\n\n"
                "    def sanitize(self):\n        for p in self.model.parameters():\n"
                "            if p.grad is not None:\n"
                "                p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float(\"inf\"), neginf=float(\"-inf\"))")

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def notebook_dict(cells=CELLS, colab: bool = True) -> dict:
    out = []
    for i, (kind, source) in enumerate(cells, start=1):
        lines = source.splitlines(keepends=True)
        if kind == "markdown":
            cell = {"cell_type": "markdown", "metadata": {"id": f"md{i}"}, "source": lines}
        else:
            cell = {"cell_type": "code", "execution_count": i, "metadata": {"id": f"c{i}", "colab": {"base_uri": "https://localhost:8080/"}},
                    "outputs": [], "source": lines}
            if i == 5:
                cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": PNG, "text/plain": ["<Figure size 640x480 with 1 Axes>"]}},
                                   {"output_type": "stream", "name": "stdout", "text": ["step 1 — loss 0.93\n"]}]
        if not colab:
            cell["id"] = f"cell-{i}"
        out.append(cell)
    nb = {"nbformat": 4, "nbformat_minor": 0 if colab else 5,
          "metadata": {"colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
                       "kernelspec": {"name": "python3", "display_name": "Python 3"},
                       "language_info": {"name": "python"}},
          "cells": out}
    if not colab:  # Jupyter: cells first, sorted keys
        nb = json.loads(json.dumps(nb, sort_keys=True))
    return nb


def notebook_text(colab: bool = True, cells=CELLS) -> str:
    nb = notebook_dict(cells, colab)
    if colab:
        return json.dumps(nb, indent=2, ensure_ascii=True)  # Colab: no trailing newline, \u escapes
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# The seed's MARL Colab notebook (value loss exploding, "Fix #1" / "Fix #2" in cell 15): returns
# computed without the done mask and normalised per batch (ML202, ML201), with an output to keep.
MARL_CELLS = [
    ("markdown", "# MARL STL BFT Training v1 (T4 optimized)"),
    ("code", "!pip install -q gymnasium\n%matplotlib inline"),
    ("code", "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn"),
    ("code", "class PPOAgent:\n"
             "    def __init__(self, value_net, lr=1e-2, gamma=0.99):\n"
             "        self.value_net = value_net\n"
             "        self.optimizer = torch.optim.Adam(value_net.parameters(), lr=lr)\n"
             "        self.gamma = gamma\n"
             "\n"
             "    def compute_gae(self, rewards, dones):\n"
             "        returns = []\n"
             "        return_t = 0.0\n"
             "        for reward, done in zip(reversed(rewards), reversed(dones)):\n"
             "            return_t = reward + self.gamma * return_t\n"
             "            returns.insert(0, return_t)\n"
             "        return returns\n"
             "\n"
             "    def update_policy(self, states, returns, advantages):\n"
             "        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)\n"
             "        # Normalize returns\n"
             "        returns = (returns - returns.mean()) / (returns.std() + 1e-8)\n"
             "        values = self.value_net(states).squeeze(-1)\n"
             "        value_loss = F.mse_loss(values, returns)\n"
             "        self.optimizer.zero_grad()\n"
             "        value_loss.backward()\n"
             "        self.optimizer.step()\n"
             "        return value_loss.item()"),
    ("code", "agent = PPOAgent(nn.Linear(4, 1))\n%time agent.update_policy(torch.randn(8, 4), torch.randn(8), torch.randn(8))"),
]

"""ML103 std-division-without-epsilon: flagged variants, near misses, fix output."""

from __future__ import annotations

import textwrap

import pytest

from mllint.testing import fix, lint

CODE = "ML103"


def _src(body: str, imports: str = "import torch\nimport numpy as np\n") -> str:
    return imports + textwrap.dedent(body)


def _rows(src: str) -> list[int]:
    diags = lint(src, CODE)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


FLAGGED = [
    # seed line
    ("def f(returns):\n    returns = (returns - returns.mean()) / returns.std()\n", 4),
    ("def f(x):\n    return x / torch.std(x)\n", 4),
    ("def f(x):\n    return x / np.std(x)\n", 4),
    ("def f(x):\n    return x / x.std(0)\n", 4),
    ("def f(x):\n    return x / x.std(dim=0, keepdim=True)\n", 4),
    ("def f(x):\n    x /= x.std()\n    return x\n", 4),
    ("def f(x):\n    std = x.std()\n    y = (x - x.mean()) / std\n    return y\n", 5),
    ("def f(x):\n    std = x.std(0)\n    return x / std[:, None]\n", 5),
    ("def f(x):\n    std = x.std(0)\n    return x / std.unsqueeze(0)\n", 5),
    ("def f(x):\n    s = x.std().item()\n    return x / s\n", 5),
    ("def f(x):\n    std, mean = torch.std_mean(x, dim=0)\n    return (x - mean) / std\n", 5),
    ("def f(x):\n    return x.div(x.std())\n", 4),
    ("def f(x):\n    x.div_(x.std())\n", 4),
    ("def f(x):\n    return torch.div(x, torch.std(x))\n", 4),
    ("def f(x):\n    return np.divide(x, np.std(x, axis=0))\n", 4),
    ("def f(x):\n    return 1.0 / x.std()\n", 4),
    ("def f(x):\n    return x / np.nanstd(x)\n", 4),
    ("def f(xs):\n    return [(x - x.mean()) / x.std() for x in xs]\n", 4),
    ("def f(xs):\n    for x in xs:\n        yield x / x.std()\n", 5),
    ("class A:\n    def f(self, x):\n        def g():\n            return x / x.std()\n        return g\n", 6),
    # bound in the outer function, divided in a nested one
    ("def f(x):\n    std = x.std()\n    def g(y):\n        return y / std\n    return g\n", 6),
    # multi-line divisor
    ("def f(x):\n    return x / torch.std(\n        x,\n        dim=0,\n    )\n", 4),
    # module level
    ("x = torch.randn(8)\nx_norm = (x - x.mean()) / x.std()\n", 4),
    # pandas / any .std() method
    ("def f(df):\n    return (df - df.mean()) / df.std()\n", 4),
    # bound by unpacking, scaled by a constant factor
    ("def f(r):\n    mean, std = r.mean(), r.std()\n    return (r - mean) / std\n", 5),
    ("def f(x):\n    return (x - x.mean()) / (2.0 * x.std())\n", 4),
    ("def f(x, k):\n    return x / (x.std(0) * k)\n", 4),
    # a tensor built from shapes but filled with data, or data from attributes / a tensor() copy
    ("def f(returns, n):\n    buf = torch.zeros(n)\n    buf[:] = returns\n    return buf / buf.std()\n", 6),
    ("class A:\n    def f(self):\n        x = self.returns - self.baseline\n        return x / x.std()\n", 6),
    ("def f(rs):\n    r = torch.tensor(rs)\n    return (r - r.mean()) / r.std()\n", 5),
    ("def f(x, n):\n    t = torch.arange(n) * x\n    return t / t.std()\n", 5),
    ("def f(x, n):\n    t = torch.zeros(n)\n    t = t + x\n    return t / t.std()\n", 6),
]


@pytest.mark.parametrize("body,row", FLAGGED)
def test_flagged(body, row):
    assert _rows(_src(body)) == [row]


@pytest.mark.parametrize("imports,body", [
    ("import torch as T\n", "def f(x):\n    return x / T.std(x)\n"),
    ("from torch import std\n", "def f(x):\n    return x / std(x)\n"),
    ("import numpy\n", "def f(x):\n    return x / numpy.std(x)\n"),
    ("from numpy import std as sd\n", "def f(x):\n    return x / sd(x)\n"),
    ("import jax.numpy as jnp\n", "def f(x):\n    return x / jnp.std(x)\n"),
])
def test_aliases(imports, body):
    assert _rows(imports + body) == [3]


NOT_FLAGGED = [
    "def f(x):\n    return x / (x.std() + 1e-8)\n",
    "def f(x, eps):\n    return x / (x.std() + eps)\n",
    "class A:\n    def f(self, x):\n        return x / (x.std() + self.eps)\n",
    "def f(x):\n    return x / (1e-8 + x.std())\n",
    "def f(x):\n    return x / x.std().clamp(min=1e-6)\n",
    "def f(x):\n    return x / x.std().clamp_min(1e-6)\n",
    "def f(x):\n    return x / x.std().clip(1e-6)\n",
    "def f(x):\n    return x / torch.clamp(x.std(), min=1e-6)\n",
    "def f(x):\n    return x / max(x.std(), 1e-6)\n",
    "def f(x):\n    return x / torch.maximum(x.std(), torch.tensor(1e-6))\n",
    "def f(x):\n    return x / np.maximum(np.std(x), 1e-6)\n",
    "def f(x):\n    std = x.std()\n    return torch.where(std > 0, x / std, x)\n",
    "def f(x):\n    std = x.std()\n    if std > 0:\n        x = x / std\n    return x\n",
    "def f(x):\n    std = x.std()\n    if std == 0:\n        return x\n    return x / std\n",
    "def f(x):\n    if x.std() > 1e-6:\n        x = x / x.std()\n    return x\n",
    "def f(x):\n    std = x.std()\n    return x / std if std > 0 else x\n",
    "def f(x):\n    std = x.std(0)\n    std[std == 0] = 1.0\n    return x / std\n",
    "def f(x):\n    std = x.std(0)\n    std.clamp_(min=1e-6)\n    return x / std\n",
    "def f(x):\n    std = x.std(0)\n    if np.isclose(std, 0).any():\n        return x\n    return x / std\n",
    "def f(x):\n    std = x.std()\n    assert std.min() > 0\n    return x / std\n",
    "def f(x):\n    std = x.std() + 1e-8\n    return x / std\n",
    "def f(x):\n    std = x.std()\n    std = std.clamp(min=1e-5)\n    return x / std\n",
    "def f(x):\n    std = x.std()\n    std += 1e-8\n    return x / std\n",
    "def f(x, std):\n    return x / std\n",
    "class A:\n    def f(self, x):\n        return (x - self.mean) / self.std\n",
    "def f(x, var, eps):\n    return x / torch.sqrt(var + eps)\n",
    "def f(x, m):\n    return m(x) / 2\n",
    "ln = torch.nn.LayerNorm(8)\nbn = torch.nn.BatchNorm1d(8)\ndef f(x):\n    return ln(x) + bn(x)\n",
    # multiplication by the std (de-normalisation) is fine
    "def f(x):\n    return x * x.std()\n",
    # std of a config value, not of data: a std attribute lookup, not a call
    "def f(x, cfg):\n    return x / cfg.std\n",
    "import statistics\ndef f(x):\n    return 1 / statistics.stdev(x)\n",
    "def f(r):\n    mean, std = r.mean(), r.std() + 1e-8\n    return (r - mean) / std\n",
    "def f(x):\n    return x / (2.0 * x.std() + 1e-6)\n",
    "def f(x):\n    return x / (2.0 * x.std().clamp(min=1e-6))\n",
    "def f(x):\n    return x / (x.std() * x.std().clamp(min=1e-6))\n",
    # transformers' PatchTST: a sinusoidal table built from shapes, the same on every run
    """import math
def f(config, num_patches):
    if config.positional_encoding_type == "random":
        position_enc = torch.nn.Parameter(torch.randn(num_patches, config.d_model))
        return position_enc
    position_enc = torch.zeros(num_patches, config.d_model)
    position = torch.arange(0, num_patches).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, config.d_model, 2) * -(math.log(10000.0) / config.d_model))
    position_enc[:, 0::2] = torch.sin(position * div_term)
    position_enc[:, 1::2] = torch.cos(position * div_term)
    position_enc = position_enc - position_enc.mean()
    position_enc = position_enc / (position_enc.std() * 10)
    position_enc = torch.nn.Parameter(position_enc, requires_grad=False)
    return position_enc
""",
    "def f(n):\n    grid = np.linspace(0, 1, n) ** 2\n    return grid / np.std(grid)\n",
]


@pytest.mark.parametrize("body", NOT_FLAGGED)
def test_not_flagged(body):
    assert _rows(_src(body)) == []


@pytest.mark.parametrize("before,after", [
    ("def f(r):\n    r = (r - r.mean()) / r.std()\n", "def f(r):\n    r = (r - r.mean()) / (r.std() + 1e-8)\n"),
    ("def f(x):\n    x /= x.std()\n", "def f(x):\n    x /= x.std() + 1e-8\n"),
    ("def f(x):\n    return x / (x.std())\n", "def f(x):\n    return x / (x.std() + 1e-8)\n"),
    ("def f(x):\n    s = x.std()\n    return x / s, s\n", "def f(x):\n    s = x.std()\n    return x / (s + 1e-8), s\n"),
    ("def f(x):\n    return x.div(x.std(0))\n", "def f(x):\n    return x.div(x.std(0) + 1e-8)\n"),
    ("def f(x):\n    return x / (2.0 * x.std())\n", "def f(x):\n    return x / (2.0 * x.std() + 1e-8)\n"),
    ("def f(x):\n    return torch.div(x, std=None) if 0 else torch.div(x, x.std())\n",
     "def f(x):\n    return torch.div(x, std=None) if 0 else torch.div(x, x.std() + 1e-8)\n"),
])
def test_fix(before, after):
    src, want = _src(before), _src(after)
    assert fix(src, CODE) == want
    assert lint(want, CODE) == []


def test_every_division_by_a_bound_std_is_reported():
    src = _src("def f(x, y):\n    std = x.std()\n    return x / std, y / std\n")
    assert _rows(src) == [5, 5]
    assert fix(src, CODE).count("(std + 1e-8)") == 2


def test_message_says_what_and_what_to_do():
    (diag,) = lint(_src("def f(x):\n    return x / x.std()\n"), CODE)
    assert "without an epsilon" in diag.message and "(x.std() + 1e-8)" in diag.message
    # an epsilon does not repair the NaN of a batch of one: the message says what does
    assert "unbiased=False" in diag.message
    assert diag.fix is not None and diag.fix.applicability.value == "safe"



SEED = ("import torch\n\n\nclass Agent:\n    def update(self, returns):\n"
        "        returns = (returns - returns.mean()) / returns.std()\n        return returns\n")


def test_seed_line_is_also_ml201_and_the_fixes_compose():
    assert sorted(d.code for d in lint(SEED, ["ML103", "ML201"])) == ["ML103", "ML201"]
    safe = fix(SEED, ["ML103", "ML201"])
    assert "(returns.std() + 1e-8)" in safe
    assert [d.code for d in lint(safe, ["ML103", "ML201"])] == ["ML201"]
    both = fix(SEED, ["ML103", "ML201"], unsafe=True)
    compile(both, "fixed.py", "exec")
    assert lint(both, ["ML103", "ML201"]) == []

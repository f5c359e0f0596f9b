"""ML101 nan-to-num-masks-overflow: nan_to_num on gradients without posinf/neginf=inf."""

import textwrap

import pytest

from mllint.testing import codes, fix, lint


def ml101(source: str) -> list[str]:
    return codes(textwrap.dedent(source), "ML101")


FLAGGED = {
    "function_on_grad": "import torch\np.grad = torch.nan_to_num(p.grad)\n",
    "method_on_grad": "import torch\np.grad = p.grad.nan_to_num(nan=0.0)\n",
    "in_place": "import torch\np.grad.nan_to_num_(nan=0.0, posinf=1.0, neginf=-1.0)\n",
    "grad_data": "import torch\np.grad.data = torch.nan_to_num(p.grad.data, nan=0.0)\n",
    "finite_posinf_only": 'import torch\np.grad = torch.nan_to_num(p.grad, posinf=1e4, neginf=float("-inf"))\n',
    "positional_finite": "import torch\np.grad = torch.nan_to_num(p.grad, 0.0, 1.0, -1.0)\n",
    "name_bound_to_grad": """
        import torch
        def sanitize(model):
            for p in model.parameters():
                g = p.grad
                p.grad = torch.nan_to_num(g, nan=0.0)
        """,
    "autograd_grad": """
        import torch
        def step(loss, params):
            grads = torch.autograd.grad(loss, params)
            return [torch.nan_to_num(g) for g in grads]
        """,
    "in_a_class_method": """
        import torch
        class Trainer:
            def sanitize_gradients(self):
                for param in self.model.parameters():
                    if param.grad is not None:
                        param.grad.data = torch.nan_to_num(param.grad.data, nan=0.0, posinf=1.0, neginf=-1.0)
        """,
    "dict_of_grads_items": """
        import torch
        def sanitize(model):
            grads = {n: p.grad for n, p in model.named_parameters()}
            for n, g in grads.items():
                grads[n] = torch.nan_to_num(g, nan=0.0)
        """,
    "dict_of_grads_values": """
        import torch
        def sanitize(model):
            grads = {n: p.grad for n, p in model.named_parameters()}
            for g in grads.values():
                g.nan_to_num_(nan=0.0)
        """,
}

NOT_FLAGGED = {
    "dict_of_activations": """
        import torch
        def clean(acts):
            acts = {k: v.detach() for k, v in acts.items()}
            for k, v in acts.items():
                acts[k] = torch.nan_to_num(v)
        """,
    "activations": "import torch\nh = torch.nan_to_num(model(x), posinf=1e4, neginf=-1e4)\n",
    "loss": "import torch\nloss = torch.nan_to_num(loss, nan=0.0)\n",
    "inputs": "import torch\nx = torch.nan_to_num(batch['x'])\n",
    "numpy_metric": "import numpy as np\nerr = np.nan_to_num(p.grad)\n",
    "keeps_inf": 'import torch\np.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float("inf"), neginf=float("-inf"))\n',
    "keeps_inf_math": "import math\nimport torch\np.grad.nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)\n",
    "keeps_inf_torch": "import torch\np.grad = p.grad.nan_to_num(posinf=torch.inf, neginf=-torch.inf)\n",
    "metric_named_like_a_grad": "import torch\ngrad_norm_history = torch.stack(xs)\ny = torch.nan_to_num(grad_norm_history)\n",
    "torch_is_a_parameter": "def f(torch, x):\n    return torch.nan_to_num(x)\n",
}


@pytest.mark.parametrize("source", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(source):
    assert ml101(source) == ["ML101"]


@pytest.mark.parametrize("source", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(source):
    assert ml101(source) == []


def test_fix_keeps_every_other_argument():
    source = "import torch\np.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0)\n"
    assert fix(source, "ML101") == \
        'import torch\np.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float("inf"), neginf=float("-inf"))\n'


@pytest.mark.parametrize("before,after", [
    # one argument per line: a comment stays on its argument's line, and is not copied
    ("p.grad = torch.nan_to_num(\n    p.grad,\n    nan=0.0,  # zero out NaN\n)\n",
     'p.grad = torch.nan_to_num(\n    p.grad,\n    nan=0.0,  # zero out NaN\n    posinf=float("inf"),\n'
     '    neginf=float("-inf"),\n)\n'),
    ("p.grad = torch.nan_to_num(\n    p.grad,\n    nan=0.0,  # zero out NaN\n    posinf=1.0,\n)\n",
     'p.grad = torch.nan_to_num(\n    p.grad,\n    nan=0.0,  # zero out NaN\n    posinf=float("inf"),\n'
     '    neginf=float("-inf"),\n)\n'),
    # the closing parenthesis on its own line stays there
    ("p.grad = torch.nan_to_num(\n    p.grad, nan=0.0\n)\n",
     'p.grad = torch.nan_to_num(\n    p.grad, nan=0.0, posinf=float("inf"), neginf=float("-inf")\n)\n'),
])
def test_fix_keeps_the_calls_layout_and_comments(before, after):
    assert fix("import torch\n" + before, "ML101") == "import torch\n" + after


def test_message_says_what_is_wrong_and_what_to_do():
    [d] = lint("import torch\np.grad = torch.nan_to_num(p.grad)\n", "ML101")
    assert "GradScaler" in d.message and 'posinf=float("inf")' in d.message


def test_finite_nan_with_a_gradscaler_in_the_module_is_mentioned():
    source = "import torch\nscaler = torch.amp.GradScaler()\np.grad = torch.nan_to_num(p.grad, nan=0.0)\n"
    [d] = lint(source, "ML101")
    assert "NaN gradients are still replaced" in d.message

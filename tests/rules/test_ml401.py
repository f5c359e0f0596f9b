"""ML401 zero-initialized-parameter: flagged variants, near misses, fix output."""

from __future__ import annotations

import pytest

from mllint.testing import fix, lint

CODE = "ML401"
HEAD = "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n"


def _cls(*lines: str, head: str = HEAD) -> str:
    return head + "".join(f"        {line}\n" for line in lines)


def _rows(src: str) -> list[int]:
    diags = lint(src, CODE)
    assert all(d.code == CODE for d in diags)
    return [d.start.row for d in diags]


FLAGGED = [
    "self.mus = nn.Parameter(torch.zeros(D, m))",
    "self.mus = nn.Parameter(torch.zeros((D, m)))",
    "self.mus = nn.Parameter(torch.zeros([D, m]))",
    "self.mus = nn.Parameter(torch.zeros(size=(D, m)))",
    "self.mus = nn.Parameter(torch.zeros(D, m, dtype=torch.float32, device='cpu'))",
    "self.tokens = nn.Parameter(torch.zeros(1, D, m))",
    "self.menu = nn.Parameter(torch.zeros(D, m).to('cpu'))",
    "self.mus = nn.Parameter(torch.full((D, m), 0.0))",
    "self.mus = nn.Parameter(torch.full((D, m), fill_value=0))",
    "self.mus = nn.Parameter(torch.zeros(D, m), requires_grad=True)",
    "self.centers = nn.Parameter(torch.zeros_like(torch.empty(D, m)))",
    "self.centroids = nn.Parameter(torch.zeros(shape))",
    "self.mus = torch.nn.parameter.Parameter(torch.zeros(D, m))",
    "self.register_parameter('mus', nn.Parameter(torch.zeros(D, m)))",
    "setattr(self, 'mus', nn.Parameter(torch.zeros(D, m)))",
    # transformers BLIP-2 / DINOv2-with-registers: identical queries / registers stay identical
    "self.query_tokens = nn.Parameter(torch.zeros(1, D, m))",
    "self.register_tokens = nn.Parameter(torch.zeros(1, D, m))",
    "self.codebook_embed = nn.Parameter(torch.zeros(D, m))",
    "self.menus = nn.ParameterList([nn.Parameter(torch.zeros(D, m)) for _ in range(3)])",
    "self.mus = nn.Parameter(torch.empty(D, m).new_zeros(D, m))",
    "self.mus2 = nn.Parameter(torch.zeros(D, m))",
]


@pytest.mark.parametrize("line", FLAGGED)
def test_flagged(line):
    assert _rows(_cls(line)) == [7]


@pytest.mark.parametrize("head", [
    "import torch as T\nimport torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n",
    "import torch\nfrom torch.nn import Parameter\n\n\nclass M(torch.nn.Module):\n    def __init__(self, D, m):\n",
    "from torch import nn, zeros\nimport torch\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n",
])
def test_aliases(head):
    alias = "T" if "as T" in head else "torch"
    param = "Parameter" if "import Parameter" in head else "nn.Parameter"
    create = "zeros(D, m)" if "zeros\n" in head else f"{alias}.zeros(D, m)"
    assert _rows(_cls(f"self.mus = {param}({create})", head=head)) == [7]


def test_zero_init_after_creation():
    src = _cls("self.protos = nn.Parameter(torch.empty(D, m))", "self.reset_parameters()") + \
        "\n    def reset_parameters(self):\n        nn.init.zeros_(self.protos)\n"
    assert _rows(src) == [11]
    for zeroing in ("nn.init.constant_(self.protos, 0.0)", "self.protos.data.zero_()", "self.protos.data.fill_(0)"):
        assert _rows(src.replace("nn.init.zeros_(self.protos)", zeroing)) == [11]


def test_zero_init_after_a_random_creation():
    # the creation is random, but the zero init runs after it: the parameter starts at zero
    src = _cls("self.mus = nn.Parameter(torch.randn(D, m))", "torch.nn.init.zeros_(self.mus)")
    assert _rows(src) == [8]
    # ...unless a later assignment gives it real values (a warm start)
    assert _rows(src + "\n    def warm_start(self, mus):\n        self.mus = nn.Parameter(mus.clone())\n") == []


def test_explicit_zero_init_of_a_layer_classs_own_weight():
    # every instance of the layer is zero: a network of them is the symmetric all-zero network
    src = _cls("self.weight = nn.Parameter(torch.empty(m, D))", "nn.init.zeros_(self.weight)")
    assert _rows(src) == [8]
    assert _rows(src.replace("class M(", "class ZeroLinear(")) == []  # named as zero-initialised


@pytest.mark.parametrize("lines, rows", [
    # forms the candidate pattern reads on CPython's AST (mllint.testing also lints each without it)
    (("self.mus = nn.Parameter(torch.randn(D, m))", "nn.init.zeros_(tensor=self.mus)"), [8]),
    (("self.mus = nn.Parameter(torch.randn(D, m))", "nn.init.constant_(self.mus, val=-0.0)"), [8]),
    (("self.mus = nn.Parameter(torch.randn(D, m))", "self.mus.data.fill_(value=0)"), [8]),
    (("self.mus = nn.Parameter(torch.randn(D, m))", "nn.init.constant_(self.mus, 0.5)"), []),
    (("self.mus = nn.Parameter(torch.randn(D, m))", "self.mus.data.fill_(-1)"), []),
    (("self.register_parameter(name='mus', param=nn.Parameter(torch.zeros(D, m)))",), [7]),
    (("self.register_parameter(f'mus_{D}', nn.Parameter(torch.zeros(D, m)))",), [7]),
    (("kw = {}", "self.mus = nn.Parameter(torch.zeros(D, m), **kw)"), [8]),
    (("self.mus = nn.Parameter(data=torch.full(size=(D, m), fill_value=0.0))",), [7]),
    (("self.mus = nn.Parameter(torch.full((D, m), 1.0))",), []),
    (("self.mus = nn.Parameter(torch.zeros(D, m))", "trunc_normal_(self.mus, std=0.02)"), []),
    (("self.mus = nn.Parameter(torch.zeros(D, m))", "nn.init.normal_(self.mus, std=0.02)"), []),
    (("self.mus = nn.Parameter(torch.zeros(D, m))", "self.mus[0] = 1.0"), []),
    (("self.axis = torch.zeros(D, m)", "self.axis.zero_()"), []),
])
def test_zero_inits_and_creations_in_other_spellings(lines, rows):
    assert _rows(_cls(*lines)) == rows


def test_zero_init_of_a_row_set_submodule_weight():
    src = _cls("self.codebook = nn.Embedding(D, m)", "nn.init.zeros_(self.codebook.weight)")
    assert _rows(src) == [8]


def test_module_level_and_nested():
    src = "import torch\n\ndef build(D, m):\n    def inner():\n        mus = torch.nn.Parameter(torch.zeros(D, m))\n" \
          "        return mus\n    return inner\n"
    assert _rows(src) == [5]


NOT_FLAGGED = [
    "self.bias = nn.Parameter(torch.zeros(D, m))",
    "self.attn_biases = nn.Parameter(torch.zeros(D, m))",
    "self.log_std = nn.Parameter(torch.zeros(D, m))",
    "self.logstd = nn.Parameter(torch.zeros(D, m))",
    "self.log_alpha = nn.Parameter(torch.zeros(D, m))",
    "self.actor_logstd = nn.Parameter(torch.zeros(D, m))",
    "self.mixture_logits = nn.Parameter(torch.zeros(D, m))",
    "self.gamma = nn.Parameter(torch.zeros(D, m))",
    "self.alpha = nn.Parameter(torch.zeros(D, m))",
    "self.gate = nn.Parameter(torch.zeros(D, m))",
    "self.layer_scale = nn.Parameter(torch.zeros(D, m))",
    "self.lora_B = nn.Parameter(torch.zeros(D, m))",
    "self.B = nn.Parameter(torch.zeros(D, m))",
    "self.lora_up = nn.Parameter(torch.zeros(D, m))",
    "self.adapter_up = nn.Parameter(torch.zeros(D, m))",  # an adapter's second factor, like LoRA's B
    "self.adapter_B = nn.Parameter(torch.zeros(D, m))",
    # numbered LayerScale / gates (timm's gamma_1 is gamma1 elsewhere)
    "self.gamma1 = nn.Parameter(torch.zeros(D, m))",
    "self.alpha2 = nn.Parameter(torch.zeros(D, m))",
    "self.ls1 = nn.Parameter(torch.zeros(D, m))",
    "self.attn_gate2 = nn.Parameter(torch.zeros(D, m))",
    "self.zero_conv = nn.Conv2d(D, m, 1); nn.init.zeros_(self.zero_conv.weight)",
    "self.adaLN_modulation = nn.Linear(D, 6 * m); nn.init.zeros_(self.adaLN_modulation.weight)",
    "self.head = nn.Linear(D, m); nn.init.zeros_(self.head.weight)",
    "self.pos_embed = nn.Parameter(torch.zeros(1, D, m))",
    "self.rel_pos_h = nn.Parameter(torch.zeros(2 * D - 1, m))",
    "self.relative_position_bias_table = nn.Parameter(torch.zeros(D, m))",
    "self.weight = nn.Parameter(torch.zeros(D, m))",  # a loading placeholder (quantised layers, routers)
    "self.router_weight = nn.Parameter(torch.zeros(D, m))",
    # transformers unispeech_sat: per-cluster label embeddings, each row trained by its own label
    "self.label_embeddings_concat = nn.Parameter(torch.FloatTensor(D, m)); self.label_embeddings_concat.data.zero_()",
    "self.time_embeddings = nn.Parameter(torch.zeros(1, D, m))",
    "self.scales = nn.Parameter(torch.zeros(D))",
    "self.mus = nn.Parameter(torch.zeros(D))",
    "self.cls_token = nn.Parameter(torch.zeros(1, 1, m))",
    "self.mask_token = nn.Parameter(torch.zeros(1, m))",
    "self.centres = nn.Parameter(torch.zeros(1, 1, m))",
    "self.register_buffer('mus', torch.zeros(D, m))",
    "self.mus = nn.Parameter(torch.zeros(D, m), requires_grad=False)",
    "self.mus = nn.Parameter(torch.zeros(D, m, dtype=torch.int8))",
    "self.mus = nn.Parameter(torch.zeros(D, m, dtype=torch.float8_e4m3fn))",
    "self.mus = nn.Parameter(torch.randn(D, m) * 0.01)",
    "self.mus = nn.Parameter(torch.ones(D, m))",
    "self.kernel = nn.Parameter(torch.zeros(shape))",
    # re-initialised
    "self.mus = nn.Parameter(torch.zeros(D, m)); nn.init.normal_(self.mus, std=0.02)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); nn.init.trunc_normal_(self.mus, std=0.02)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); self.mus.data.normal_(0, 0.02)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); self.mus.data.uniform_(-1, 1)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); self.mus.data.copy_(torch.rand(D, m))",
    "self.mus = nn.Parameter(torch.zeros(D, m)); self.mus.data = torch.rand(D, m)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); self.mus[0] = 1.0",
    "self.mus = nn.Parameter(torch.zeros(D, m)); nn.init.xavier_uniform_(self.mus)",
    "self.mus = nn.Parameter(torch.zeros(D, m)); nn.init.constant_(self.mus, 0.5)",
]


@pytest.mark.parametrize("line", NOT_FLAGGED)
def test_not_flagged(line):
    assert _rows(_cls(line)) == []


@pytest.mark.parametrize("extra", [
    # re-initialised in another method, by an _init_weights applied to the module, a generic loop,
    # an init function imported from elsewhere, or a warm start
    "\n    def reset_parameters(self):\n        nn.init.normal_(self.mus)\n",
    "\n    def _init_weights(self, module):\n        if isinstance(module, M):\n"
    "            module.mus.data.normal_(mean=0.0, std=0.02)\n",
    "\n    def init(self):\n        for p in self.parameters():\n            if p.dim() > 1:\n"
    "                nn.init.xavier_uniform_(p)\n",
    "\n    def init(self):\n        self.apply(init_weights_from_elsewhere)\n",
    "\n    def warm_start(self, mus):\n        self.mus = nn.Parameter(mus.clone())\n",
    "\n\ndef init_all(model):\n    for name, p in model.named_parameters():\n        nn.init.normal_(p)\n",
])
def test_reinitialised_elsewhere_is_not_flagged(extra):
    assert _rows(_cls("self.mus = nn.Parameter(torch.zeros(D, m))") + extra) == []


def test_apply_with_a_local_function_that_ignores_the_parameter_is_still_flagged():
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", "self.apply(self._init_weights)") + \
        "\n    def _init_weights(self, module):\n        if isinstance(module, nn.Linear):\n" \
        "            nn.init.xavier_uniform_(module.weight)\n"
    assert _rows(src) == [7]


def test_unknown_shape_needs_a_row_set_name():
    assert _rows(_cls("self.table = nn.Parameter(torch.zeros(shape))")) == []
    assert _rows(_cls("self.prototypes = nn.Parameter(torch.zeros(shape))")) == [7]


@pytest.mark.parametrize("before,after", [
    ("self.mus = nn.Parameter(torch.zeros(D, m))", "self.mus = nn.Parameter(torch.randn(D, m) * 0.01)"),
    ("self.mus = nn.Parameter(torch.zeros((D, m), dtype=torch.float64, device='cpu'))",
     "self.mus = nn.Parameter(torch.randn((D, m), dtype=torch.float64, device='cpu') * 0.01)"),
    ("self.mus = nn.Parameter(torch.full((D, m), 0.0, dtype=torch.float32))",
     "self.mus = nn.Parameter(torch.randn((D, m), dtype=torch.float32) * 0.01)"),
    ("self.mus = nn.Parameter(torch.full((D, m), 0))", "self.mus = nn.Parameter(torch.randn((D, m)) * 0.01)"),
    ("self.mus = nn.Parameter(torch.zeros(D, m).to('cpu'))",
     "self.mus = nn.Parameter((torch.randn(D, m) * 0.01).to('cpu'))"),
    ("self.centers = nn.Parameter(torch.zeros_like(torch.empty(D, m)))",
     "self.centers = nn.Parameter(torch.randn_like(torch.empty(D, m)) * 0.01)"),
    ("self.mus = nn.Parameter(torch.empty(3).new_zeros(D, m))",
     "self.mus = nn.Parameter(torch.empty(3).new_empty(D, m).normal_(std=0.01))"),
    ("self.mus = nn.Parameter(torch.empty(D, m)); nn.init.zeros_(self.mus)",
     "self.mus = nn.Parameter(torch.empty(D, m)); nn.init.normal_(self.mus, std=0.01)"),
    ("self.mus = nn.Parameter(torch.empty(D, m)); self.mus.data.zero_()",
     "self.mus = nn.Parameter(torch.empty(D, m)); self.mus.data.normal_(std=0.01)"),
])
def test_fix(before, after):
    src, want = _cls(before), _cls(after)
    assert fix(src, CODE) == src, "unsafe fixes need --unsafe-fixes"
    assert fix(src, CODE, unsafe=True) == want
    assert lint(want, CODE) == []


def test_fix_uses_the_modules_alias():
    head = "import torch as T\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n"
    assert "nn.Parameter(T.randn(D, m) * 0.01)" in fix(_cls("self.mus = nn.Parameter(T.zeros(D, m))", head=head),
                                                       CODE, unsafe=True)
    head = "import torch as T\nfrom torch import nn, zeros\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n"
    assert "nn.Parameter(T.randn(D, m) * 0.01)" in fix(_cls("self.mus = nn.Parameter(zeros(D, m))", head=head),
                                                       CODE, unsafe=True)


def test_no_fix_without_a_name_for_torch():
    head = "from torch import nn, zeros\n\n\nclass M(nn.Module):\n    def __init__(self, D, m):\n"
    (diag,) = lint(_cls("self.mus = nn.Parameter(zeros(D, m))", head=head), CODE)
    assert diag.fix is None


def test_message_names_the_parameter_and_the_remedy():
    (diag,) = lint(_cls("self.mus = nn.Parameter(torch.zeros(D, m))"), CODE)
    assert "`mus`" in diag.message and "zeros" in diag.message and "torch.randn" in diag.message
    assert diag.fix.applicability.value == "unsafe"

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
    "self.ln_b = nn.Parameter(torch.zeros(D, m))",  # fairseq's per-adapter LayerNorm biases
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
    # a loader that copies values into attributes named in a list (detectron2's DensePose embedder)
    "\n    def load(self, data):\n        for name in ['mus', 'other']:\n"
    "            getattr(self, name).copy_(torch.tensor(data[name]))\n",
    "\n    def load(self, data):\n        getattr(self, 'mus').data.copy_(data)\n",
])
def test_reinitialised_elsewhere_is_not_flagged(extra):
    assert _rows(_cls("self.mus = nn.Parameter(torch.zeros(D, m))") + extra) == []


def test_gradients_written_by_hand_are_not_flagged():
    # an optimizer's test (timm's tests/test_optim.py): the rows get the gradients written to them
    source = (
        "import torch\nfrom torch.nn import Parameter\n\n\n"
        "def test_step(opt_cls):\n"
        "    param_2d = Parameter(torch.zeros(8, 4))\n"
        "    opt = opt_cls([param_2d], lr=0.1)\n"
        "    for _ in range(3):\n"
        "        param_2d.grad = torch.randn(8, 4)\n"
        "        opt.step()\n")
    assert _rows(source) == []
    assert _rows(source.replace("param_2d.grad = ", "grad = ")) == [6]


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


# ---- family: zero-initialised behind one more step (issue 21) -----------------------------------
def _module(body: str) -> str:
    return "import torch\nfrom torch import nn\n\n\n" + body


FLAG_HEAD = "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self, D, m, {flag}):\n"


@pytest.mark.parametrize("flag,test", [
    ("init=False", "if init:"),
    ("random_init=None", "if random_init:"),
    ("use_random_init=False", "if use_random_init:"),
])
def test_reinitialised_only_behind_a_flag_that_is_off_by_default(flag, test):
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", test, "    nn.init.normal_(self.mus, std=0.02)",
               head=FLAG_HEAD.format(flag=flag))
    (diag,) = lint(src, CODE)
    assert diag.start.row == 7 and "off by default" in diag.message


def test_reinitialised_behind_a_flag_kept_on_the_module():
    src = _cls("self.init = init", "self.mus = nn.Parameter(torch.zeros(D, m))", "self.reset_parameters()",
               head=FLAG_HEAD.format(flag="init=False")) + \
        "\n    def reset_parameters(self):\n        if self.init:\n            nn.init.normal_(self.mus)\n"
    assert _rows(src) == [8]


@pytest.mark.parametrize("flag,test", [
    ("init=True", "if init:"),  # on by default
    ("zero_init=False", "if not zero_init:"),  # the zero start is the opt-in
    ("init", "if init:"),  # no default: the caller decides
    ("init_std=None", "if init_std is not None:"),  # not a plain flag
])
def test_flags_that_reinitialise_by_default_are_not_flagged(flag, test):
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", test, "    nn.init.normal_(self.mus, std=0.02)",
               head=FLAG_HEAD.format(flag=flag))
    assert _rows(src) == []


def test_a_flag_in_the_else_branch_is_the_default_path():
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", "if pretrained:", "    pass", "else:",
               "    nn.init.normal_(self.mus, std=0.02)", head=FLAG_HEAD.format(flag="pretrained=False"))
    assert _rows(src) == []


@pytest.mark.parametrize("loop", [
    "for name, p in self.named_parameters():\n            if 'weight' in name:\n                nn.init.xavier_uniform_(p)\n",
    "for name, p in self.named_parameters():\n            if name.endswith('mus'):\n                continue\n"
    "            nn.init.normal_(p, std=0.02)\n",
    "for n, p in self.named_parameters():\n            if 'mus' not in n and 'bias' not in n:\n"
    "                p.data.normal_(0, 0.02)\n",
])
def test_weight_init_loop_that_skips_the_parameter(loop):
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", "self.fc = nn.Linear(m, m)", "self._init_weights()") + \
        "\n    def _init_weights(self):\n        " + loop
    assert _rows(src) == [7]


@pytest.mark.parametrize("loop", [
    "for name, p in self.named_parameters():\n            if p.dim() > 1:\n                nn.init.xavier_uniform_(p)\n",
    "for name, p in self.named_parameters():\n            if 'bias' in name:\n                nn.init.zeros_(p)\n"
    "            else:\n                nn.init.xavier_uniform_(p)\n",
    "for name, p in self.named_parameters():\n            if 'bias' in name:\n                continue\n"
    "            nn.init.normal_(p, std=0.02)\n",
    "for p in self.parameters():\n            nn.init.normal_(p, std=0.02)\n",
])
def test_weight_init_loop_that_reaches_the_parameter(loop):
    src = _cls("self.mus = nn.Parameter(torch.zeros(D, m))", "self._init_weights()") + \
        "\n    def _init_weights(self):\n        " + loop
    assert _rows(src) == []


@pytest.mark.parametrize("line", [
    "self.embed = nn.Parameter(torch.zeros(num_codes, dim))",
    "self.embedding = nn.Parameter(torch.zeros(self.n_prototypes, dim))",
    "self.table = nn.Parameter(torch.zeros(codebook_size, dim))",
    "self.codes = nn.Parameter(torch.zeros(K, dim))",
    "self.weight = nn.Parameter(torch.zeros(self.num_clusters, dim))",
])
def test_code_tables_by_their_size(line):
    src = "import torch\nfrom torch import nn\n\n\nclass VQ(nn.Module):\n" \
          "    def __init__(self, num_codes, codebook_size, K, dim):\n        " + line + "\n"
    assert _rows(src) == [7]


@pytest.mark.parametrize("zeroing", ["self.embedding.weight.data.zero_()", "nn.init.zeros_(self.embedding.weight)",
                                     "self.embedding.weight.data.fill_(0.0)"])
def test_embedding_codebook_zeroed(zeroing):
    src = "import torch\nfrom torch import nn\n\n\nclass VQ(nn.Module):\n    def __init__(self, num_codes, dim):\n" \
          "        self.embedding = nn.Embedding(num_codes, dim)\n        " + zeroing + "\n"
    assert _rows(src) == [8]
    assert _rows(src.replace("num_codes", "vocab_size")) == []  # a lookup table: each row trains alone


@pytest.mark.parametrize("line", [
    "self.embed = nn.Parameter(torch.zeros(num_positions, dim))",
    "self.pos_table = nn.Parameter(torch.zeros(num_codes, dim))",
    "self.code_bias = nn.Parameter(torch.zeros(num_codes, dim))",
    "self.embed = nn.Parameter(torch.zeros(num_codes))",
    # transformers esmfold2: a per-atom-slot head, not a set of codes
    "self.plddt_weight = nn.Parameter(torch.zeros(config.max_atoms_per_token, dim, 50))",
    "self.atom_embed = nn.Parameter(torch.zeros(num_atoms, dim))",
])
def test_code_table_near_misses(line):
    src = "import torch\nfrom torch import nn\n\n\nclass VQ(nn.Module):\n" \
          "    def __init__(self, num_codes, num_positions, dim):\n        " + line + "\n"
    assert _rows(src) == []


HELPER = "def init_layer(layer):\n    nn.init.zeros_(layer.weight)\n    nn.init.zeros_(layer.bias)\n    return layer\n\n\n"


@pytest.mark.parametrize("model", [
    # the helper is given two layers (one is hidden)
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc1 = init_layer(nn.Linear(4, 64))\n        self.fc2 = init_layer(nn.Linear(64, 2))\n",
    # the helper's layer is followed by others
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.net = nn.Sequential(init_layer(nn.Linear(4, 64)), nn.ReLU(), nn.Linear(64, 2))\n",
    # a numbered layer with a later sibling
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc1 = nn.Linear(4, 64)\n        self.fc2 = nn.Linear(64, 2)\n        init_layer(self.fc1)\n",
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.hidden = nn.Linear(4, 64)\n        self.out = nn.Linear(64, 2)\n        init_layer(self.hidden)\n",
])
def test_helper_zeroing_hidden_layers(model):
    src = _module(HELPER + model)
    assert _rows(src) == [6]
    assert "init_layer" in lint(src, CODE)[0].message


def test_helper_method_and_apply():
    src = _module("class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.fc1 = nn.Linear(4, 64)\n        self.fc2 = nn.Linear(64, 2)\n"
                  "        self.apply(self._init_weights)\n\n"
                  "    def _init_weights(self, m):\n        if isinstance(m, nn.Linear):\n"
                  "            nn.init.zeros_(m.weight)\n            nn.init.zeros_(m.bias)\n")
    assert _rows(src) == [14]
    assert fix(src, CODE, unsafe=True).count("nn.init.normal_(m.weight, std=0.01)") == 1


@pytest.mark.parametrize("model", [
    # the helper is given only the output layer: zero-init of a last layer is a deliberate choice
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc1 = nn.Linear(4, 64)\n        self.out = init_layer(nn.Linear(64, 2))\n",
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc1 = nn.Linear(4, 64)\n        self.fc2 = nn.Linear(64, 2)\n        init_layer(self.fc2)\n",
    "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), init_layer(nn.Linear(64, 2)))\n",
])
def test_helper_given_only_a_last_layer(model):
    assert _rows(_module(HELPER + model)) == []


@pytest.mark.parametrize("helper", [
    # named for what it does (diffusion models' zero_module on output convs)
    HELPER.replace("init_layer", "zero_module"),
    # the zero init is for a flagged or named last layer only
    "def init_layer(layer, last=False):\n    if last:\n        nn.init.zeros_(layer.weight)\n    return layer\n\n\n",
    "def init_layer(layer):\n    if layer.out_features == 2:\n        nn.init.zeros_(layer.weight)\n    return layer\n\n\n",
    # zero in one branch, random in the other
    "def init_layer(layer, std=1.0):\n    if std == 0:\n        nn.init.zeros_(layer.weight)\n    else:\n"
    "        nn.init.orthogonal_(layer.weight, std)\n    return layer\n\n\n",
    # cleanrl's layer_init: a random weight, a constant bias
    "def init_layer(layer, std=1.0, bias_const=0.0):\n    nn.init.orthogonal_(layer.weight, std)\n"
    "    nn.init.constant_(layer.bias, bias_const)\n    return layer\n\n\n",
])
def test_helper_near_misses(helper):
    model = "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
            "        self.fc1 = init_layer(nn.Linear(4, 64))\n        self.fc2 = init_layer(nn.Linear(64, 2))\n"
    name = "zero_module" if "zero_module" in helper else "init_layer"
    assert _rows(_module(helper + model.replace("init_layer", name))) == []


def test_apply_of_an_init_that_zeroes_only_custom_layers_is_not_flagged():
    src = _module("class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.apply(self._init_weights)\n\n"
                  "    def _init_weights(self, m):\n        if isinstance(m, FinalLayer):\n"
                  "            nn.init.zeros_(m.weight)\n")
    assert _rows(src) == []


def test_named_apply_of_a_helper():
    # timm's form: named_apply(fn, module) with a plain function name (no receiver)
    src = _module("def init_weights(module, name=''):\n    if isinstance(module, nn.Linear):\n"
                  "        nn.init.zeros_(module.weight)\n\n\n"
                  "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.fc1 = nn.Linear(4, 64)\n        self.fc2 = nn.Linear(64, 2)\n"
                  "        named_apply(init_weights, self)\n")
    (diag,) = lint(src, CODE)
    assert diag.start.row == 7 and "`named_apply`" in diag.message

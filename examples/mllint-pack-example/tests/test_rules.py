"""The pack's tests, written with mllint.testing: each case runs with and without mllint's
candidate prescreen, which must agree (so `candidates` can never hide a finding)."""

from pathlib import Path

import pytest

from mllint.testing import assert_clean, assert_fix, assert_fixtures, assert_flags, lint
from mllint_pack_example.rules import CudaAmpGradScaler as ACME002
from mllint_pack_example.rules import OptimizerWithoutParamGroups as ACME001

HEADER = "import torch\n"

FLAGGED = {
    "positional": "torch.optim.AdamW(model.parameters(), lr=1e-3)\n",
    "keyword": "torch.optim.SGD(params=model.parameters(), lr=0.1)\n",
    "submodule": "torch.optim.Adam(self.encoder.parameters())\n",
    "module_alias": "from torch import optim\noptim.AdamW(model.parameters())\n",
}

ACCEPTED = {
    "helper": "from acme.optim import param_groups\ntorch.optim.AdamW(param_groups(model))\n",
    "a_list": "torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])\n",
    "scheduler": "torch.optim.lr_scheduler.StepLR(model.parameters(), 10)\n",
    "not_torch": "import other\nother.optim.AdamW(model.parameters())\n",
    "named_parameters": "torch.optim.AdamW(model.named_parameters())\n",
}


@pytest.mark.parametrize("source", FLAGGED.values(), ids=FLAGGED)
def test_flags(source):
    assert_flags(ACME001, HEADER + source)


@pytest.mark.parametrize("source", ACCEPTED.values(), ids=ACCEPTED)
def test_accepts(source):
    assert_clean(ACME001, HEADER + source)


def test_message_names_the_helper_and_the_model():
    (diag,) = assert_flags(ACME001, HEADER + "torch.optim.AdamW(net.parameters())\n", rows=[2])
    assert "`acme.optim.param_groups(net)`" in diag.message


def test_the_fix_is_unsafe_and_uses_the_imported_helper():
    bad = HEADER + "from acme.optim import param_groups as groups\nopt = torch.optim.AdamW(net.parameters())\n"
    fixed = HEADER + "from acme.optim import param_groups as groups\nopt = torch.optim.AdamW(groups(net))\n"
    assert_fix(ACME001, bad, fixed, unsafe=True)


def test_no_fix_without_the_helper_imported():
    (diag,) = lint(HEADER + "torch.optim.AdamW(net.parameters())\n", ACME001)
    assert diag.fix is None


def test_the_helper_option():
    source = HEADER + "from team.opt import groups\nopt = torch.optim.AdamW(net.parameters())\n"
    options = {"ACME001": {"helper": "team.opt.groups"}}
    (diag,) = assert_flags(ACME001, source, options=options)
    assert "`team.opt.groups(net)`" in diag.message
    assert_fix(ACME001, source, source.replace("net.parameters()", "groups(net)"), unsafe=True, options=options)


def test_fixtures():
    assert_fixtures(ACME001, Path(__file__).parent / "fixtures" / "ACME001")


@pytest.mark.parametrize("rule", [ACME001, ACME002], ids=lambda rule: rule.code)
def test_docs_page_examples(rule):
    """Each rule's docs page: its bad example is flagged and fixed into its "Use instead" example."""
    import re

    page = Path(__file__).parents[1] / f"src/mllint_pack_example/rule_docs/{rule.code}-{rule.name}.md"
    text = page.read_text()
    assert text.startswith(f"# {rule.code} `{rule.name}`")
    bad, good = re.findall(r"```python\n(.*?)```", text.split("## Example", 1)[1].split("\n## ", 1)[0], re.S)
    assert_flags(rule, bad)
    assert_clean(rule, good)
    assert_fix(rule, bad, good, unsafe=True)


# ---- ACME002 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, fixed", [
    ("scaler = torch.cuda.amp.GradScaler()\n", 'scaler = torch.amp.GradScaler("cuda")\n'),
    ("s = torch.cuda.amp.GradScaler(2.0**10, enabled=amp)\n", 's = torch.amp.GradScaler("cuda", 2.0**10, enabled=amp)\n'),
    ("s = torch.cuda.amp.GradScaler(\n    init_scale=8.0,\n)\n", 's = torch.amp.GradScaler(\n    "cuda", init_scale=8.0,\n)\n'),
], ids=["no_args", "positional", "multiline"])
def test_acme002_fix(bad, fixed):
    assert_fix(ACME002, HEADER + bad, HEADER + fixed)


def test_acme002_alias_keeps_the_module_name():
    assert_fix(ACME002, "import torch as T\nT.cuda.amp.GradScaler()\n", 'import torch as T\nT.amp.GradScaler("cuda")\n')


def test_acme002_reported_without_fix_when_imported_by_name():
    (diag,) = assert_flags(ACME002, "from torch.cuda.amp import GradScaler\nGradScaler()\n", rows=[2])
    assert diag.fix is None


@pytest.mark.parametrize("source", [
    'torch.amp.GradScaler("cuda")\n',
    "from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler\nShardedGradScaler()\n",
    "GradScaler()\n",
])
def test_acme002_accepts(source):
    assert_clean(ACME002, HEADER + source)

"""fixtures/demo: the README's first command lints it; every catalogued rule shows up there, and
the correct code right beside each anti-pattern stays clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from mllint.diagnostics import Applicability
from mllint.run.rules import all_rules

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo"

EXPECTED = [
    ("act_loss_head.py", 27, "ML301"),
    ("act_loss_head.py", 34, "ML303"),
    ("amp_trainer.py", 23, "ML101"),
    ("amp_trainer.py", 30, "ML102"),
    ("amp_trainer.py", 34, "ML104"),
    ("augment.py", 11, "ML602"),
    ("conf/cfg_pretrain.yaml", 12, "ML302"),
    ("conf/cfg_pretrain.yaml", 13, "ML302"),
    ("ddp_finetune.py", 12, "ML605"),
    ("ddp_train.py", 14, "ML604"),
    ("evaluate.py", 11, "ML801"),
    ("evaluate.py", 41, "ML802"),
    ("evaluate.py", 62, "ML803"),
    ("finetune.py", 22, "ML701"),
    ("finetune.py", 41, "ML704"),
    ("finetune.py", 50, "ML705"),
    ("finetune.py", 64, "ML703"),
    ("finetune.py", 66, "ML702"),
    ("finetune.py", 78, "ML105"),
    ("finetune.py", 84, "ML706"),
    ("launch_pretrain.py", 7, "ML503"),
    ("models/heads.py", 12, "ML402"),
    ("models/heads.py", 17, "ML404"),
    ("models/heads.py", 24, "ML804"),
    ("models/heads.py", 43, "ML805"),
    ("models/heads.py", 50, "ML403"),
    ("models/menu.py", 10, "ML401"),
    ("rl/dqn_agent.py", 23, "ML204"),
    ("rl/dqn_agent.py", 33, "ML203"),
    ("rl/ppo_agent.py", 21, "ML202"),
    ("rl/ppo_agent.py", 28, "ML001"),
    ("rl/ppo_agent.py", 29, "ML201"),
    ("rl/ppo_agent.py", 29, "ML103"),
    ("scripts/launch.sh", 7, "ML503"),
    ("scripts/launch.sh", 8, "ML502"),
    ("scripts/launch.sh", 10, "ML501"),
]


def lint(directory: Path, *args: str) -> tuple[int, list[dict]]:
    proc = subprocess.run([sys.executable, "-m", "mllint", "--no-cache", "--format", "json", *args, "."],
                          cwd=directory, capture_output=True, text=True)
    assert proc.stderr == "", proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_demo_findings():
    code, diags = lint(DEMO)
    assert code == 1
    assert [(d["filename"], d["location"]["row"], d["code"]) for d in diags] == EXPECTED


def test_every_stable_rule_is_in_the_demo_and_the_preview_one_with_preview():
    stable = {c for c, cls in all_rules().items() if cls.stability == "stable" and c != "ML000"}
    assert {code for _, _, code in EXPECTED} == stable
    _, diags = lint(DEMO, "--preview")
    assert [(d["filename"], d["code"]) for d in diags if d["code"] == "ML601"] == [("simulate.py", "ML601")]


def test_fixing_the_demo_leaves_only_what_has_no_fix(tmp_path):
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy)
    proc = subprocess.run([sys.executable, "-m", "mllint", "--no-cache", "--fix", "--unsafe-fixes", "."], cwd=copy,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr == ""
    for path in copy.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    _, left = lint(copy)
    rules = all_rules()
    assert {d["code"] for d in left} == {c for _, _, c in EXPECTED
                                         if rules[c].fix_applicability == Applicability.NONE}

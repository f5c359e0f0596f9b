"""Promise 3: mllint never imports or executes the code it lints, never instantiates Hydra
`_target_`s, and reads YAML with a safe loader. Each file here would leave a marker file behind
if anything ran it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_linting_and_fixing_execute_nothing(tmp_path: Path):
    marker = tmp_path / "EXECUTED"
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    touch = f"open({str(marker)!r}, 'w').write('ran')"
    (tmp_path / "train.py").write_text(
        f"import torch\n{touch}\n"
        "def step(p):\n    p.grad = torch.nan_to_num(p.grad)\n"
        f"class Model:\n    {touch}\n"
    )
    (tmp_path / "sitecustomize.py").write_text(touch + "\n")
    (tmp_path / "conftest.py").write_text(touch + "\n")
    (tmp_path / "__init__.py").write_text(touch + "\n")
    (tmp_path / "config.yaml").write_text(
        f"warmup_steps: !!python/object/apply:os.system ['touch {marker}']\n"
        f"total_steps: 100000\n"
        f"model:\n  _target_: builtins.exec\n  _args_: [\"{touch}\"]\n"
    )
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text(f"trainer:\n  _target_: os.system\n  command: touch {marker}\nlr: 0.1\n")
    (tmp_path / "app.py").write_text(
        "import hydra\n"
        "@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
        f"def main(cfg):\n    {touch}\n"
        "import subprocess\nsubprocess.run(['python', 'app.py', '+lr=0.2'])\n"
    )
    (tmp_path / "launch.sh").write_text(f"#!/bin/sh\ntouch {marker}\npython app.py +lr=0.3 $({touch})\n")
    for args in (["."], ["--fix", "--unsafe-fixes", "."], ["--preview", "--select", "ALL", "."]):
        subprocess.run([sys.executable, "-m", "mllint", "--no-cache", *args], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
        assert not marker.exists(), f"something was executed by mllint {' '.join(args)}"

"""ML501-ML503 on launch commands assembled in code: Python constants, job dicts and grids, names
assigned once, `python -m pkg` whose `__main__` starts an imported app, compose() with a config
directory built from `__file__`; shell arrays and variables holding the command or its arguments.
Each flagged form is next to a near miss that must stay clean (a value that is not known is never
guessed)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from mllint.frontends.cli import main
from mllint.testing import lint

CODES = ["ML501", "ML502", "ML503"]

APP = """\
import hydra

@hydra.main(config_path="{path}", config_name="cfg", version_base=None)
def main(cfg):
    print(cfg)
"""

FILES = {
    "train.py": APP.format(path="conf"),
    # the primary config also sets a key inside the group's package
    "conf/cfg.yaml": "defaults:\n  - arch: small\n  - _self_\nlr: 0.1\nckpt: null\ntrainer:\n  max_steps: 10\n"
                     "arch:\n  extra: 1\n",
    "conf/arch/small.yaml": "hidden: 4\nonly_small: 1\n",
    "conf/arch/big.yaml": "hidden: 8\ndeep: 1\n",
    "pkg/__init__.py": "",
    "pkg/train.py": APP.format(path="../conf"),
    # `python -m app2` runs app2/__main__.py, which only starts the app of app2/main.py
    "app2/__init__.py": "",
    "app2/__main__.py": "from app2.main import main\n\nif __name__ == '__main__':\n    main()\n",
    "app2/main.py": APP.format(path="../conf"),
    "app3/__init__.py": "",
    "app3/__main__.py": "from .main import main\nmain()\n",
    "app3/main.py": APP.format(path="../conf"),
    # imports the app but runs something else: not the app's command line
    "app4/__init__.py": "",
    "app4/__main__.py": "from app2.main import main\nfrom app4.cli import run\nrun()\n",
    "app4/cli.py": "def run():\n    pass\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _codes(project: Path, src: str, name: str = "launch.py") -> list[str]:
    return [d.code for d in lint(textwrap.dedent(src), CODES, path=str(project / name), root=project)]


def hydra_fails(project: Path, overrides: list[str]) -> bool:
    with initialize_config_dir(config_dir=str(project / "conf"), version_base=None):
        try:
            compose("cfg", overrides=overrides)
        except ConfigCompositionException:
            return True
    return False


PY_FLAGGED = [
    # module constants used inside a function
    ("import subprocess\nCOMMON = ['python', 'train.py']\ndef go():\n    subprocess.run(COMMON + ['+lr=1'])\n",
     ["ML501"]),
    ("import subprocess\nOVR = ['+lr=1']\ndef go():\n    subprocess.run(['python', 'train.py', *OVR])\n", ["ML501"]),
    ("import subprocess\nSCRIPT = 'train.py'\nsubprocess.run(['python', SCRIPT, '+lr=1'])\n", ["ML501"]),
    # starred expansion of several lists, sys.executable
    ("import subprocess, sys\ncommon = ['trainer.max_steps=1']\noverrides = ['lrr=1']\n"
     "subprocess.run([sys.executable, 'train.py', *common, *overrides])\n", ["ML502"]),
    # a dict of jobs, a grid, a dict of dicts, keys looked up again: one pass per job
    ("import subprocess\nJOBS = {'a': ['+lr=1'], 'b': ['arch=big']}\nfor name, ov in JOBS.items():\n"
     "    subprocess.run(['python', 'train.py', *ov])\n", ["ML501"]),
    ("import subprocess\nGRID = [['+lr=1'], ['lrr=2']]\nfor ov in GRID:\n    subprocess.run(['python', 'train.py', *ov])\n",
     ["ML501", "ML502"]),
    ("import subprocess\nJOBS = {'a': {'args': ['lrr=1']}, 'b': {'args': ['lr=2']}}\nfor job in JOBS.values():\n"
     "    subprocess.run(['python', 'train.py', *job['args']])\n", ["ML502"]),
    ("import subprocess\nJOBS = {'a': ['lrr=1'], 'b': ['lr=2']}\nfor name in JOBS:\n"
     "    subprocess.run(['python', 'train.py', *JOBS[name]])\n", ["ML502"]),
    # the same word in every job is reported once
    ("import subprocess\nfor seed in [1, 2, 3]:\n    subprocess.run(['python', 'train.py', '+lr=1', f'+seed={seed}'])\n",
     ["ML501"]),
    # appended under a condition: the key is known, the value is not
    ("import subprocess\ndef go(p):\n    cmd = ['python', 'train.py']\n    if p:\n        cmd.append(f'trainer.max_step={p}')\n"
     "    subprocess.run(cmd)\n", ["ML502"]),
    # the value is unknown but renders as a scalar: Hydra refuses to append it over a value
    ("import subprocess\ndef go(path: str):\n    cmd = ['python', 'train.py']\n    if path:\n"
     "        cmd.append(f'+lr={path}')\n    subprocess.run(cmd)\n", ["ML501"]),
    ("import subprocess, os\ndef go(d):\n    ckpt = os.path.join(d, 'last.pt')\n"
     "    subprocess.run(['python', 'train.py', f'+lr={ckpt}'])\n", ["ML501"]),
    ("import subprocess\ndef go(v):\n    subprocess.run(['python', 'train.py', f'+lr={v:.0e}'])\n", ["ML501"]),
    # -cn NAME as two items
    ("import subprocess\nsubprocess.run(['python', 'train.py', '-cn', 'nope'])\n", ["ML503"]),
    # a shell string held in a name
    ("import os\ndef f(x):\n    cmd = f'python train.py lrr={x}'\n    os.system(cmd)\n", ["ML502"]),
    # a command string split with shlex
    ("import shlex, subprocess\nCMD = 'python train.py +lr=1'\nsubprocess.run(shlex.split(CMD))\n", ["ML501"]),
    ("from shlex import split\nimport subprocess\ndef f(n):\n    subprocess.run(split(f'python train.py lrr={n}'))\n",
     ["ML502"]),
    # python -m: a module's app, a package whose __main__ starts an imported app (absolute, relative)
    ("import subprocess\nsubprocess.run(['python', '-m', 'pkg.train', '+lr=1'])\n", ["ML501"]),
    ("import subprocess\nsubprocess.run(['python', '-m', 'app2', '+lr=1'])\n", ["ML501"]),
    ("import subprocess\nsubprocess.run(['python', '-m', 'app3', 'arch=big', 'arch.only_small=1'])\n", ["ML502"]),
    # compose() with a config directory built from __file__, overrides and name held in names
    ("import os\nfrom hydra import compose, initialize_config_dir\n"
     "CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conf')\nOV = ['+lr=1']\ndef test():\n"
     "    with initialize_config_dir(config_dir=CONF, version_base=None):\n        compose(config_name='cfg', overrides=OV)\n",
     ["ML501"]),
    ("from pathlib import Path\nfrom hydra import compose, initialize_config_dir\ndef test():\n"
     "    with initialize_config_dir(config_dir=str(Path(__file__).parent / 'conf'), version_base=None):\n"
     "        compose('cfg', overrides=['lrr=1'])\n", ["ML502"]),
    ("from pathlib import Path\nfrom hydra import compose, initialize_config_dir\nNAME = 'cfgx'\ndef test():\n"
     "    d = str((Path(__file__).parent / 'conf').resolve())\n"
     "    with initialize_config_dir(config_dir=d, version_base=None):\n        compose(NAME)\n", ["ML503"]),
]

PY_CLEAN = [
    # a list that is not a command
    "import subprocess\nFILES = ['train.py', '+lr=1']\nsubprocess.run(['ls', *FILES])\n",
    # a value of unknown type may be a list, which Hydra merges
    "import subprocess\ndef go(v):\n    subprocess.run(['python', 'train.py', f'+lr={v}'])\n",
    "import subprocess\ndef go(v: list):\n    subprocess.run(['python', 'train.py', f'+lr={v}'])\n",
    "import subprocess\ndef go(v):\n    subprocess.run(['python', 'train.py', f'+lr={str(v)}'])\n",
    # a key that is a placeholder
    "import subprocess\ndef go(k):\n    subprocess.run(['python', 'train.py', f'+{k}=1', f'trainer.{k}=1'])\n",
    # reassigned under a condition: which list reaches the call is not known
    "import subprocess\nOV = ['+lr=1']\nif x:\n    OV = ['lr=1']\nsubprocess.run(['python', 'train.py', *OV])\n",
    # a module constant changed in place
    "import subprocess\nBASE = ['python', 'train.py']\nBASE.append('--my-flag')\nsubprocess.run(BASE + ['+lr=1'])\n",
    # an option chosen by a placeholder
    "import subprocess\ndef go(g):\n    subprocess.run(['python', 'train.py', f'arch={g}', 'arch.deep=1'])\n",
    # a dict of jobs changed after it is written
    "import subprocess\nJOBS = {'a': ['+lr=1']}\nJOBS['a'] = ['lr=1']\nfor ov in JOBS.values():\n"
    "    subprocess.run(['python', 'train.py', *ov])\n",
    "import subprocess\nJOBS = [['+lr=1']]\nJOBS[0][0] = 'lr=1'\nfor ov in JOBS:\n    subprocess.run(['python', 'train.py', *ov])\n",
    # a loop over something that is not a literal
    "import subprocess\ndef go(jobs):\n    for ov in jobs:\n        subprocess.run(['python', 'train.py', *ov, 'arch.deep=1'])\n",
    # a dict of jobs whose values are not lists
    "import subprocess\nJOBS = {'a': 1}\nfor n, v in JOBS.items():\n    subprocess.run(['python', 'train.py', *v, 'arch.deep=1'])\n",
    # a group swapped on the same command line makes the key exist
    "import subprocess\nsubprocess.run(['python', 'train.py', 'arch=big', 'arch.deep=1'])\n",
    # a config directory relative to the working directory is not known
    "import os\nfrom hydra import compose, initialize_config_dir\n"
    "with initialize_config_dir(config_dir=os.path.abspath('conf'), version_base=None):\n"
    "    compose('cfg', overrides=['+lr=1'])\n",
    # a package whose __main__ imports the app but runs something else
    "import subprocess\nsubprocess.run(['python', '-m', 'app4', '+lr=1'])\n",
    # a loop variable outside the function is not the function's
    "import subprocess\nfor ov in [['+lr=1']]:\n    def go(ov):\n        subprocess.run(['python', 'train.py', *ov])\n",
]


@pytest.mark.parametrize("src,expected", PY_FLAGGED)
def test_python_launchers_flagged(project, src, expected):
    assert _codes(project, src) == expected


@pytest.mark.parametrize("src", PY_CLEAN)
def test_python_near_misses_stay_clean(project, src):
    assert _codes(project, src) == []


SH_FLAGGED = [
    # the launcher in an array, the command in a string variable
    ('LAUNCH=(torchrun --nproc_per_node 2)\n"${LAUNCH[@]}" -m pkg.train +lr=1\n', ["ML501"]),
    ('CMD="python -m pkg.train"\n$CMD +lr=1\n', ["ML501"]),
    ("PY=python3\n${PY} train.py lrr=1\n", ["ML502"]),
    ("$PYTHON -m app2 +lr=1\n", ["ML501"]),
    # the arguments in an array (comments and continuations inside), in a string variable, nested
    ('ARGS=(\n  # +lr=1 is only a comment\n  arch=big   # trailing comment\n  arch.only_small=1 \\\n)\n'
     'python train.py "${ARGS[@]}"\n', ["ML502"]),
    ('ARGS="+lr=1 arch=big"\npython train.py $ARGS\n', ["ML501"]),
    ('A=(+lr=1)\nB=(arch=big "${A[@]}")\npython train.py "${B[@]}"\n', ["ML501"]),
    ('declare -a common=(\n    trainer.max_step=1\n)\nif [ "$X" == 1 ]; then\n  python3 -m pkg.train \\\n'
     '      "${common[@]}" \\\n      arch=big $@\nfi\n', ["ML502"]),
    # a long continued srun command in a SLURM script
    ("#!/bin/bash\n#SBATCH -N 1\nset -x\nsrun --nodes=1 python3 -m pkg.train \\\n    trainer.max_steps=1 \\\n"
     "    +lr=1 \\\n    $@\n", ["ML501"]),
    # the script's own arguments forwarded (`"$@"`, `"${@:2}"`) are taken not to swap groups
    ('python train.py "${@:2}" arch.deep=1\n', ["ML502"]),
    # `+=` appends words of unknown number: the known ones are still checked
    ('ARGS=(+lr=1)\nARGS+=(arch=big)\npython train.py "${ARGS[@]}"\n', ["ML501"]),
]

SH_CLEAN = [
    # assigned twice (in a branch): not guessed
    'ARGS=(+lr=1)\nif [ x ]; then\n  ARGS=(lr=2)\nfi\npython train.py "${ARGS[@]}"\n',
    # quoted: one word, not split into a command
    'CMD="python train.py +lr=1"\necho "$CMD"\n',
    # an array that is not a command
    'FILES=(train.py +lr=1)\nfor f in "${FILES[@]}"; do echo $f; done\n',
    # an array used before it is assigned
    'python train.py "${ARGS[@]}"\nARGS=(+lr=1)\n',
    # any other unknown word may select another option: that group's keys are not known
    "python train.py $EXTRA arch.deep=1\n",
    'ARGS=(lr=1)\nARGS+=($X)\npython train.py "${ARGS[@]}" arch.deep=1\n',
    # the group swap comes from the array
    'ARGS=(arch=big)\npython train.py "${ARGS[@]}" arch.deep=1\n',
]


@pytest.mark.parametrize("script,expected", SH_FLAGGED)
def test_shell_launchers_flagged(project, script, expected):
    assert _codes(project, script, "run.sh") == expected


@pytest.mark.parametrize("script", SH_CLEAN)
def test_shell_near_misses_stay_clean(project, script):
    assert _codes(project, script, "run.sh") == []


def test_array_element_is_where_the_diagnostic_and_fix_point(project):
    from mllint.testing import fix

    script = 'ARGS=(\n    arch=big\n    "+lr=1"\n)\npython train.py "${ARGS[@]}"\n'
    diags = lint(script, CODES, path=str(project / "run.sh"), root=project)
    assert [(d.code, d.start.row, d.start.column) for d in diags] == [("ML501", 3, 5)]
    assert fix(script, CODES, path=str(project / "run.sh"), root=project) == script.replace('"+lr', '"lr')


@pytest.mark.parametrize("overrides,flagged", [
    (["arch=big", "arch.only_small=1"], True),  # only the default option defines the key
    (["arch=big", "+arch.only_small=1"], False),
    (["arch=big", "arch.deep=1"], False),
    (["arch=big", "+arch.deep=1"], True),
])
def test_group_swapped_in_an_array_and_hydra_agrees(project, overrides, flagged):
    script = "ARGS=(" + " ".join(overrides[:1]) + ")\npython train.py \"${ARGS[@]}\" " + overrides[1] + "\n"
    assert bool(_codes(project, script, "run.sh")) == flagged
    assert hydra_fails(project, overrides) == flagged


def test_expansion_is_bounded(project):
    # each array holds the previous one twice: unbounded expansion would be 2**40 words
    lines = ["A0=(+lr=1)"] + [f'A{i}=("${{A{i - 1}[@]}}" "${{A{i - 1}[@]}}")' for i in range(1, 41)]
    script = "\n".join(lines) + '\npython train.py "${A40[@]}"\n'
    assert _codes(project, script, "run.sh") == []  # too deep to know: nothing guessed, no hang


def test_the_module_behind_python_m_is_a_cached_read(tmp_path, monkeypatch):
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    (tmp_path / "run.sh").write_text("python -m app2 +lr=1\n")
    monkeypatch.chdir(tmp_path)
    args = ["--jobs", "1", "--select", "ML501", "run.sh"]
    assert "ML501" in CliRunner().invoke(main, args).output
    # the app behind __main__ now has no `lr`: the cached result must not be replayed
    (tmp_path / "conf" / "other.yaml").write_text("trainer: {}\n")
    (tmp_path / "app2" / "main.py").write_text(APP.format(path="../conf").replace('"cfg"', '"other"'))
    assert "ML501" not in CliRunner().invoke(main, args).output


SEARCHPATH = {
    "base/__init__.py": "",
    "base/config/__init__.py": "",
    "base/config/base_cfg.yaml": "defaults:\n  - opt: adam\n  - _self_\ntrainer:\n  epochs: 3\n",
    "base/config/opt/adam.yaml": "beta: 0.9\n",
    "ext/main.py": APP.format(path="config").replace('"cfg"', '"ext_cfg"'),
    "ext/config/ext_cfg.yaml": "hydra:\n  searchpath:\n    - {entry}\ndefaults:\n  - base_cfg\n  - _self_\nrollout:\n  n: 1\n",
}


@pytest.mark.parametrize("entry", ["pkg://base.config", "file://base/config"])
@pytest.mark.parametrize("overrides,code", [
    (["trainer.epochz=1"], "ML502"),
    (["+trainer.epochs=2"], "ML501"),
    (["opt.betta=1"], "ML502"),
    (["trainer.epochs=1", "rollout.n=2", "opt.beta=0.5", "+new=1"], None),
])
def test_a_config_that_extends_its_search_path_and_hydra_agrees(tmp_path, monkeypatch, entry, overrides, code):
    for name, text in SEARCHPATH.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(entry=entry) if name.endswith("ext_cfg.yaml") else text)
    script = "python -m ext.main " + " ".join(overrides) + "\n"
    assert _codes(tmp_path, script, "run.sh") == ([code] if code else [])
    monkeypatch.chdir(tmp_path)  # a relative file:// entry is relative to the working directory
    monkeypatch.syspath_prepend(str(tmp_path))  # pkg:// entries are imported packages
    for name in ("base", "base.config"):  # not the copy an earlier case imported
        monkeypatch.delitem(sys.modules, name, raising=False)
    with initialize_config_dir(config_dir=str(tmp_path / "ext" / "config"), version_base=None):
        try:
            compose("ext_cfg", overrides=overrides)
            failed = False
        except ConfigCompositionException:
            failed = True
    assert failed == (code is not None)


def test_a_search_path_entry_that_cannot_be_found_checks_nothing(tmp_path):
    for name, text in SEARCHPATH.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(entry="pkg://elsewhere.config") if name.endswith("ext_cfg.yaml") else text)
    assert _codes(tmp_path, "python -m ext.main trainer.epochz=1 rollout.m=1\n", "run.sh") == []

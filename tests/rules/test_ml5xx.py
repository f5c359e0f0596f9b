"""ML501-ML503 on small Hydra projects built in temporary directories.

Every override case is also composed with real Hydra: a flagged override must make Hydra fail
and a clean one must compose, so these cases double as a check that the rules agree with Hydra.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

from mllint.testing import fix, lint

CODES = ["ML501", "ML502", "ML503"]

FILES = {
    "train.py": """\
        import hydra

        @hydra.main(config_path="conf", config_name="cfg", version_base=None)
        def main(cfg):
            print(cfg)
        """,
    "conf/cfg.yaml": """\
        defaults:
          - arch: small
          - _self_
        lr: 0.1
        ckpt: null
        resume: auto
        name: run
        interp: ${name}
        lst: [1, 2]
        d: {a: 1}
        trainer:
          max_steps: 10
          precision: 32
        """,
    "conf/other.yaml": "lr: 0.2\n",
    "conf/arch/small.yaml": "hidden: 4\n",
    "conf/arch/big.yaml": "hidden: 8\ndeep: 1\n",
    "conf/arch/gl.yaml": "# @package _global_\nglob: 1\n",
    "conf/opt/adam.yaml": "beta: 0.9\n",
}


def build(root: Path, files: dict[str, str] = FILES) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def project(tmp_path):
    return build(tmp_path)


def run_py(project: Path, overrides: list[str], **kwargs):
    src = "import subprocess\nsubprocess.run(['python', 'train.py', " + ", ".join(map(repr, overrides)) + "])\n"
    return lint(src, CODES, path=str(project / "launch.py"), root=project, **kwargs)


def hydra_fails(project: Path, overrides: list[str], name: str = "cfg") -> bool:
    with initialize_config_dir(config_dir=str(project / "conf"), version_base=None):
        try:
            compose(name, overrides=overrides)
        except (ConfigCompositionException, MissingConfigException, OverrideParseException):
            return True
    return False


FLAGGED = [
    (["+lr=1"], "ML501"),
    (["+interp=1"], "ML501"),  # an interpolation that resolves to a value counts as a value
    (["+trainer.precision=16"], "ML501"),
    (["+arch=big"], "ML501"),  # the group is already in the defaults list
    (["arch=big", "+arch.deep=2"], "ML501"),
    (["lrr=1"], "ML502"),
    (["trainer.max_step=5"], "ML502"),
    (["arch.deep=2"], "ML502"),  # `deep` is only in arch/big
    (["arch=gl", "arch.hidden=1"], "ML502"),  # a _global_ option has no arch.* keys
    (["opt=adam"], "ML502"),  # group not in the defaults list: needs +opt=adam
    (["~lrr"], "ML502"),
    (["d.b=1"], "ML502"),
    (["bad key=1"], "ML502"),  # Hydra's grammar rejects it
    (["lr=[1"], "ML502"),
    (["arch=nope"], "ML503"),
    (["arch=[small,bgi]"], "ML503"),
    (["zz@x=adam"], "ML503"),
    (["--config-name=cfgg"], "ML503"),
    (["--config-name", "nope"], "ML503"),
    (["-m", "arch=small,bgi"], "ML503"),  # a sweep stops at start-up if one job's option is missing
    (["-m", "arch=choice(small,bgi)"], "ML503"),
    (["+opt@o2=adam", "o2.bta=1"], "ML502"),
    (["arch@backup=big"], "ML502"),  # overrides the entry `arch@backup`, and the entry is `arch`
    (["~arch@backup"], "ML502"),
]

CLEAN = [
    ["lr=1", "trainer.max_steps=5", "arch.hidden=2"],
    ["++lr=1"],  # ++ adds or overrides
    ["+new_key=1", "+new.sub=1", "+arch.new=1"],  # really new keys
    ["+ckpt=a"],  # Hydra appends over a null value
    ["+lst=[3]", "+d={b: 2}", "+name=[1]"],  # list and dict values are merged
    ["arch=big", "arch.deep=2"],  # the group selection brings the key
    ["arch=gl", "glob=2"],  # _global_ package: the key is at the top
    ["arch=[small,big]", "deep=3"] and ["arch=[small,big]", "arch.deep=3"],
    ["+opt=adam", "opt.beta=0.8"],
    ["~arch"],
    ["~lr"],
    ["lst.0=3"],  # list items are not modelled, and are fine
    ["hydra.run.dir=out", "+hydra.job.env_set.X=1"],
    ["--config-name=other", "lr=3"],
    ["-cn", "other"],
    ["+new=1", "new=2"],  # a key added earlier on the same command line
    ["-m", "arch=small,big", "lr=0.1,0.2"],
    ["+opt@o2=adam", "o2.beta=1"],  # a group added at another package brings its keys there
    ["+arch@second=big", "second.deep=1", "arch.hidden=1"],  # a second instance of a selected group
]


@pytest.mark.parametrize("overrides,code", FLAGGED)
def test_flagged_and_hydra_agrees(project, overrides, code):
    assert [d.code for d in run_py(project, overrides)] == [code]
    if overrides[0] == "-m":  # each job of a sweep composes one choice: the failing one
        overrides = [o.replace("small,", "").replace("choice(", "").rstrip(")") for o in overrides[1:]]
    flags = [o for o in overrides if o.startswith("-")]
    name = "cfg"
    if flags:
        name = overrides[-1] if len(overrides) == 2 else overrides[0].split("=")[1]
        overrides = []
    assert hydra_fails(project, overrides, name)


@pytest.mark.parametrize("overrides,origin", [
    (["+new=1", "+new=2"], "`+new=1` earlier on this command line already set"),
    (["+d2={b: 1}", "+d2.b=2"], "`+d2={b: 1}` earlier on this command line already set"),
    (["+lr=1"], "config `cfg` already has"),
])
def test_ml501_says_where_the_key_came_from_and_hydra_agrees(project, overrides, origin):
    (diag,) = run_py(project, overrides)
    assert diag.code == "ML501" and origin in diag.message
    assert hydra_fails(project, overrides)


# The defaults list selects `arch` at another package: overrides name the entry `arch@backup`.
PACKAGED_ENTRY = [
    (["arch=big"], "ML502"),
    (["~arch"], "ML502"),
    (["+arch@backup=big"], "ML501"),
    (["arch@backup=big"], None),
    (["arch@backup=big", "backup.deep=2"], None),
    (["~arch@backup"], None),
    (["+arch=big", "arch.deep=2"], None),  # a second instance, at the group's own package
]


@pytest.mark.parametrize("overrides,code", PACKAGED_ENTRY)
def test_an_entry_with_a_package_is_overridden_by_that_name_and_hydra_agrees(tmp_path, overrides, code):
    project = build(tmp_path)
    cfg = project / "conf" / "cfg.yaml"
    cfg.write_text(cfg.read_text().replace("  - arch: small\n", "  - arch@backup: small\n"))
    assert [d.code for d in run_py(project, overrides)] == ([code] if code else [])
    assert hydra_fails(project, overrides) == bool(code)


def test_the_message_names_the_entry_as_written(tmp_path):
    project = build(tmp_path)
    cfg = project / "conf" / "cfg.yaml"
    cfg.write_text(cfg.read_text().replace("  - arch: small\n", "  - arch@backup: small\n"))
    (diag,) = run_py(project, ["arch=big"])
    assert "no entry `arch`" in diag.message and "use `arch@backup=big`" in diag.message
    (diag,) = run_py(build(tmp_path / "plain"), ["arch@backup=big"])
    assert "use `arch=big`, or `+arch@backup=big` to add a second instance at `backup`" in diag.message


@pytest.mark.parametrize("overrides", CLEAN)
def test_clean_and_hydra_agrees(project, overrides):
    assert run_py(project, overrides) == []
    if overrides[0] == "-m":  # each job of the sweep composes
        jobs = [[o.partition("=")[0] + "=" + o.partition("=")[2].split(",")[k] for o in overrides[1:]] for k in (0, -1)]
        assert not any(hydra_fails(project, job) for job in jobs)
        return
    name = "cfg"
    if overrides[0].startswith("-"):
        name = overrides[0].split("=")[1] if "=" in overrides[0] else overrides[1]
        overrides = overrides[1:] if "=" in overrides[0] else overrides[2:]
    assert not hydra_fails(project, overrides, name)


def test_diagnostic_points_at_the_string_and_suggests(project):
    src = textwrap.dedent("""\
        import subprocess

        def launch(ckpt):
            cmd = ["python", "train.py",
                   "trainer.max_step=5"]
            cmd.append(f"+resume={ckpt}/last.pt")
            subprocess.run(cmd)
        """)
    diags = lint(src, CODES, path=str(project / "launch.py"), root=project)
    assert [(d.code, d.start.row, d.start.column) for d in diags] == [("ML502", 5, 12), ("ML501", 6, 16)]
    assert "did you mean `trainer.max_steps`?" in diags[0].message
    assert "? Use `+trainer.max_step=...` only if the key is really new" in diags[0].message
    assert fix(src, CODES, path=str(project / "launch.py"), root=project) == src.replace('f"+resume', 'f"resume')


@pytest.mark.parametrize("src", [
    # import aliases and the other subprocess functions
    "import subprocess as sp\nsp.Popen(['python', 'train.py', '+lr=1'])\n",
    "from subprocess import check_call\ncheck_call(['python3', 'train.py', '+lr=1'])\n",
    "import sys, subprocess\nsubprocess.check_output([sys.executable, '-u', 'train.py', '+lr=1'])\n",
    # lists built up with + / += / extend, in a method, a nested function, a loop
    "import subprocess\nclass L:\n    def go(self):\n        base = ['python', 'train.py']\n"
    "        subprocess.run(base + ['+lr=1'])\n",
    "import subprocess\ndef outer():\n    def inner():\n        cmd = ['python', 'train.py']\n"
    "        cmd += ['+lr=1']\n        subprocess.call(cmd)\n    inner()\n",
    "import subprocess\nfor seed in range(3):\n    cmd = ['python', 'train.py']\n"
    "    cmd.extend([f'+seed={seed}', '+lr=1'])\n    subprocess.run(cmd)\n",
    "import subprocess\ncmd = ['python', 'train.py']\ncmd = cmd + ['+lr=1']\nsubprocess.run(cmd)\n",
    # shell strings
    "import os\nos.system('python train.py arch=big +lr=1')\n",
    "import os\nos.system(f'python train.py +lr=1 +seed={1}')\n",
    "import subprocess\nsubprocess.run('python train.py +lr=1', shell=True)\n",
    "import subprocess\ncmd = ['python', 'train.py', '+lr=1']\nsubprocess.run(' '.join(cmd), shell=True)\n",
    # launchers
    "import subprocess\nsubprocess.run(['torchrun', '--nproc_per_node', '2', 'train.py', '+lr=1'])\n",
    "import subprocess\nsubprocess.run(['accelerate', 'launch', '--num_processes=2', 'train.py', '+lr=1'])\n",
])
def test_flagged_launcher_forms(project, src):
    assert [d.code for d in lint(src, CODES, path=str(project / "launch.py"), root=project)] == ["ML501"]


@pytest.mark.parametrize("src", [
    # not a Hydra app, or not statically knowable
    "import subprocess\nsubprocess.run(['python', 'other.py', '+lr=1'])\n",
    "import subprocess\nsubprocess.run(['python', 'train.py', '--config-dir', 'more', '+lr=1'])\n",
    "import subprocess\nsubprocess.run(['python', 'train.py', '--my-flag', '+lr=1'])\n",
    "import subprocess\ndef f(name):\n    subprocess.run(['python', 'train.py', f'--config-name={name}', 'lrr=1'])\n",
    "import subprocess\ndef f(g):\n    subprocess.run(['python', 'train.py', f'arch={g}', 'arch.deep=1'])\n",
    "import subprocess\ndef f(v):\n    subprocess.run(['python', 'train.py', f'+lr={v}'])\n",  # may be a list
    "import subprocess\ndef f(k):\n    subprocess.run(['python', 'train.py', f'{k}=1'])\n",
    "import subprocess\ndef f(c):\n    cmd = ['python', 'train.py']\n    if c:\n        cmd = ['python', 'x.py']\n"
    "    cmd.append('+lr=1')\n    subprocess.run(cmd)\n",
    "def run(args):\n    pass\nrun(['python', 'train.py', '+lr=1'])\n",
    "import subprocess\nsubprocess.run(['python', '-c', 'print(1)', '+lr=1'])\n",
])
def test_clean_launcher_forms(project, src):
    assert lint(src, CODES, path=str(project / "launch.py"), root=project) == []


def test_config_store_apps_are_not_checked_for_missing_configs(tmp_path):
    files = dict(FILES)
    files["train.py"] = files["train.py"].replace("import hydra", "import hydra\n        from hydra.core.config_store import ConfigStore")
    project = build(tmp_path, files)
    assert run_py(project, ["arch=from_store"]) == []
    assert [d.code for d in run_py(project, ["+lr=1"])] == ["ML501"]


# ---- shell scripts -----------------------------------------------------------------------------

SHELL = """\
#!/bin/bash
set -x
LR=${LR:-0.1}
CUDA_VISIBLE_DEVICES=0 python3 train.py \\
    arch=big \\
    'trainer.max_step=5' \\
    +lr=$LR \\
    "+resume=ckpt/last.pt" \\
    --config-name=cfg_pretrain_does_not_exist_at_all_really \\
    "$@"
"""


def test_shell_positions_quotes_and_variables(project):
    script = (
        "#!/bin/bash\nLR=${LR:-0.1}\nif [ -n \"$X\" ]; then\n  CUDA_VISIBLE_DEVICES=0 python3 train.py \\\n"
        "    arch=big \\\n    'trainer.max_step=5' \\\n    +lr=$LR \\\n    \"+resume=ckpt/last.pt\" \\\n"
        "    \"$@\"\nfi\n"
    )
    diags = lint(script, CODES, path=str(project / "scripts" / "run.sh"), root=project)
    # `+lr=$LR` is not flagged: $LR may hold a list, which Hydra merges
    assert [(d.code, d.start.row, d.start.column) for d in diags] == [("ML502", 6, 5), ("ML501", 8, 5)]
    fixed = fix(script, CODES, path=str(project / "scripts" / "run.sh"), root=project)
    assert fixed == script.replace('"+resume', '"resume')


@pytest.mark.parametrize("script,expected", [
    ("python -m pkg.train +lr=1\n", ["ML501"]),
    ("python -m torch.distributed.run --nproc_per_node 2 train.py +lr=1\n", ["ML501"]),
    ("torchrun --standalone --nnodes=1 train.py lrr=1\n", ["ML502"]),
    ("accelerate launch --multi_gpu train.py -cn nope\n", ["ML503"]),
    ("nohup python train.py +lr=1 > log.txt 2>&1 &\n", ["ML501"]),
    ("run() {\n  python train.py +lr=1\n}\n", ["ML501"]),
    ("ARGS=(a b)\npython train.py +lr=1\n", ["ML501"]),  # bashlex cannot parse arrays: line by line
    ("python train.py +lr=1  # mllint: disable=ML501\n", []),
    # a continued command can carry a comment only on its last line: it covers the whole command
    ("python train.py \\\n    +lr=1 \\\n    arch=big  # noqa: ML501\n", []),
    ("python train.py ++lr=1 +new=1 arch=big arch.deep=2 hydra.run.dir=$OUT\n", []),
    ("python train.py $EXTRA +new=1\n", []),
    ("python train.py trainer.max_steps=~/x\n", ["ML502"]),  # `~` after a dotted key is not expanded
    ("echo python train.py lrr=1\n", []),
    ("python other.py +lr=1\n", []),
    # job launchers, wrappers and environment runners in front of the app (a SLURM script's srun)
    ("#SBATCH --gres=gpu:4\nsrun python train.py \\\n    +trainer.max_steps=10\n", ["ML501"]),
    ("srun -n 4 --pty python train.py +lr=1\n", ["ML501"]),
    ("mpirun -np 4 python train.py lrr=1\n", ["ML502"]),
    ("time python train.py +lr=1\n", ["ML501"]),
    ("for s in 1 2; do time python train.py +lr=1; done\n", ["ML501"]),
    ("timeout 2h python3 train.py +lr=1\n", ["ML501"]),
    ("taskset -c 0-3 numactl --cpunodebind=0 python train.py +lr=1\n", ["ML501"]),
    ("uv run python train.py +lr=1\n", ["ML501"]),
    ("poetry run python train.py +lr=1\n", ["ML501"]),
    ("conda run -n ml python train.py +lr=1\n", ["ML501"]),
    ("$PYTHON train.py +lr=1\n", ["ML501"]),
    ("\"${PYTHON:-python}\" train.py +lr=1\n", ["ML501"]),
    ("srun --pty bash -c 'echo hi' +lr=1\n", []),
    ("python train.py ~lrr\n", ["ML502"]),  # `~name` reaches Hydra as it is (no such user)
    ("python train.py ~lr\n", []),
])
def test_shell_forms(project, script, expected):
    (project / "pkg").mkdir()
    (project / "pkg" / "train.py").write_text((project / "train.py").read_text().replace('"conf"', '"../conf"'))
    diags = lint(script, CODES, path=str(project / "run.sh"), root=project)
    assert [d.code for d in diags] == expected


# ---- discovery: compose(), settings, directory runs -------------------------------------------

def test_compose_overrides_with_initialize(project):
    src = textwrap.dedent("""\
        from hydra import compose, initialize

        def test_cfg():
            with initialize(version_base=None, config_path="conf"):
                cfg = compose(config_name="cfg", overrides=["+lr=1", "trainer.max_step=1"])
                bad = compose("cfgg", overrides=[])
        """)
    diags = lint(src, CODES, path=str(project / "test_cfg.py"), root=project)
    assert [(d.code, d.start.row) for d in diags] == [("ML501", 5), ("ML502", 5), ("ML503", 6)]


def test_apps_table_in_settings(tmp_path):
    files = {k: v for k, v in FILES.items() if k != "train.py"}
    files["main.py"] = "import hydra\nCONF = 'conf'\n@hydra.main(config_path=CONF, config_name='cfg')\ndef m(c): ...\n"
    project = build(tmp_path, files)
    src = "import subprocess\nsubprocess.run(['python', 'main.py', '+lr=1'])\n"
    assert lint(src, CODES, path=str(project / "l.py"), root=project) == []
    hydra = {"config-path": "conf", "config-name": "cfg"}
    assert [d.code for d in lint(src, CODES, path=str(project / "l.py"), root=project, hydra=hydra)] == ["ML501"]
    hydra = {"apps": {"main.py": {"config-path": "conf", "config-name": "cfg"}}}
    assert [d.code for d in lint(src, CODES, path=str(project / "l.py"), root=project, hydra=hydra)] == ["ML501"]


def test_allow_double_plus_fix(project):
    src = "import subprocess\nsubprocess.run(['python', 'train.py', '+lr=1'])\n"
    out = fix(src, CODES, path=str(project / "l.py"), root=project, hydra={"allow-double-plus": True})
    assert "'++lr=1'" in out


def test_directory_run_includes_shell_scripts(project, monkeypatch):
    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (project / "scripts").mkdir()
    (project / "scripts" / "run.sh").write_text("python train.py +lr=1\n")
    (project / "scripts" / "job.sbatch").write_text("#!/bin/bash\n#SBATCH -N 1\nmodule load cuda\n"
                                                    "srun python train.py +lr=1\n")
    (project / "pyproject.toml").write_text("[tool.mllint]\n")
    monkeypatch.chdir(project)
    out = CliRunner().invoke(main, ["--select", "ML5", "--no-cache", "."])
    assert "scripts/run.sh:1:17: ML501" in out.output
    assert "scripts/job.sbatch:4:22: ML501" in out.output
    # named on the command line (as pre-commit names it), a SLURM script is a shell script too
    out = CliRunner().invoke(main, ["--select", "ML000,ML5", "--no-cache", "scripts/job.sbatch"])
    assert "ML000" not in out.output and "scripts/job.sbatch:4:22: ML501" in out.output


# ---- defaults lists in the config files (ML503) -----------------------------------------------

@pytest.mark.parametrize("defaults,flagged", [
    ("  - arch: smal\n", [(2, 11)]),
    ("  - arch: [small, bgi]\n", [(2, 19)]),
    ("  - override arch: nope\n", [(2, 20)]),
    ("  - arch: small\n", []),
    ("  - optional arch: nope\n", []),  # optional: Hydra skips a missing option
    ("  - arch: null\n", []),
    ("  - arch: ???\n", []),
    ("  - opt: adam\n  - arch@backup: big\n", []),
])
def test_defaults_list_options(project, defaults, flagged):
    cfg = project / "conf" / "cfg.yaml"
    text = cfg.read_text().replace("  - arch: small\n", defaults)
    if "override" in defaults:
        text = text.replace(defaults, "  - arch: small\n" + defaults.replace("arch: nope", "arch: nope\n", 1))
        text = text.replace("\n\n", "\n")
        flagged = [(3, 20)]
    cfg.write_text(text)
    diags = lint(text, "ML503", path=str(cfg), root=project)
    assert [(d.start.row, d.start.column) for d in diags] == flagged
    if "???" not in defaults:
        assert hydra_fails(project, []) == bool(flagged)


def test_defaults_list_of_an_app_with_config_store_is_not_checked(tmp_path):
    files = dict(FILES)
    files["train.py"] = files["train.py"].replace("import hydra", "import hydra\n        from hydra.core.config_store import ConfigStore")
    files["conf/cfg.yaml"] = files["conf/cfg.yaml"].replace("arch: small", "arch: from_store")
    project = build(tmp_path, files)
    assert lint((project / "conf/cfg.yaml").read_text(), "ML503", path=str(project / "conf/cfg.yaml"), root=project) == []


def test_yaml_outside_any_config_dir_is_not_checked(project):
    text = "defaults:\n  - arch: nope\n"
    assert lint(text, "ML503", path=str(project / "other" / "x.yaml"), root=project) == []


def test_backslash_space_ends_the_continuation(project):
    # found in a public RL trainer's example script: the rest of the overrides never reach Hydra
    script = "python3 train.py \\\n    lr=1 \\  # options: 1, 2\n    arch=big\n"
    diags = lint(script, CODES, path=str(project / "run.sh"), root=project)
    assert [(d.code, d.start.row) for d in diags] == [("ML502", 2)]
    assert "backslash followed by a space" in diags[0].message
    assert hydra_fails(project, ["lr=1", " "])


def test_unexpanded_tilde_is_rejected_by_hydra_too(project):
    assert hydra_fails(project, ["trainer.max_steps=~/x"])

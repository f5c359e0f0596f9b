"""Rule packs (mllint.packs, docs/rule-packs.md): rules that other distributions declare in the
`mllint.rules` entry-point group work as mllint's own, and a broken pack stops the run with one line.

Most tests "install" a pack by writing its `*.dist-info/entry_points.txt` into a directory put on
PYTHONPATH (what an installer writes, without running one); the last one installs the example pack
of examples/mllint-pack-example with pip into a new virtual environment and lints with it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mllint-pack-example"
TIMEOUT = 120

TRAIN = """\
import torch
from acme.optim import param_groups

optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
finetune = torch.optim.SGD(model.parameters())  # noqa: ACME001
x = 1  # noqa: ACME001
scaler = torch.cuda.amp.GradScaler()
"""


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def install(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str] | None = None):
    """A distribution as an installer leaves it in `site`: its dist-info and its modules."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[console_scripts]\nx = y:z\n\n[mllint.rules]\n{lines}")
    for name, source in (modules or {}).items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))
    return info


@pytest.fixture
def site(tmp_path) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    return directory


@pytest.fixture
def project(tmp_path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "pyproject.toml").write_text("[tool.mllint]\n")
    (directory / "train.py").write_text(TRAIN)
    return directory


def mllint(project: Path, *paths: Path, args=(), python: str = sys.executable, importtime: bool = False):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*map(str, paths), env.get("PYTHONPATH", "")]))
    command = [python, *(["-X", "importtime"] if importtime else []), "-m", "mllint", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=project, env=env, timeout=TIMEOUT)


@pytest.fixture
def mllint_here(monkeypatch, capsys, tmp_path):
    """`mllint(project, *paths, args=...)` run in this process (as `python -m mllint` in `project`,
    with `paths` on sys.path): the same answers without starting an interpreter each time."""
    from mllint import __main__ as entry
    from mllint.engine import packs
    from mllint.run import versions

    def run(project: Path, *paths: Path, args=()):
        monkeypatch.chdir(project)
        monkeypatch.setattr(sys, "path", [*map(str, paths), str(project), *sys.path])  # -m puts the cwd first
        monkeypatch.setattr(sys, "argv", ["mllint", *args])
        monkeypatch.setattr(versions, "_CODE", None)
        packs.reset()
        importlib.invalidate_caches()
        capsys.readouterr()
        try:
            entry.main()
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), status, out, err)

    yield run
    packs.reset()
    for name, module in list(sys.modules.items()):  # the fake packs' modules: each test writes its own
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def example_installed(site: Path, version: str = "0.1.0") -> list[Path]:
    """The example pack, installed from its sources: PYTHONPATH entries."""
    install(site, "mllint_pack_example", version, {"ACME": "mllint_pack_example.rules"})
    return [site, EXAMPLE / "src"]


@pytest.mark.parametrize("text, expected", [
    ("[mllint.rules]\nACME = acme.rules\n", [("ACME", "acme.rules")]),
    ("[console_scripts]\nACME = not.this\n[mllint.rules]\n  ACME=acme.rules:RULES  \n\n[other]\nX = y\n",
     [("ACME", "acme.rules:RULES")]),
    ("[mllint.rules]\n# ACME = commented.out\nACME = a\nTEAM = b\n", [("ACME", "a"), ("TEAM", "b")]),
    ("[mllint.rules.extra]\nACME = a\n", []),
])
def test_entry_points_txt_is_read_as_importlib_metadata_reads_it(text, expected):
    from importlib.metadata import EntryPoints
    from mllint.engine.packs import _entry_points

    assert _entry_points(text) == expected
    assert [(ep.name, ep.value) for ep in EntryPoints._from_text(text) if ep.group == "mllint.rules"] == expected


# ---- a broken pack: one line naming it, exit 2 ------------------------------------------------

RULE = """
from mllint.api import Rule
class R(Rule):
    code = {code!r}
    name = "r"
    summary = "r"
"""


@pytest.mark.parametrize("prefix, code, expected", [
    ("ML", "ML901", "not starting with ML"),
    ("MLX", "MLX001", "not starting with ML"),
    ("Acme", "Acme001", "upper-case letters"),
    ("ACME", "ACME01X", "prefix and digits"),
    ("ACME", "OTHER001", "prefix and digits"),
    ("ACME", "ACME", "prefix and digits"),
])
def test_bad_prefixes_and_codes_are_refused(mllint_here, site, project, prefix, code, expected):
    install(site, "bad_pack", "2.0", {prefix: "bad_rules"}, {"bad_rules": RULE.format(code=code)})
    proc = mllint_here(project, site, args=["rules"])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"mllint: error: rule pack {prefix} (bad_pack 2.0")
    assert expected in proc.stderr


@pytest.mark.parametrize("args", [["rules"], ["check", "."], ["explain", "ML101"]])
def test_two_packs_with_one_prefix_are_refused(mllint_here, site, project, args):
    install(site, "first_pack", "1.0", {"ACME": "first_rules"}, {"first_rules": RULE.format(code="ACME001")})
    install(site, "second_pack", "1.0", {"ACME": "second_rules"}, {"second_rules": RULE.format(code="ACME002")})
    proc = mllint_here(project, site, args=args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "rule pack ACME (second_pack 1.0" in proc.stderr and "also declared by rule pack ACME (first_pack" in proc.stderr


@pytest.mark.parametrize("modules, target, expected", [
    ({}, "missing_module", "cannot be loaded: ModuleNotFoundError"),
    ({"broken": "raise RuntimeError('boom')\n"}, "broken", "cannot be loaded: RuntimeError: boom"),
    ({"empty": "X = 1\n"}, "empty", "declares no rules"),
    ({"listed": "RULES = [1, 2]\n"}, "listed", "not a module or a list of mllint.api.Rule subclasses"),
    ({"twice": RULE.format(code="ACME001") + "class S(R):\n    code = 'ACME001'\n"}, "twice", "declared twice"),
    ({"named": RULE.format(code="ACME001")}, "named:missing", "cannot be loaded: AttributeError"),
    ({"beta": RULE.format(code="ACME001") + "    stability = 'beta'\n"}, "beta", "stability 'beta'"),
    ({"opts": RULE.format(code="ACME001") + "    options = {'max_steps': None}\n"}, "opts", "kebab-case ('max_steps')"),
])
def test_a_pack_that_cannot_be_used_is_refused(mllint_here, site, project, modules, target, expected):
    install(site, "acme_pack", "1.0", {"ACME": target}, modules)
    proc = mllint_here(project, site, args=["check", "."])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("mllint: error: rule pack ACME (acme_pack 1.0") and expected in proc.stderr


def test_the_linted_directory_cannot_declare_a_pack(mllint_here, site, project):
    """`python -m mllint` puts the working directory on sys.path: a dist-info there is not read
    (mllint never imports the code it lints)."""
    install(project, "local_pack", "1.0", {"ACME": "missing_module"})
    proc = mllint_here(project, args=["rules"])
    assert proc.returncode == 0 and "ACME" not in proc.stdout


def test_an_entry_point_may_name_a_list_of_rules(mllint_here, site, project):
    module = RULE.format(code="ACME007") + "RULES = [R]\nclass NotListed(R):\n    code = 'ACME008'\n"
    install(site, "acme_pack", "1.0", {"ACME": "acme_rules:RULES"}, {"acme_rules": module})
    proc = mllint_here(project, site, args=["rules"])
    assert proc.returncode == 0 and "ACME007" in proc.stdout and "ACME008" not in proc.stdout


# ---- pack rules are selected, configured and suppressed as mllint's own ------------------------

@pytest.mark.parametrize("config, args, expected", [
    ("", ["--select", "ACME"], ["4:31 ACME001", "7:10 ACME002"]),
    ("", ["--select", "ACME001,ML001"], ["4:31 ACME001", "6:8 ML001"]),
    ("", [], ["4:31 ACME001", "6:8 ML001", "7:10 ACME002"]),  # the default selection includes pack rules
    # a `# noqa` for a rule that is not enabled is reported (ML001 "non-enabled"), as Ruff's RUF100 does
    ("", ["--ignore", "ACME"], ["5:49 ML001", "6:8 ML001"]),
    ("", ["--select", "ACME", "--ignore", "ACME002"], ["4:31 ACME001"]),
    ('ignore = ["ACME001"]\n', [], ["5:49 ML001", "6:8 ML001", "7:10 ACME002"]),
    ('per-file-ignores = {"train.py" = ["ACME"]}\n', [], ["5:49 ML001", "6:8 ML001"]),
    ('per-file-ignores = {"*.py" = ["ACME001"]}\n', ["--select", "ACME"], ["7:10 ACME002"]),
    ('select = ["ACME00"]\n', [], ["4:31 ACME001", "7:10 ACME002"]),
])
def test_selection(mllint_here, site, project, config, args, expected):
    (project / "pyproject.toml").write_text("[tool.mllint]\n" + config)
    proc = mllint_here(project, *example_installed(site), args=["check", "--format", "json", *args, "."])
    import json

    assert proc.returncode == (1 if expected else 0), proc.stderr
    got = [f"{d['location']['row']}:{d['location']['column']} {d['code']}" for d in json.loads(proc.stdout)]
    assert got == expected


def test_rule_options(mllint_here, site, project):
    (project / "pyproject.toml").write_text('[tool.mllint.rules.ACME001]\nhelper = "team.opt.groups"\n')
    proc = mllint_here(project, *example_installed(site), args=["check", "--select", "ACME", "."])
    assert proc.returncode == 1 and "`team.opt.groups(model)`" in proc.stdout
    (project / "pyproject.toml").write_text('[tool.mllint.rules.ACME001]\nhelpr = "x"\n')
    proc = mllint_here(project, *example_installed(site, "0.1.1"), args=["check", "."])
    assert proc.returncode == 2 and "unknown option `tool.mllint.rules.ACME001.helpr` (options of ACME001: helper)" \
        in proc.stderr


def test_rules_and_explain_show_the_pack(mllint_here, site, project):
    paths = example_installed(site)
    listed = mllint_here(project, *paths, args=["rules"])
    assert listed.returncode == 0
    assert [line.split()[:2] for line in listed.stdout.splitlines() if line.startswith("ACME")] == [
        ["ACME001", "optimizer-without-param-groups"], ["ACME002", "cuda-amp-gradscaler"]]
    as_json = mllint_here(project, *paths, args=["rules", "--format", "json"])
    assert [r["fix"] for r in __import__("json").loads(as_json.stdout) if r["code"].startswith("ACME")] == [
        "unsafe", "safe"]
    page = mllint_here(project, *paths, args=["explain", "ACME001"])
    assert page.returncode == 0
    assert page.stdout == (EXAMPLE / "src/mllint_pack_example/rule_docs/ACME001-optimizer-without-param-groups.md"
                           ).read_text().rstrip("\n") + "\n"
    assert mllint_here(project, *paths, args=["explain", "optimizer-without-param-groups"]).stdout == page.stdout


def test_a_pack_upgrade_invalidates_cached_results_and_run_records(site, project):
    paths = example_installed(site, "0.1.0")
    first = mllint(project, *paths, args=["--select", "ACME"], importtime=True)
    replayed = mllint(project, *paths, args=["--select", "ACME"], importtime=True)
    assert first.returncode == replayed.returncode == 1 and replayed.stdout == first.stdout
    # replayed: the pack was not imported either. (-X importtime does not list what
    # importlib.import_module imports, but it does list what the pack's module imports: candidates.)
    assert not {"mllint.frontends.cli", "mllint.api", "mllint.engine.rule", "mllint.engine.candidates"} & _imported(replayed.stderr)
    cached = mllint(project, *paths, args=["--select", "ACME", "-o", "out.txt"], importtime=True)
    assert (project / "out.txt").read_text() == first.stdout
    assert "mllint.api" in _imported(cached.stderr)  # the pack's module, imported for its metadata,
    assert "libcst" not in _imported(cached.stderr)  # is light; the per-file cache answers for the files
    (site / "mllint_pack_example-0.1.0.dist-info").rename(site / "mllint_pack_example-0.2.0.dist-info")
    upgraded = mllint(project, *paths, args=["--select", "ACME"], importtime=True)
    assert upgraded.stdout == first.stdout
    assert {"mllint.frontends.cli", "libcst"} <= _imported(upgraded.stderr)  # neither replayed nor answered by the cache


def test_editing_a_development_pack_invalidates_cached_results(site, project, tmp_path):
    source = tmp_path / "src"
    (source / "mllint_pack_example").mkdir(parents=True)
    for file in (EXAMPLE / "src/mllint_pack_example").glob("*.py"):
        (source / "mllint_pack_example" / file.name).write_text(file.read_text())
    install(site, "mllint_pack_example", "0.1.0", {"ACME": "mllint_pack_example.rules"})
    first = mllint(project, site, source, args=["--select", "ACME"])
    assert first.returncode == 1 and "build its parameter groups" in first.stdout
    rules = source / "mllint_pack_example" / "rules.py"
    rules.write_text(rules.read_text().replace("build its parameter groups", "make its parameter groups"))
    second = mllint(project, site, source, args=["--select", "ACME"])
    assert second.returncode == 1 and "make its parameter groups" in second.stdout


def test_without_packs_the_key_is_unchanged():
    from mllint.engine import packs
    from mllint.run.versions import code_fingerprint

    assert packs.found() == [] and "|packs:" not in code_fingerprint()


# ---- the example pack, installed with pip into a new environment -------------------------------

def _venv_with_this_environment(directory: Path) -> Path:
    """A virtual environment that also sees the running interpreter's packages (mllint, pip,
    hatchling): `--system-site-packages` would give the base interpreter's, not this venv's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=TIMEOUT)
    python = directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=TIMEOUT).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_outer_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in sorted(ours)))
    return python


def test_the_example_pack_installed_with_pip(tmp_path, project):
    python = _venv_with_this_environment(tmp_path / "venv")
    install_log = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         str(EXAMPLE)], capture_output=True, text=True, timeout=TIMEOUT)
    assert install_log.returncode == 0, install_log.stderr
    run = lambda *args: mllint(project, python=str(python), args=args)  # noqa: E731

    listed = run("rules")
    assert listed.returncode == 0 and "ACME001  optimizer-without-param-groups" in listed.stdout
    found = run("--select", "ACME,ML001", ".")
    assert found.returncode == 1
    assert [line.split(" ")[:2] for line in found.stdout.splitlines() if line.startswith("train.py")] == [
        ["train.py:4:31:", "ACME001"], ["train.py:6:8:", "ML001"],  # line 5's noqa is used, line 6's is not
        ["train.py:7:10:", "ACME002"]]
    page = run("explain", "ACME002")
    assert page.returncode == 0 and page.stdout.startswith("# ACME002 `cuda-amp-gradscaler`\n")

    safe = run("--select", "ACME,ML001", "--fix", ".")  # ACME002's and ML001's fixes are safe, ACME001's is not
    assert safe.returncode == 1 and "train.py:4:31: ACME001" in safe.stdout
    after_safe = TRAIN.replace("x = 1  # noqa: ACME001", "x = 1").replace(
        "torch.cuda.amp.GradScaler()", 'torch.amp.GradScaler("cuda")')
    assert (project / "train.py").read_text() == after_safe
    unsafe = run("--select", "ACME,ML001", "--fix", "--unsafe-fixes", ".")
    assert unsafe.returncode == 0, unsafe.stdout + unsafe.stderr
    assert (project / "train.py").read_text() == after_safe.replace(
        "AdamW(model.parameters()", "AdamW(param_groups(model)")

    # the pack's own tests pass against the installed pack
    tests = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", str(EXAMPLE / "tests")],
                           capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-2000:]

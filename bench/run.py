#!/usr/bin/env python3
"""Benchmark harness: mllint against the LibCST parse floor and other linters, in one run.

    python bench/run.py [--repeat 3] [--slow-repeat 1] [--large] [--work DIR] [--skip fixit,torchfix]

It builds the corpora in a temporary directory with `pip download --no-deps` (never committed):
  small: cleanrl + stable-baselines3 + timm sources;
  large (--large): transformers + PyTorch's own Python files.
Each tool gets its own virtual environment. Runs alternate between tools (round-robin), and the
report gives whole-process wall and CPU medians, the ratio to the single-process LibCST parse
floor, and peak memory per process (the largest max RSS of any process of the run: the
command's own or one of its workers', which mllint waits for). Fixit and TorchFix take minutes
per run; `--slow-repeat` runs them fewer times. With `--large`, the large corpus also times the
pre-commit case: one changed file in a warm repository, linted by name and as part of the whole
tree. mllint is installed from this checkout afresh on every run. Results go to stdout as
Markdown; paste them into bench/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL = ["cleanrl", "stable-baselines3", "timm"]
LARGE = ["transformers", "torch==2.13.0"]
WHEELS = "/opt/wheels"  # where this machine keeps the torch CPU wheel (pip would download gigabytes)
CHANGED_FILE = "transformers/transformers/models/bert/modeling_bert.py"  # a mid-sized model file

PARSE_FLOOR = r"""
import sys, libcst
from pathlib import Path
for p in sorted(Path(sys.argv[1]).rglob("*.py")):
    try:
        libcst.parse_module(p.read_bytes())
    except Exception:
        pass
"""

READ_FILES = r"""
import sys
from pathlib import Path
n = sum(len(p.read_bytes()) for p in Path(sys.argv[1]).rglob("*.py"))
"""


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def venv(root: Path, name: str, packages: list[str]) -> Path:
    env = root / f"venv-{name}"
    if not (env / "bin" / "python").exists():
        sh([sys.executable, "-m", "venv", str(env)])
        sh([str(env / "bin" / "pip"), "install", "-q", *packages], stdout=subprocess.DEVNULL)
    return env / "bin"


def corpus(root: Path, name: str, packages: list[str]) -> Path:
    out = root / f"corpus-{name}"
    if out.is_dir():
        return out
    dl = root / f"download-{name}"
    dl.mkdir(parents=True, exist_ok=True)
    links = ["--find-links", WHEELS] if os.path.isdir(WHEELS) else []
    sh([sys.executable, "-m", "pip", "download", "--no-deps", "-q", *links, "-d", str(dl), *packages],
       stdout=subprocess.DEVNULL)
    for archive in dl.iterdir():
        target = out / archive.name.split("-")[0]
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if member.endswith(".py") and ".dist-info" not in member:
                        zf.extract(member, target)
        else:
            shutil.unpack_archive(str(archive), str(target))
    return out


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """wall seconds, CPU seconds of the command and its children, peak RSS (MB) of any of them."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "w = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(w, r.ru_utime + r.ru_stime, r.ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=cwd, check=True,
                         env=ENV)
    wall, cpu, rss = out.stdout.split()
    return float(wall), float(cpu), int(rss) // 1024


# Bytecode caches on, as on a user's machine (some CI images turn them off).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def changed_file_runs(mllint: list[str], cdir: Path, repeat: int, work: Path) -> dict[str, list]:
    """The pre-commit case: the cache is warm, one file changes, mllint runs on it (and on the tree)."""
    target = cdir / CHANGED_FILE
    original = target.read_bytes()
    out: dict[str, list] = {f"mllint, 1 changed file, named ({target.name})": [],
                            "mllint, 1 changed file, whole tree": []}
    try:
        for i in range(repeat):
            for name, paths in zip(out, ([str(target)], [str(cdir)])):
                target.write_bytes(original + f"# bench edit {time.time_ns()} {i}\n".encode())
                out[name].append(timed([*mllint, *paths], work))
    finally:
        target.write_bytes(original)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slow-repeat", type=int, default=None, help="runs of fixit and torchfix (default: --repeat)")
    ap.add_argument("--large", action="store_true", help="also the transformers + PyTorch corpus")
    ap.add_argument("--work", type=Path, default=None, help="reuse this directory (venvs, corpora)")
    ap.add_argument("--skip", default="", help="comma-separated tools to leave out (fixit,torchfix,ruff)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mllint-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))

    mllint_bin = venv(work, "mllint", [str(REPO)])
    sh([str(mllint_bin / "pip"), "install", "-q", "--force-reinstall", "--no-deps", str(REPO)],
       stdout=subprocess.DEVNULL)  # the code at this checkout, not whatever the venv had
    tools: dict[str, list[str]] = {}
    corpora = {"small": corpus(work, "small", SMALL)}
    if args.large:
        corpora["large"] = corpus(work, "large", LARGE)
    cores = os.cpu_count() or 1

    report = [f"# mllint benchmark — {time.strftime('%Y-%m-%d')}",
              "", f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
              f"{platform.system()} {platform.release()}", ""]
    for cname, cdir in corpora.items():
        files = list(cdir.rglob("*.py"))
        lines = sum(p.read_bytes().count(b"\n") for p in files)
        cache_home = work / f"cache-{cname}"
        cfg = cache_home / "pyproject.toml"
        cache_home.mkdir(exist_ok=True)
        cfg.write_text("[tool.mllint]\n")
        mllint = [str(mllint_bin / "mllint"), "--config", str(cfg), "-q", "--exit-zero"]
        tools = {
            "read files (python)": [str(mllint_bin / "python"), "-c", READ_FILES, str(cdir)],
            "LibCST parse floor (1 process)": [str(mllint_bin / "python"), "-c", PARSE_FLOOR, str(cdir)],
            "mllint cold, 1 process": [*mllint, "--no-cache", "--jobs", "1", str(cdir)],
            f"mllint cold, {cores} processes": [*mllint, "--no-cache", "--jobs", str(cores), str(cdir)],
            "mllint warm cache": [*mllint, "--jobs", str(cores), str(cdir)],
        }
        if "ruff" not in skip:
            tools["ruff check"] = [str(venv(work, "ruff", ["ruff"]) / "ruff"), "check", "--no-cache",
                                   "--exit-zero", "--quiet", str(cdir)]
        slow = {}
        if "fixit" not in skip and cname == "small":
            slow["fixit lint"] = [str(venv(work, "fixit", ["fixit"]) / "fixit"), "lint", str(cdir)]
        if "torchfix" not in skip and cname == "small":
            slow["torchfix"] = [str(venv(work, "torchfix", ["torchfix"]) / "torchfix"), str(cdir)]
        if cname == "large":  # the floor and mllint are what the large-corpus targets are about
            tools = {k: v for k, v in tools.items() if k in ("LibCST parse floor (1 process)",
                                                             f"mllint cold, {cores} processes", "mllint warm cache")}
        tools.update(slow)
        slow_repeat = args.slow_repeat if args.slow_repeat is not None else args.repeat
        # warm the cache once before timing the warm runs
        subprocess.run(tools["mllint warm cache"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
                       env=ENV)
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in tools}
        for round_ in range(args.repeat):
            for name, cmd in tools.items():  # alternate: one run of each tool per round
                if name in slow and round_ >= slow_repeat:
                    continue
                results[name].append(timed(cmd, work))
        if cname == "large":
            results.update(changed_file_runs(mllint, cdir, args.repeat, work))
        floor = statistics.median(r[1] for r in results["LibCST parse floor (1 process)"])
        floor_wall = statistics.median(r[0] for r in results["LibCST parse floor (1 process)"])
        report += [f"## Corpus `{cname}`: {len(files)} files, {lines:,} lines ({', '.join(SMALL if cname == 'small' else LARGE)})",
                   "", f"Medians of {args.repeat} alternating runs"
                   + (f" ({slow_repeat} for {', '.join(slow)})" if slow and slow_repeat != args.repeat else "") + ".",
                   "",
                   "| what | wall s | CPU s | wall / floor wall | peak RSS MB |", "|---|---|---|---|---|"]
        for name, runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            rss = max(r[2] for r in runs)
            report.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / floor_wall:.2f}× | {rss} |")
        report.append("")
        report.append(f"Parse floor CPU: {floor:.2f} s.")
        floor_rss = max(r[2] for r in results["LibCST parse floor (1 process)"])
        mllint_rss = max(r[2] for r in results[f"mllint cold, {cores} processes"])
        report.append(f"Peak memory per process: mllint cold on {cores} processes {mllint_rss} MB, parse floor "
                      f"{floor_rss} MB ({mllint_rss / floor_rss:.2f}×).")
        report.append("")
    print("\n".join(report))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One very large file in one process: 100,000 lines, one ML103 finding on each.

    python bench/large_file.py [--lines 100000] [--mllint "python -m mllint"]

Writes the file to a temporary directory (never committed), runs
`mllint check --no-cache --jobs 1 --statistics FILE` once with all default rules, and prints
the wall time, the CPU time, the peak memory and the number of findings. Before the per-file
analysis layer (mllint.analysis), ML103 walked its scope once per division, so this file would
have taken hours; the target is under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(lines: int) -> str:
    return "import torch\n" + "".join(f"b{i} = a{i} / a{i}.std()\n" for i in range(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--mllint", default=f"{shlex.quote(sys.executable)} -m mllint",
                    help="the command to run (default: this interpreter's mllint)")
    args = ap.parse_args()
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(REPO / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.py"
        path.write_text(generate(args.lines))
        cmd = [*shlex.split(args.mllint), "check", "--no-cache", "--jobs", "1", "--statistics",
               "--format", "json", str(path)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"mllint failed ({proc.returncode}):\n{proc.stderr}")
    counts = {row["code"]: row["count"] for row in json.loads(proc.stdout)}
    print(f"lines: {args.lines + 1:,}; findings: {counts}")
    print(f"wall {wall:.1f} s, CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()

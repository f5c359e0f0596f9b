"""Command lines that launch a Hydra app: from shell scripts (parsed with bashlex) and from
Python launchers (subprocess argument lists, os.system strings, compose(overrides=[...])).

A command is split into the program that runs (`python script.py`, `python -m pkg.mod`,
`torchrun ... script.py`, `accelerate launch ... script.py`) and the words after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mllint.diagnostics import line_starts, split_lines
from mllint.diagnostics import Location
from mllint.hydra.check import PLACEHOLDER, Arg

PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")
WRAPPERS = {"nohup", "exec", "time", "command"}
# Programs that run the command after their own options: job launchers (a SLURM script's
# `srun python train.py ...` is where a queued job's overrides live), CPU/NUMA pinning, limits.
OPTION_WRAPPERS = {"srun", "mpirun", "mpiexec", "numactl", "taskset", "nice", "ionice", "stdbuf", "chrt",
                   "xvfb-run", "timeout", "catchsegv"}
# Positional arguments some of them take before the command (`timeout 2h`, `taskset 0x3`).
WRAPPER_POSITIONAL = re.compile(r"^(\d+(\.\d+)?[smhd]?|0x[0-9a-fA-F]+|[\d,-]+)$")
# `uv run python train.py ...`, `poetry run ...`: environment managers that run a command.
RUNNERS = {"uv", "poetry", "pipenv", "conda", "mamba", "micromamba", "pdm", "hatch", "rye", "pixi"}
LAUNCHERS = {"torchrun", "deepspeed"}
DIST_MODULES = {"torch.distributed.run", "torch.distributed.launch"}
PY_VALUE_OPTS = {"-W", "-X", "-Q"}


@dataclass
class Command:
    script: str | None
    module: str | None
    args: list[Arg]
    anchor: Arg  # the program word (for messages)


def _skip_launcher_options(words: list[Arg], i: int) -> tuple[int, bool]:
    """Skip torchrun/accelerate/deepspeed options; True if `-m/--module` says a module follows."""
    module = False
    while i < len(words):
        t = words[i].text
        if t is None or not t.startswith("-"):
            break
        if t in ("-m", "--module"):
            module = True
            i += 1
            continue
        if "=" not in t and i + 1 < len(words):
            nxt = words[i + 1].text
            if nxt is not None and not nxt.startswith("-") and not nxt.endswith(".py") and not _is_program(nxt):
                i += 1  # the option's value
        i += 1
    return i, module


def _is_program(text: str) -> bool:
    """Is this word a program that runs a Python app (not a wrapper option's value)?"""
    prog = Path(text).name
    return bool(PYTHON.match(prog)) or prog in LAUNCHERS or prog == "accelerate"


def _skip_wrappers(words: list[Arg], i: int) -> int:
    """The index of the program after wrappers (`nohup`, `srun -n 4`, `env A=1`, `uv run`)."""
    while i < len(words):
        t = words[i].text
        prog = Path(t).name if t else None
        if prog in WRAPPERS:
            i += 1
        elif prog == "env":
            i += 1
            while i < len(words) and words[i].text and "=" in words[i].text and not words[i].text.startswith("-"):
                i += 1
        elif prog in OPTION_WRAPPERS:
            i, _ = _skip_launcher_options(words, i + 1)
            if i < len(words) and words[i].text and WRAPPER_POSITIONAL.match(words[i].text):
                i += 1
        elif prog in RUNNERS and i + 1 < len(words) and words[i + 1].text == "run":
            i, _ = _skip_launcher_options(words, i + 2)
        else:
            return i
    return i


def split_command(words: list[Arg]) -> Command | None:
    """The Python app a command runs and the words after it, or None."""
    i = _skip_wrappers(words, 0)
    if i >= len(words):
        return None
    if not words[i].known:
        # `$PYTHON train.py ...`: an interpreter held in a variable, running a script
        if i + 1 < len(words) and words[i + 1].known and words[i + 1].text.endswith(".py"):
            return Command(words[i + 1].text, None, words[i + 2:], words[i])
        return None
    head = words[i]
    prog = Path(head.text).name
    i += 1
    if prog == "accelerate" and i < len(words) and words[i].text == "launch":
        i, module = _skip_launcher_options(words, i + 1)
        return _target(words, i, head, module)
    if prog in LAUNCHERS:
        i, module = _skip_launcher_options(words, i)
        return _target(words, i, head, module)
    if PYTHON.match(prog):
        while i < len(words):
            t = words[i].text
            if t is None:
                return None
            if t in ("-m",) and i + 1 < len(words):
                mod = words[i + 1].text
                if mod in DIST_MODULES:
                    j, module = _skip_launcher_options(words, i + 2)
                    return _target(words, j, head, module)
                return _target(words, i + 1, head, True)
            if t == "-c" or t == "-":
                return None
            if t in PY_VALUE_OPTS:
                i += 2
                continue
            if t.startswith("-"):
                i += 1
                continue
            break
        return _target(words, i, head, False)
    if prog.endswith(".py"):
        return Command(head.text, None, words[i:], head)
    return None


def _target(words: list[Arg], i: int, head: Arg, module: bool) -> Command | None:
    if i >= len(words) or not words[i].known:
        return None
    name = words[i].text
    if module:
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            return None
        return Command(None, name, words[i + 1:], head)
    if not name.endswith(".py"):
        return None
    return Command(name, None, words[i + 1:], head)


# ---- shell -------------------------------------------------------------------------------------

class _CollectorMixin:
    """Collects each simple command's words (assignments before the command are not words)."""

    def __init__(self, source: str, offset: int, out: list[list[tuple[str, int, int, list]]]):
        self.source = source
        self.offset = offset
        self.out = out

    def visitcommand(self, node, parts):
        words = []
        for p in parts:
            if p.kind == "word":
                words.append((p.word, p.pos[0] + self.offset, p.pos[1] + self.offset,
                              [(q.pos[0] + self.offset, q.pos[1] + self.offset) for q in getattr(p, "parts", [])
                               if q.kind in ("parameter", "commandsubstitution", "processsubstitution")
                               or q.kind == "tilde" and _home_tilde(q.value)]))
        if words:
            self.out.append(words)


def _home_tilde(value: str) -> bool:
    """`~`, `~/...` (and `~+`, `~-`) expand; `~name` expands only if a user `name` exists, which a
    Hydra deletion such as `~model` does not count on: it reaches Hydra as it is."""
    return value in ("~", "~+", "~-")


# bashlex does not implement the `time` keyword: blanked (same length, so offsets hold).
_TIME_KEYWORD = re.compile(r"(^[ \t]*|[;&|(]\s*|\b(?:then|do|else)\s+)time(?=[ \t])", re.M)


_BASHLEX: list = []


def _bashlex():
    """bashlex and the collector class, imported on first use (most runs lint no shell script)."""
    if not _BASHLEX:
        import bashlex

        class Collector(_CollectorMixin, bashlex.ast.nodevisitor):
            pass

        _BASHLEX.extend([bashlex, Collector])
    return _BASHLEX


def _logical_lines(source: str) -> list[tuple[int, int]]:
    """Spans of the source's logical lines (a line ending in a backslash continues)."""
    spans = []
    start = 0
    pos = 0
    for line in split_lines(source, keepends=True):
        pos += len(line)
        if line.rstrip("\r\n").endswith("\\"):
            continue
        spans.append((start, pos))
        start = pos
    if start < len(source):
        spans.append((start, len(source)))
    return spans


def shell_words(source: str) -> list[list[tuple[str, int, int, list]]]:
    """Each simple command's words as (text, start offset, end offset, expansion spans)."""
    bashlex, collector = _bashlex()
    out: list[list] = []
    source = _TIME_KEYWORD.sub(lambda m: m.group(1) + "    ", source)
    try:
        for tree in bashlex.parse(source):
            collector(source, 0, out).visit(tree)
        return out
    except Exception:  # bashlex does not know every construct: fall back to one logical line at a time
        out = []
    for begin, end in _logical_lines(source):
        chunk = source[begin:end]
        if not chunk.strip() or chunk.lstrip().startswith("#"):
            continue
        try:
            for tree in bashlex.parse(chunk):
                collector(chunk, begin, out).visit(tree)
        except Exception:
            continue
    return out


def _location(starts: list[int], offset: int) -> Location:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return Location(lo + 1, offset - starts[lo] + 1)


def shell_args(source: str, words, starts: list[int]) -> list[Arg]:
    args = []
    for text, begin, end, expansions in words:
        raw = source[begin:end]
        value = text
        for b, e in expansions:
            piece = source[b:e]
            if piece in value:
                value = value.replace(piece, PLACEHOLDER, 1)
        if expansions and value.strip() == PLACEHOLDER:
            value = None  # `$@`, `$EXTRA_ARGS`: any number of unknown words
        plus = None
        stripped = raw.lstrip("'\"")
        if stripped.startswith("+") and not stripped.startswith("++"):
            plus = _location(starts, begin + len(raw) - len(stripped))
        args.append(Arg(value, (_location(starts, begin), _location(starts, end)), plus))
    return args


def shell_commands(source: str) -> list[Command]:
    starts = line_starts(source)
    out = []
    for words in shell_words(source):
        cmd = split_command(shell_args(source, words, starts))
        if cmd is not None:
            out.append(cmd)
    return out

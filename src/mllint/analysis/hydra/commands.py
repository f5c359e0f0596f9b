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
from mllint.analysis.hydra.check import PLACEHOLDER, Arg

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
        if i + 2 < len(words) and words[i + 1].text == "-m" and words[i + 2].text not in DIST_MODULES:
            return _target(words, i + 2, words[i], True)  # `$PYTHON -m pkg.main ...`
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


_FORWARDED = re.compile(r"^\$(?:[@*]|\{[@*](?::[^}]*)?\})$")  # `$@`, `${@:2}`: the script's arguments


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
        args.append(Arg(value, (_location(starts, begin), _location(starts, end)), plus,
                        forwarded=value is None and bool(_FORWARDED.match(raw.strip('"')))))
    return args


def shell_commands(source: str) -> list[Command]:
    starts = line_starts(source)
    variables = shell_variables(source)
    out = []
    for words in shell_words(_blank_arrays(source, variables)):
        cmd = split_command(_expand(source, shell_args(source, words, starts), words, variables, starts, 0))
        if cmd is not None:
            out.append(cmd)
    return out


# ---- variables that hold words: `ARGS=(...)`, `CMD="python -m pkg.main"` ----------------------

# An assignment at the start of a line (optionally after export/local/declare ...).
_ASSIGNMENT = re.compile(r"^[ \t]*(?:(?:export|local|declare|typeset|readonly)(?:[ \t]+-[a-zA-Z]+)*[ \t]+)?"
                         r"([A-Za-z_]\w*)(\+?)=", re.M)
_ARRAY_USE = re.compile(r'^"?\$\{([A-Za-z_]\w*)\[[@*]\]\}"?$')
_SCALAR_USE = re.compile(r"^\$(?:([A-Za-z_]\w*)|\{([A-Za-z_]\w*)\})$")  # unquoted: split into words
MAX_VALUE_CHARS = 64 * 1024  # an array literal longer than this is not a list of arguments
MAX_EXPANDED_WORDS = 4096  # words one command may grow to by expansion
MAX_EXPANSION_DEPTH = 3  # arrays that hold arrays that hold arrays


@dataclass
class _Variable:
    begin: int  # where the assignment starts (a use before it sees another value)
    end: int  # where the value ends
    array: bool
    span: tuple[int, int]  # the value's text (inside the parentheses / quotes)
    appended: bool = False  # `NAME+=(...)` later: more words of unknown number
    ambiguous: bool = False  # assigned more than once: which value reaches a use is not known


def _value_end(source: str, i: int, closer: str) -> int | None:
    """The offset of the `closer` that ends the value starting at i (quotes, escapes, comments and
    nested parentheses skipped), or None if it is not found within MAX_VALUE_CHARS."""
    depth = 0
    limit = min(len(source), i + MAX_VALUE_CHARS)
    while i < limit:
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if closer == ")" and c == "'":
            j = source.find("'", i + 1, limit)
            if j < 0:
                return None
            i = j + 1
            continue
        if closer == ")" and c == '"':
            j = _value_end(source, i + 1, '"')
            if j is None:
                return None
            i = j + 1
            continue
        if closer == ")" and c == "#" and (i == 0 or source[i - 1] in " \t\n("):
            j = source.find("\n", i, limit)
            i = j if j >= 0 else limit
            continue
        if c == "(" and closer == ")":
            depth += 1
        elif c == closer and closer == '"':
            return i
        elif c == ")" and closer == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def shell_variables(source: str) -> dict[str, _Variable]:
    """Variables assigned a list of words. Only a name assigned exactly once is expanded (later
    `+=` appends make its length unknown); a name assigned twice is `ambiguous`, never guessed."""
    out: dict[str, _Variable] = {}
    if "=" not in source:
        return out
    for m in _ASSIGNMENT.finditer(source):
        name, append, i = m.group(1), m.group(2), m.end()
        prior = out.get(name)
        if append:
            if prior is not None:
                prior.appended = True
            continue
        var = None
        if source.startswith("(", i):
            close = _value_end(source, i + 1, ")")
            if close is not None:
                var = _Variable(m.start(1), close + 1, True, (i + 1, close))
        elif source.startswith('"', i):
            close = _value_end(source, i + 1, '"')
            if close is not None:
                var = _Variable(m.start(1), close + 1, False, (i + 1, close))
        elif source.startswith("'", i):
            close = source.find("'", i + 1, i + MAX_VALUE_CHARS)
            if close >= 0:
                var = _Variable(m.start(1), close + 1, False, (i + 1, close))
        else:
            e = re.compile(r"[^\s;&|()<>`]*").match(source, i).end()
            var = _Variable(m.start(1), e, False, (i, e))
        if prior is not None or var is None:
            ambiguous = _Variable(0, 0, False, (0, 0), ambiguous=True)
            out[name] = ambiguous
            continue
        out[name] = var
    return out


def _blank_arrays(source: str, variables: dict[str, _Variable]) -> str:
    """The source with array literals blanked (bashlex cannot parse them): `A=(x y)` -> `A=     `,
    same length and lines, so every offset still holds."""
    pieces = []
    last = 0
    for var in sorted((v for v in variables.values() if v.array and not v.ambiguous), key=lambda v: v.begin):
        b, e = var.span[0] - 1, var.end
        if b < last:
            continue
        pieces.append(source[last:b])
        pieces.append(re.sub(r"[^\n]", " ", source[b:e]))
        last = e
    pieces.append(source[last:])
    return "".join(pieces)


def _value_words(source: str, var: _Variable) -> list:
    """The words of a variable's value, with offsets in `source`."""
    b, e = var.span
    chunk = source[b:e]
    if var.array:
        # One command of the array's words: comments and line breaks become spaces (same length).
        chunk = re.sub(r"(^|(?<=[\s(]))#[^\n]*", lambda m: " " * len(m.group(0)), chunk)
        chunk = chunk.replace("\\\n", "  ").replace("\n", " ")
    if not chunk.strip():
        return []
    words = shell_words(": " + chunk)
    if len(words) != 1 or words[0][0][0] != ":":
        return None
    return [(t, s + b - 2, en + b - 2, [(x + b - 2, y + b - 2) for x, y in exp]) for t, s, en, exp in words[0][1:]]


def _expand(source: str, args: list[Arg], words: list, variables: dict[str, _Variable], starts: list[int],
            depth: int) -> list[Arg]:
    """Replace `"${ARR[@]}"` and unquoted `$CMD` by the words they hold (bounded; an unknown,
    ambiguous or too deep variable stays one unknown word)."""
    if not variables:
        return args
    out: list[Arg] = []
    for arg, (text, begin, end, _) in zip(args, words):
        raw = source[begin:end]
        m_arr, m_str = _ARRAY_USE.match(raw), _SCALAR_USE.match(raw)
        name = m_arr.group(1) if m_arr else (m_str.group(1) or m_str.group(2)) if m_str else None
        var = variables.get(name) if name else None
        if var is None or var.ambiguous or var.begin > begin or var.array != bool(m_arr) \
                or depth >= MAX_EXPANSION_DEPTH or len(out) > MAX_EXPANDED_WORDS:
            out.append(arg)
            continue
        inner = _value_words(source, var)
        if inner is None:
            out.append(arg)
            continue
        out.extend(_expand(source, shell_args(source, inner, starts), inner, variables, starts, depth + 1))
        if var.appended:
            out.append(Arg(None, arg.anchor))
    return out[:MAX_EXPANDED_WORDS]

"""What a rule reports: a diagnostic, with an optional fix made of text edits.

Lines and columns are 1-based everywhere (in every output format); columns count characters.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from enum import Enum


def printable(text: str) -> str:
    """`text` with each lone surrogate written as a backslash escape: a file name that is not UTF-8
    (os.fsdecode gives its bytes as surrogates) shows as `caf\\xe9.py`, as Python's
    backslashreplace shows the byte, and no stream or file fails to encode it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                       else f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


class Applicability(str, Enum):
    """Fix safety, as in Ruff: safe fixes run with --fix, unsafe ones only with --unsafe-fixes."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"  # the rule never offers a fix; its message says what to do


@dataclass(frozen=True, order=True)
class Location:
    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between `start` and `end` (end exclusive) by `content`.

    `old`, when known, is the text the rule means to replace (as it saw it): a fix is applied
    only where the file holds that text, so that a wrong position can never edit something else."""

    start: Location
    end: Location
    content: str
    # in a notebook's reported diagnostics: the cell (1-based) that start and end count in, which
    # need not be the diagnostic's own (ML201's helper goes after the imports)
    cell: int | None = None
    old: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


@dataclass
class Diagnostic:
    code: str
    name: str
    message: str
    path: str
    start: Location
    end: Location
    fix: Fix | None = None
    cell: int | None = None  # notebook cell number (1-based), when linting .ipynb
    noqa_row: int | None = None
    extra: dict = field(default_factory=dict)

    def sort_key(self):
        return (self.path, self.cell or 0, self.start, self.code)


_NEWLINE = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Offsets at which each line begins (Python's own newlines only: \\n, \\r\\n, \\r), to turn
    1-based rows and columns into offsets."""
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """The lines of `text` as rows are numbered everywhere in mllint (and by Python, LibCST, the
    LSP): only \\n, \\r\\n and \\r end a line. `str.splitlines()` also breaks at \\v, \\f,
    \\x1c-\\x1e, \\x85, U+2028 and U+2029, which would shift every later row; never use it for rows.
    Like `str.splitlines()`, a final line ending does not start another (empty) line."""
    starts = line_starts(text)
    if len(starts) > 1 and starts[-1] == len(text):
        starts.pop()
    if not text:
        return []
    ends = starts[1:] + [len(text)]
    if keepends:
        return [text[a:b] for a, b in zip(starts, ends)]
    return [text[a:b].rstrip("\r\n") for a, b in zip(starts, ends)]


def location_at(starts: list[int], offset: int) -> Location:
    """The 1-based Location of a character offset, given the text's line_starts()."""
    row = bisect.bisect_right(starts, offset) - 1
    return Location(row + 1, offset - starts[row] + 1)


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """The one span where `new` differs from `old`: (start, end in old, end in new), after the
    longest common prefix and the longest common suffix that does not overlap it."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return start, len(old) - tail, len(new) - tail

"""Node positions without LibCST's PositionProvider.

PositionProvider tracks line and column for every token and builds two position objects per
node; on a large file that costs two to three parses. Here one plain code generation records,
for every node, the token indices where its syntactic range starts and ends (LibCST's own
`record_syntactic_position` hook, so ranges match PositionProvider's). Only the nodes that are
reported get turned into lines and columns.

Positions are offsets in the file's own text. LibCST does not always print a module back as the
text it parsed: it drops form feeds before code at the start of a line, blank continuation lines
and some trailing whitespace. Where its text differs, offsets are mapped back onto the source
(`align`); where they cannot be exactly (LibCST added or changed something), `exact` is False
and the positions are only approximate, so no fix may be built from them.
"""

from __future__ import annotations

import bisect
import re
from itertools import accumulate

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange


class _Span:
    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state, node, start_node, end_node):
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self):
        self.start = len(self.state.tokens)

    def __exit__(self, *exc):
        spans = self.state.spans
        start = spans[self.start_node][0] if self.start_node is not None else self.start
        end = spans[self.end_node][1] if self.end_node is not None else len(self.state.tokens)
        spans[self.node] = (start, end)
        return False


class _SpanState(CodegenState):
    def __init__(self, module: cst.Module):
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {}

        self._starts: list[int] = []

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        return _Span(self, node, start_node, end_node)

    # Nodes without a syntactic range (whitespace, operators) get their whitespace-inclusive one.
    def before_codegen(self, node) -> None:
        self._starts.append(len(self.tokens))

    def after_codegen(self, node) -> None:
        start = self._starts.pop()
        if node not in self.spans:
            self.spans[node] = (start, len(self.tokens))


# What LibCST may leave out when it prints a module: whitespace, and the backslash of an empty
# continuation line. Anything else (a dropped comment, an added character) is not mapped.
_DROPPABLE = frozenset(" \t\f\v\r\n\\\ufeff")
_NEWLINE = re.compile(r"[\r\n]")


def _common_length(a: str, i: int, b: str, j: int) -> int:
    """len of the common prefix of a[i:] and b[j:], by comparing slices (no per-character loop)."""
    limit = min(len(a) - i, len(b) - j)
    done, step = 0, 256
    while done < limit:
        size = min(step, limit - done)
        if a[i + done:i + done + size] == b[j + done:j + done + size]:
            done += size
            step *= 2
            continue
        lo, hi = 0, size  # a prefix of length lo matches, one of length hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a[i + done:i + done + mid] == b[j + done:j + done + mid]:
                lo = mid
            else:
                hi = mid
        return done + lo
    return done


class OffsetMap:
    """Offsets in LibCST's text of a module -> offsets in the source it was parsed from, when the
    former is the latter with some characters left out. `points[k]` is the LibCST offset from
    which on `deltas[k]` source characters have been left out."""

    def __init__(self, points: list[int], deltas: list[int], length: int):
        self.points, self.deltas, self.length = points, deltas, length

    def to_source(self, offset: int) -> int:
        """The source offset of the character at LibCST offset `offset` (a start)."""
        k = bisect.bisect_right(self.points, offset) - 1
        return offset + self.deltas[k]

    def to_source_end(self, offset: int) -> int:
        """The source offset just past the character before `offset` (an exclusive end: characters
        left out just before it are not taken into the span)."""
        return 0 if offset <= 0 else self.to_source(offset - 1) + 1


def _end_of_comment(source: str, start: int) -> int:
    found = _NEWLINE.search(source, start)
    return found.start() if found else len(source)


def align(regenerated: str, source: str, added: bool = False) -> OffsetMap | None:
    """How `regenerated` (LibCST's text of the module) sits in `source`, or None when it is not
    `source` with only droppable characters left out. With `added`, droppable characters that
    LibCST added (a block re-indented with its first line's form feed, a backslash-newline made
    indentation), and comments it lost at the end, are passed over too: the code's own characters
    are then still found, but the whitespace around them may not be."""
    points, deltas = [0], [0]
    i = j = 0

    def shift(at: int, delta: int) -> None:
        if points[-1] == at:
            deltas[-1] = delta
        else:
            points.append(at)
            deltas.append(delta)

    while True:
        same = _common_length(regenerated, i, source, j)
        i, j = i + same, j + same
        if i == len(regenerated):
            break
        if j < len(source) and source[j] in _DROPPABLE:
            j += 1  # left out by LibCST
            shift(i, j - i)
        elif added and regenerated[i] in _DROPPABLE:
            i += 1  # added by LibCST: it maps to the next source character
            shift(i, j - i)
        else:
            return None
    # LibCST can lose comments at the end of the file (after a lone \r)
    while added and j < len(source) and (source[j] in _DROPPABLE or source[j] == "#"):
        j = j + 1 if source[j] in _DROPPABLE else _end_of_comment(source, j)
    if any(c not in _DROPPABLE for c in source[j:]):
        return None
    return OffsetMap(points, deltas, len(regenerated))


class Positions:
    """node -> CodeRange (1-based lines, 0-based columns, as LibCST's), computed on demand.

    With `source`, rows and columns are those of the source text even where LibCST's own text of
    the module differs from it (see the module docstring); `exact` says whether they could be."""

    def __init__(self, module: cst.Module, line_starts: list[int], source: str | None = None):
        state = _SpanState(module)
        module._codegen(state)
        self._spans = state.spans
        self._offsets = [0, *accumulate(map(len, state.tokens))]  # token index -> character offset
        self._line_starts = line_starts
        self._text = "".join(state.tokens)  # LibCST's text of the module
        self._map: OffsetMap | None = None
        self.exact = True
        if source is not None and self._text != source:
            self._map = align(self._text, source)
            if self._map is None:  # findings still point at their code; no fix is built on them
                self.exact = False
                self._map = align(self._text, source, added=True)

    def text(self, node: cst.CSTNode) -> str:
        """The node's text over its syntactic range, as LibCST prints it in the module."""
        start, end = self._spans[node]
        return self._text[self._offsets[start]:self._offsets[end]]

    def _line_col(self, offset: int) -> tuple[int, int]:
        row = bisect.bisect_right(self._line_starts, offset) - 1
        return row + 1, offset - self._line_starts[row]

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        start, end = self._spans[node]
        start, end = self._offsets[start], self._offsets[end]
        if self._map is not None:
            start, end = self._map.to_source(start), self._map.to_source_end(end)
            end = max(start, end)
        return CodeRange(CodePosition(*self._line_col(start)), CodePosition(*self._line_col(end)))

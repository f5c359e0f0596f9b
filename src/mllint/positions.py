"""Node positions without LibCST's PositionProvider.

PositionProvider tracks line and column for every token and builds two position objects per
node; on a large file that costs two to three parses. Here one plain code generation records,
for every node, the token indices where its syntactic range starts and ends (LibCST's own
`record_syntactic_position` hook, so ranges match PositionProvider's). Only the nodes that are
reported get turned into lines and columns.
"""

from __future__ import annotations

import bisect
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


class Positions:
    """node -> CodeRange (1-based lines, 0-based columns, as LibCST's), computed on demand."""

    def __init__(self, module: cst.Module, line_starts: list[int]):
        state = _SpanState(module)
        module._codegen(state)
        self._spans = state.spans
        self._offsets = [0, *accumulate(map(len, state.tokens))]  # token index -> character offset
        self._line_starts = line_starts

    def _line_col(self, token_index: int) -> tuple[int, int]:
        offset = self._offsets[token_index]
        row = bisect.bisect_right(self._line_starts, offset) - 1
        return row + 1, offset - self._line_starts[row]

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        start, end = self._spans[node]
        return CodeRange(CodePosition(*self._line_col(start)), CodePosition(*self._line_col(end)))

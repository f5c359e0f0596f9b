"""Our lazy positions agree with LibCST's PositionProvider on every node of real files."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from mllint.diagnostics import line_starts
from mllint.engine.positions import Positions

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO / "src" / "mllint").rglob("*.py"))[:25] + sorted((REPO / "fixtures").rglob("*.py"))[:25]

ODD = [
    "x = (\r\n  1 +\r\n  2)\r\n",
    "if x:\n\tif y:\n\t\tz = f(a,\n\t\t      b)  # c\n",
    "@dec\n@dec2(1)\nasync def f(*, a=1, **k) -> int:\n    '''doc'''\n    return (yield)\n",
    "x = [i for i in range(3) if i]\nclass C(B, metaclass=M):\n    a: int = 1\n",
    "s = 'é' + \"ünï\"  ;  t = f'{s!r:>10}'\n",
]


def _compare(source: str) -> None:
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    ours = Positions(module, line_starts(source))
    assert expected, "no nodes"
    for node, rng in expected.items():
        assert ours[node] == rng, (type(node).__name__, ours[node], rng)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_same_positions_as_libcst_on_real_files(path):
    _compare(path.read_text())


@pytest.mark.parametrize("source", ODD)
def test_same_positions_on_odd_formatting(source):
    _compare(source)


# LibCST prints these differently from their text: form feeds left out or added to a block's
# indentation, a backslash-newline turned into indentation, comments lost after a lone \r
# (found by fuzzing). Positions must still be those of the file's own text.
REGENERATED_DIFFERENTLY = [
    "import torch\n\n\f\fdef f(model):\n    return model(1)\n",
    "class C:\n\x0c    w = 4\n    y = 2\nx = 1\r",
    "class C:\n    y = 2\n\\\nx = 1\r\n\x0c\n",
    "\x0cimport os\nif a:\n  \r\x0c    w = 4\r    y = 2\ny = 1 \\\r\x0c@d\r\ndef g(): pass\n",
    "\\\r\n    \x0cq = 3\n    # c\r\n\x0c\x0c\n",
    "\\\r\\\n\x0cz = f(a, b)\n\x0cz = f(a, b)\r\n    # c\n  \r\n\x0c\r\n",
]


@pytest.mark.parametrize("source", REGENERATED_DIFFERENTLY)
def test_positions_are_in_the_file_text_where_libcst_prints_it_differently(source):
    module = cst.parse_module(source)
    assert module.code != source
    ours = Positions(module, line_starts(source), source)
    starts = line_starts(source)
    checked = []

    class Leaves(cst.CSTVisitor):
        def on_visit(self, node):
            if isinstance(node, (cst.Name, cst.Integer)):
                rng = ours[node]
                begin = starts[rng.start.line - 1] + rng.start.column
                end = starts[rng.end.line - 1] + rng.end.column
                checked.append((source[begin:end], node.value))
            return True

    module.visit(Leaves())
    assert checked and all(found == value for found, value in checked), checked

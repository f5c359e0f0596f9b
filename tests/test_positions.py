"""Our lazy positions agree with LibCST's PositionProvider on every node of real files."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from mllint.diagnostics import line_starts
from mllint.positions import Positions

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

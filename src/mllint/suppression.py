"""`# noqa: ML101`, `# mllint: disable=ML101,ML103` on a line, `# mllint: disable-file=ML401`.

A bare `# noqa` (or `# mllint: disable` with no codes) suppresses every code on its line.
Codes may be prefixes (`ML1`). For Python, comments are found with the tokenizer, so a `# noqa`
inside a string does not count; YAML and shell files use the same comment syntax per line.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

ALL = "*"

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_DISABLE = re.compile(r"#\s*mllint:\s*disable(?P<file>-file)?(?:\s*=\s*(?P<codes>[A-Z]+[0-9]*(?:\s*,\s*[A-Z]+[0-9]*)*))?",
                      re.IGNORECASE)


@dataclass
class Suppressions:
    by_line: dict[int, set[str]] = field(default_factory=dict)
    file_wide: set[str] = field(default_factory=set)

    def _hit(self, codes: set[str], code: str) -> bool:
        return ALL in codes or any(code.startswith(c) for c in codes)

    def suppresses(self, code: str, rows: tuple[int, ...]) -> bool:
        if self._hit(self.file_wide, code):
            return True
        return any(self._hit(self.by_line.get(r, set()), code) for r in rows)


def _parse_comment(text: str, row: int, out: Suppressions) -> None:
    for m in _DISABLE.finditer(text):
        codes = {c.strip().upper() for c in m.group("codes").split(",")} if m.group("codes") else {ALL}
        if m.group("file"):
            out.file_wide |= codes
        else:
            out.by_line.setdefault(row, set()).update(codes)
    m = _NOQA.search(text)
    if m:
        codes = {c.strip().upper() for c in m.group("codes").split(",")} if m.group("codes") else {ALL}
        out.by_line.setdefault(row, set()).update(codes)


def collect(source: str, kind: str) -> Suppressions:
    out = Suppressions()
    lowered = source.lower()
    if "noqa" not in lowered and "mllint:" not in lowered:
        return out
    if kind == "python":
        try:
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type == tokenize.COMMENT:
                    _parse_comment(tok.string, tok.start[0], out)
            return out
        except (tokenize.TokenError, SyntaxError, IndentationError):
            out = Suppressions()  # fall back to the line scan below
    for row, line in enumerate(source.splitlines(), start=1):
        if "#" in line:
            _parse_comment(line[line.index("#"):] if kind != "python" else line, row, out)
    return out

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
_PY_NEWLINE = re.compile(r"\r\n|\r|\n")
_STRING_START = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
_STRING_END = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_DISABLE = re.compile(r"#\s*mllint:\s*disable(?P<file>-file)?(?:\s*=\s*(?P<codes>[A-Z]+[0-9]*(?:\s*,\s*[A-Z]+[0-9]*)*))?",
                      re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    """One line-level suppression comment with explicit codes, for unused-suppression checks."""

    row: int
    start: int  # 1-based column of its `#`
    end: int  # 1-based column just past it
    codes: tuple[str, ...]  # in the order written
    kind: str  # "noqa" or "disable"
    trailing: str  # the rest of the line after the directive


@dataclass
class Suppressions:
    by_line: dict[int, set[str]] = field(default_factory=dict)
    file_wide: set[str] = field(default_factory=set)
    directives: list[Directive] = field(default_factory=list)

    def _hit(self, codes: set[str], code: str) -> bool:
        return ALL in codes or any(code.startswith(c) for c in codes)

    # Rows that cannot end in a comment map to the row that can carry it, as Ruff's noqa mapping
    # does. Shell: a command continued with backslashes can only carry a comment on its last line,
    # so every row of the command maps to that row. Python: a row ending inside a multi-line
    # string or in a backslash continuation maps to the next row whose end can take a comment.
    comment_row: dict[int, int] = field(default_factory=dict)

    def row_of(self, row: int) -> int:
        return self.comment_row.get(row, row)

    def suppresses(self, code: str, rows: tuple[int, ...]) -> bool:
        if self._hit(self.file_wide, code):
            return True
        return any(self._hit(self.by_line.get(self.row_of(r), set()), code) for r in rows)


def _parse_comment(text: str, row: int, out: Suppressions, column: int = 1, rest_of_line: str = "") -> None:
    """`text` is a comment (or the tail of a line) starting at 1-based `column` of row `row`."""
    found = []
    for m in _DISABLE.finditer(text):
        codes = [c.strip().upper() for c in m.group("codes").split(",")] if m.group("codes") else [ALL]
        if m.group("file"):
            out.file_wide |= set(codes)
        else:
            out.by_line.setdefault(row, set()).update(codes)
            found.append((m, codes, "disable"))
    m = _NOQA.search(text)
    if m:
        codes = [c.strip().upper() for c in m.group("codes").split(",")] if m.group("codes") else [ALL]
        out.by_line.setdefault(row, set()).update(codes)
        found.append((m, codes, "noqa"))
    for m, codes, kind in found:
        if ALL not in codes:
            trailing = text[m.end():] + rest_of_line
            out.directives.append(Directive(row, column + m.start(), column + m.end(), tuple(codes), kind, trailing))


def collect(source: str, kind: str, rows: bool = False) -> Suppressions:
    """The file's suppressions; with `rows`, also `comment_row` when the file has no suppression
    yet (for --add-noqa: where a comment must go)."""
    out = Suppressions()
    lowered = source.lower()
    if "noqa" not in lowered and "mllint:" not in lowered and not (rows and kind != "yaml"):
        return out
    if kind == "python":
        try:
            blocked: set[int] = set()  # rows whose end is inside a string
            commented: set[int] = set()
            opened: list[int] = []  # rows where f-strings (tokenized in parts from 3.12) start
            # universal newlines: a lone \r ends a line for Python and LibCST, so it must here too
            for tok in tokenize.generate_tokens(io.StringIO(source, newline=None).readline):
                if tok.type == tokenize.COMMENT:
                    rest = tok.line[tok.end[1]:].rstrip("\r\n") if tok.start[0] == tok.end[0] else ""
                    _parse_comment(tok.string, tok.start[0], out, tok.start[1] + 1, rest)
                    commented.add(tok.start[0])
                elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                    blocked.update(range(tok.start[0], tok.end[0]))
                elif tok.type in _STRING_START:
                    opened.append(tok.start[0])
                elif tok.type in _STRING_END and opened:
                    blocked.update(range(opened.pop(), tok.end[0]))
            # a backslash continuation cannot be followed by a comment (one in a comment is text)
            if "\\" in source:
                for row, line in enumerate(_PY_NEWLINE.split(source), start=1):
                    if line.endswith("\\") and row not in commented:
                        blocked.add(row)
            for row in sorted(blocked, reverse=True):
                out.comment_row[row] = out.comment_row.get(row + 1, row + 1)
            return out
        except (tokenize.TokenError, SyntaxError, IndentationError):
            out = Suppressions()  # fall back to the line scan below
    from mllint.diagnostics import split_lines

    continued: list[int] = []
    for row, line in enumerate(split_lines(source), start=1):  # rows as positions count them
        if kind == "shell":
            if line.endswith("\\"):
                continued.append(row)
                continue  # no comment can follow a line continuation
            for earlier in continued:
                out.comment_row[earlier] = row
            continued = []
        if "#" in line:
            index = line.index("#") if kind != "python" else 0
            _parse_comment(line[index:], row, out, index + 1)
    return out


def rewrite(directive: Directive, unused: set[str], duplicated: set[str] = frozenset()) -> str:
    """The directive without the unused codes, and the codes in `duplicated` only once ("" when
    none is left)."""
    kept: list[str] = []
    for code in directive.codes:
        if code not in unused and not (code in duplicated and code in kept):
            kept.append(code)
    if not kept:
        return ""
    return f"# noqa: {', '.join(kept)}" if directive.kind == "noqa" else f"# mllint: disable={','.join(kept)}"

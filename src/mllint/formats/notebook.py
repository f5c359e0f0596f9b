"""Jupyter notebooks (.ipynb): the code cells are linted and fixed like one Python module.

The code cells are joined in order into one source text, so that `import torch` in cell 1
resolves in cell 4, as it does when the notebook runs. IPython syntax (`%magic`, `!shell`,
`x = !cmd`, `obj?`, and `%%cell` magics) is masked line for line, so it neither stops the parser
nor shifts any position. A cell whose code starts indented runs in IPython (it removes the
indent): its sentinel line opens a block (`if True:`), so it parses with its own rows and columns.
Diagnostics are mapped back to (cell, row, column), where `cell` is the
cell's 1-based position in the notebook, counting every cell (markdown too), as a reader counts
them when scrolling.

A fix rewrites only the `source` value of the cells it changes: everything else in the file
(outputs, metadata, cell ids, key order, indentation, escapes, trailing newline) is kept byte for
byte, because the new text is spliced into the original at the located spans instead of
re-serializing the notebook. A notebook with nothing to fix is not written at all.

A file that is not a notebook (invalid JSON, not nbformat 4, failing nbformat's schema) is one
ML000 diagnostic, never a crash; it is never rewritten.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from json.decoder import scanstring

from mllint.diagnostics import Diagnostic, Edit, Fix, Location, changed_span, line_starts, location_at, split_lines

# Cell magics whose body is Python: only their first line is masked.
PYTHON_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit", "pixie_debugger"}

_WS = re.compile(r"[ \t\n\r]*")
_HELP = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")  # obj?, obj??, ?obj, ??obj
_MAGIC_ASSIGN = re.compile(r"^[\w.\[\]\s,()*]+?\s*=\s*[%!]")  # files = !ls, t = %timeit -o f()


class NotebookError(ValueError):
    def __init__(self, message: str, row: int = 1, column: int = 1):
        super().__init__(message)
        self.row = row
        self.column = column


# ---- locating values in the file's text ------------------------------------------------------

@dataclass
class CellSpan:
    index: int  # 0-based position among all cells
    cell_type: str | None = None
    source: str = ""
    source_span: tuple[int, int] | None = None  # span of the "source" value in the file text
    is_list: bool = False
    elements: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, value) of list items


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()


_DECODER = json.JSONDecoder()


def _skip_value(text: str, i: int) -> int:
    _, end = _DECODER.raw_decode(text, i)
    return end


def _parse_object(text: str, i: int, on_key) -> int:
    """Walk an object starting at text[i] == '{'; on_key(key, value_start) returns the value's end
    (or None to skip the value)."""
    if text[i] != "{":
        raise ValueError("expected an object")
    i = _ws(text, i + 1)
    if text[i] == "}":
        return i + 1
    while True:
        if text[i] != '"':
            raise ValueError("expected a key")
        key, i = scanstring(text, i + 1)
        i = _ws(text, i)
        if text[i] != ":":
            raise ValueError("expected ':'")
        i = _ws(text, i + 1)
        end = on_key(key, i)
        i = _ws(text, end if end is not None else _skip_value(text, i))
        if text[i] == "}":
            return i + 1
        if text[i] != ",":
            raise ValueError("expected ',' or '}'")
        i = _ws(text, i + 1)


def _parse_array(text: str, i: int, on_item) -> int:
    if text[i] != "[":
        raise ValueError("expected an array")
    i = _ws(text, i + 1)
    if text[i] == "]":
        return i + 1
    n = 0
    while True:
        end = on_item(n, i)
        i = _ws(text, end if end is not None else _skip_value(text, i))
        n += 1
        if text[i] == "]":
            return i + 1
        if text[i] != ",":
            raise ValueError("expected ',' or ']'")
        i = _ws(text, i + 1)


def locate_cells(text: str) -> list[CellSpan]:
    """Each cell's type, source text and the spans of its source in `text` (valid JSON assumed)."""
    cells: list[CellSpan] = []

    def on_source(cell: CellSpan, i: int) -> int:
        # A repeated "source" key: JSON readers (Jupyter, nbformat) keep the last one, so only
        # the last is located, read and rewritten; the earlier ones are left as they are.
        cell.is_list, cell.elements = False, []
        if text[i] == '"':
            value, end = scanstring(text, i + 1)
            cell.source, cell.source_span = value, (i, end)
            return end
        if text[i] != "[":
            raise NotebookError(f"cell {cell.index + 1}: `source` is neither a string nor a list of strings")
        cell.is_list = True

        def on_line(_n: int, j: int) -> int:
            if text[j] != '"':
                raise NotebookError(f"cell {cell.index + 1}: `source` is neither a string nor a list of strings")
            value, end = scanstring(text, j + 1)
            cell.elements.append((j, end, value))
            return end

        end = _parse_array(text, i, on_line)
        cell.source = "".join(v for _, _, v in cell.elements)
        cell.source_span = (i, end)
        return end

    def on_cell(n: int, i: int) -> int:
        cell = CellSpan(n)
        cells.append(cell)
        if text[i] != "{":
            raise NotebookError(f"cell {n + 1} is not an object")

        def on_key(key: str, j: int):
            if key == "source":
                return on_source(cell, j)
            if key == "cell_type" and text[j] == '"':
                cell.cell_type, end = scanstring(text, j + 1)
                return end
            return None

        return _parse_object(text, i, on_key)

    found = []

    def on_top(key: str, i: int):
        if key == "cells":
            found.append(True)
            cells.clear()  # a repeated "cells" key: the last one is the notebook Jupyter reads
            if text[i] != "[":
                raise NotebookError("`cells` is not a list")
            return _parse_array(text, i, on_cell)
        return None

    _parse_object(text, _ws(text, 0), on_top)
    if not found:
        raise NotebookError("the notebook has no `cells` list")
    return cells


# ---- reading and validating ------------------------------------------------------------------

def _row_col(text: str, index: int) -> tuple[int, int]:
    at = location_at(line_starts(text), index)
    return at.row, at.column


def read(text: str) -> list[CellSpan]:
    """The cells of a notebook file's text; raises NotebookError with a location otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        at = location_at(line_starts(text), exc.pos)  # json counts rows by \n only
        raise NotebookError(f"malformed notebook: invalid JSON: {exc.msg}", at.row, at.column) from None
    except RecursionError:
        raise NotebookError("malformed notebook: JSON nested too deeply to read") from None
    except ValueError as exc:  # a number Python refuses to convert (over 4300 digits)
        raise NotebookError(f"malformed notebook: JSON that Python cannot read ({str(exc).split(':')[0]})") from None
    if not isinstance(data, dict):
        raise NotebookError("malformed notebook: the file is JSON but not a notebook (no top-level object)")
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(f"unsupported notebook: nbformat {major!r}; mllint reads nbformat 4 notebooks "
                            "(convert with `jupyter nbconvert --to notebook --nbformat 4`)")
    try:
        import nbformat

        with _quiet():
            nbformat.validate(copy.deepcopy(data))
    except ImportError:  # pragma: no cover - nbformat is a dependency; keep working without it
        pass
    except Exception as exc:  # nbformat.ValidationError and friends
        message = getattr(exc, "message", None) or str(exc).splitlines()[0]
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", ()) or ())
        if where.startswith("cells/"):
            parts = where.split("/")
            where = f"cell {int(parts[1]) + 1}" + ("" if len(parts) < 3 else ", " + "/".join(parts[2:]))
        raise NotebookError(f"malformed notebook: does not follow the nbformat 4 schema"
                            f"{f' at {where}' if where else ''}: {message}") from None
    try:
        return locate_cells(text)
    except NotebookError as exc:
        exc.args = (f"malformed notebook: {exc.args[0]}",)
        raise
    except (ValueError, IndexError) as exc:  # pragma: no cover - json.loads accepted the text
        raise NotebookError(f"malformed notebook: {exc}") from None


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


# ---- masking IPython syntax -------------------------------------------------------------------

class _StatementTracker:
    """Says whether a line starts a new statement (not inside brackets, a string, or after a
    backslash continuation), so that `% 2` inside parentheses is not taken for a magic."""

    def __init__(self):
        self.depth = 0
        self.quote: str | None = None  # the open triple quote, if any
        self.continued = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.continued = False
        while i < n:
            if self.quote is not None:
                end = line.find(self.quote, i)
                while end > 0 and _escaped(line, end):
                    end = line.find(self.quote, end + 1)
                if end < 0:
                    return
                i = end + len(self.quote)
                self.quote = None
                continue
            ch = line[i]
            if ch == "#":
                return
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}":
                self.depth = max(0, self.depth - 1)
            elif ch in "'\"":
                q3 = line[i:i + 3]
                if q3 in ("'''", '"""'):
                    self.quote = q3
                    i += 3
                    continue
                j = i + 1
                while j < n and line[j] != ch:
                    j += 2 if line[j] == "\\" else 1
                i = j + 1
                continue
            elif ch == "\\" and line[i + 1:].strip() == "":
                self.continued = True
                return
            i += 1


def _escaped(line: str, pos: int) -> bool:
    k, count = pos - 1, 0
    while k >= 0 and line[k] == "\\":
        count += 1
        k -= 1
    return count % 2 == 1


def _is_magic(stripped: str) -> bool:
    if not stripped:
        return False
    if stripped[0] in "%!":
        return not stripped.startswith("!=")
    return bool(_HELP.match(stripped) or _MAGIC_ASSIGN.match(stripped))


def mask(source: str, token: str, originals: list[str]) -> str:
    """The cell's source with IPython lines replaced by `pass` lines carrying a marker (same rows;
    a masked line's own columns do not matter, no rule reports on `pass`)."""
    lines = split_lines(source, keepends=True)  # the rows Python sees, and no other
    if not lines:
        return source

    def masked(line: str, indent: str) -> str:
        originals.append(line)
        end = line[len(line.rstrip("\r\n")):]  # the line's own ending, so rows do not move
        return f"{indent}pass  # {token} {len(originals) - 1}{end}"

    first = lines[0].lstrip()
    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if name not in PYTHON_BODY_CELL_MAGICS:
            return "".join(masked(line, "") for line in lines)
        lines[0] = masked(lines[0], "")
        rest = lines[1:]
        return lines[0] + _mask_lines(rest, masked)
    return _mask_lines(lines, masked)


def _mask_lines(lines: list[str], masked) -> str:
    out = []
    tracker = _StatementTracker()
    in_magic = False  # a magic line ending in a backslash continues on the next line
    indent = ""
    for line in lines:
        body = line.rstrip("\r\n")
        stripped = body.lstrip()
        if in_magic or (tracker.at_statement_start() and _is_magic(stripped)):
            if not in_magic:
                indent = body[: len(body) - len(stripped)]
            out.append(masked(line, indent))
            in_magic = body.endswith("\\")
            continue
        tracker.feed(body)
        out.append(line)
    return "".join(out)


def unmask(text: str, token: str, originals: list[str]) -> str:
    # a line starts after any of Python's line endings (`^` with re.M knows only \n)
    pattern = re.compile(rf"(?:\A|(?<=[\r\n]))[ \t]*pass  # {re.escape(token)} (\d+)[ \t]*(\r\n|\r|\n|\Z)")

    def restore(m: re.Match) -> str:
        line = originals[int(m.group(1))]
        # keep the original's own ending, except where the fixed text has none (end of cell)
        return line if m.group(2) else line.rstrip("\r\n")

    return pattern.sub(restore, text)


# ---- joining cells and mapping positions ------------------------------------------------------

@dataclass
class Joined:
    text: str
    token: str
    originals: list[str]
    cells: list[CellSpan]  # the code cells, in order


def join(cells: list[CellSpan], skip: frozenset[int] = frozenset()) -> Joined:
    """The code cells (but those whose index is in `skip`) as one masked source text."""
    token = "mllint-" + secrets.token_hex(6)
    originals: list[str] = []
    parts = []
    code = [c for c in cells if c.cell_type == "code" and c.index not in skip]
    for cell in code:
        body = mask(cell.source, token, originals)
        if body and not body.endswith("\n"):
            body += "\n"
        # IPython runs a cell whose code starts indented with that indent removed; its sentinel
        # opens a block instead (`if True:`), so the cell parses with its own rows and columns
        opener = "if True:  " if _starts_indented(body) else ""
        parts.append(f"{opener}# {token} cell {cell.index + 1}\n{body}")
    return Joined("".join(parts), token, originals, code)


def compilable(source: str) -> tuple[str, int]:
    """A cell's code as Jupyter compiles it on its own (IPython syntax masked, a leading indent
    opened by a block), and how many lines were put before it."""
    body = mask(source, "mllint", [])
    return ("if True:\n" + body, 1) if _starts_indented(body) else (body, 0)


def _starts_indented(body: str) -> bool:
    for line in body.splitlines():
        stripped = line.lstrip(" \t")
        if stripped and not stripped.startswith("#"):
            return stripped != line
    return False


def _sentinel(token: str) -> re.Pattern:
    return re.compile(rf"^(?:if True:  )?# {re.escape(token)} cell (\d+)\n", re.M)


def cell_rows(joined_text: str, token: str) -> list[tuple[int, int]]:
    """(cell number, first row in the joined text of that cell's source), in order."""
    out = []
    starts = line_starts(joined_text)  # rows as the engine numbers them (a lone \r ends a line)
    for m in _sentinel(token).finditer(joined_text):
        out.append((int(m.group(1)), location_at(starts, m.end()).row))
    return out


def split(joined_text: str, token: str) -> dict[int, str]:
    """Cell number -> its (masked) source in the joined text; text before the first cell (a fix
    inserting at the very top) belongs to the first cell."""
    matches = list(_sentinel(token).finditer(joined_text))
    out: dict[int, str] = {}
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(joined_text)
        out[int(m.group(1))] = joined_text[m.end():end]
    if matches and matches[0].start() > 0:
        first = int(matches[0].group(1))
        out[first] = joined_text[: matches[0].start()] + out[first]
    return out


def _mapper(rows: list[tuple[int, int]]):
    def where(loc: Location) -> tuple[int | None, Location]:
        if not rows:
            return None, loc
        cell, first = rows[0]
        for number, start in rows:
            if start > loc.row:
                break
            cell, first = number, start
        return cell, Location(max(1, loc.row - first + 1), loc.column)

    return where


def map_diagnostic(d: Diagnostic, where) -> Diagnostic:
    cell, start = where(d.start)
    _, end = where(d.end)
    fix = d.fix
    if fix is not None:
        fix = Fix(fix.applicability, fix.message,
                  tuple(Edit(where(e.start)[1], where(e.end)[1], e.content, where(e.start)[0]) for e in fix.edits))
    noqa = where(Location(d.noqa_row, 1))[1].row if d.noqa_row else d.noqa_row
    return Diagnostic(code=d.code, name=d.name, message=_map_lines(d.message, cell, where), path=d.path,
                      start=start, end=end, fix=fix, cell=cell, noqa_row=noqa, extra=dict(d.extra))


_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")


def _map_lines(message: str, cell: int | None, where) -> str:
    """`(line 80)` in a message names a row of the joined cells: say it as the reader sees it,
    `line 27` of the same cell, `cell 3, line 4` of another."""
    def mapped(m: re.Match) -> str:
        other, loc = where(Location(int(m.group(1)), 1))
        return f"line {loc.row}" if other == cell or other is None else f"cell {other}, line {loc.row}"

    return _LINE_REFERENCE.sub(mapped, message) if "line " in message else message


# ---- writing changed cells back ---------------------------------------------------------------

def _ensure_ascii(text: str) -> bool:
    return text.isascii() and re.search(r"\\u[0-9a-fA-F]{4}", text) is not None


def _dumps(value: str, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


def _line_indent(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    m = re.match(r"[ \t]*", text[start:index])
    return m.group(0) if m else ""


def _indent_unit(text: str) -> str:
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else " "


def render_source(text: str, cell: CellSpan, new: str) -> str:
    """The JSON for a cell's new source, in the style of its old one."""
    ascii_only = _ensure_ascii(text)
    if not cell.is_list:
        return _dumps(new, ascii_only)
    # str.splitlines, as nbformat itself splits a source into list items; this only shapes
    # the JSON (the items are joined back), it numbers no rows
    lines = new.splitlines(keepends=True)
    if not lines:
        return "[]"
    start, end = cell.source_span
    old = text[start:end]
    if cell.elements and "\n" not in old:  # one-line list: ["a\n", "b"]
        sep = ", "
        if len(cell.elements) > 1:
            sep = text[cell.elements[0][1]:cell.elements[1][0]]
        return "[" + sep.join(_dumps(line, ascii_only) for line in lines) + "]"
    if cell.elements:
        item_indent = _line_indent(text, cell.elements[0][0])
        close_indent = _line_indent(text, end - 1)
    else:
        close_indent = _line_indent(text, start)
        item_indent = close_indent + _indent_unit(text)
    return "[\n" + ",\n".join(item_indent + _dumps(line, ascii_only) for line in lines) + "\n" + close_indent + "]"


def rewrite(text: str, cells: list[CellSpan], new_sources: dict[int, str]) -> str:
    """`text` with the sources of the cells in `new_sources` (0-based index -> source) replaced."""
    out = text
    for cell in sorted((c for c in cells if c.index in new_sources), key=lambda c: c.source_span[0], reverse=True):
        start, end = cell.source_span
        out = out[:start] + render_source(text, cell, new_sources[cell.index]) + out[end:]
    return out


# ---- mapping the linted module back to the cells ---------------------------------------------

def locator(joined_text: str, token: str):
    """Maps a Location in a joined text to (cell number, Location in that cell's source)."""
    return _mapper(cell_rows(joined_text, token))


def changed_cells(joined: Joined, new_text: str) -> dict[int, str] | None:
    """Cell index -> new source, for each code cell whose source `new_text` (the joined text after
    fixes) changes; None when a cell's sentinel was lost, so that nothing is guessed."""
    pieces = split(new_text, joined.token)
    changed: dict[int, str] = {}
    for cell in joined.cells:
        piece = pieces.get(cell.index + 1)
        if piece is None:
            return None
        new = unmask(piece, joined.token, joined.originals)
        if not cell.source.endswith("\n") and new.endswith("\n"):
            new = new[:-1]
        if new != cell.source:
            changed[cell.index] = new
    return changed


# ---- positions in the file, for formats that point into the .ipynb itself (GitHub, SARIF) -------

def file_position(text: str, cells: list[CellSpan], cell: int, row: int, column: int) -> tuple[int, int] | None:
    """The (line, column) in the notebook file of (cell, row, column) in that cell's source."""
    if not 1 <= cell <= len(cells):
        return None
    span = cells[cell - 1]
    if span.source_span is None:
        return None
    lines = split_lines(span.source, keepends=True) or [""]
    row = min(max(row, 1), len(lines))
    offset = sum(len(line) for line in lines[: row - 1]) + min(max(column, 1) - 1, len(lines[row - 1]))
    ascii_only = _ensure_ascii(text)
    elements = span.elements if span.is_list else [(span.source_span[0], span.source_span[1], span.source)]
    if not elements:
        return _row_col(text, span.source_span[0])
    pos = 0
    for start, _end, value in elements:
        if offset < pos + len(value) or (start, _end, value) == elements[-1]:
            inside = value[: max(0, offset - pos)]
            return _row_col(text, start + 1 + len(_dumps(inside, ascii_only)) - 2)
        pos += len(value)
    return None  # pragma: no cover


@lru_cache(maxsize=64)
def _cells_of_file(path: str, mtime_ns: int) -> tuple[str, list[CellSpan]] | None:
    from mllint.fingerprint import MAX_FILE_BYTES, check_regular, open_nonblocking

    try:
        with open(path, encoding="utf-8-sig", opener=open_nonblocking) as fh:
            check_regular(fh, path)
            text = fh.read(MAX_FILE_BYTES + 1)
        return text, locate_cells(text)
    except (OSError, ValueError, IndexError, UnicodeDecodeError, RecursionError):
        return None


def file_replacement(path: str, edits) -> tuple[tuple[int, int, int, int], str] | None:
    """A fix's `edits` (each in the cell it names) as one replacement in the notebook file at
    `path`: ((line, column, end line, end column) to delete, text to insert), as `--fix` would
    write the cells' new sources. None if the file or a cell cannot be read as when it was linted."""
    import os

    from mllint.diagnostics import line_starts

    try:
        found = _cells_of_file(path, os.stat(path).st_mtime_ns)
    except OSError:
        return None
    if found is None or any(e.cell is None for e in edits):
        return None
    text, cells = found
    new_sources: dict[int, str] = {}
    for number in sorted({e.cell for e in edits}):
        if not 1 <= number <= len(cells) or cells[number - 1].source_span is None:
            return None
        source = cells[number - 1].source
        # in the joined module every cell ends with a newline (see changed_cells)
        ended = not source.endswith(("\n", "\r"))
        source += "\n" if ended else ""
        starts = line_starts(source)

        def offset(loc: Location) -> int:
            if not 1 <= loc.row <= len(starts):
                raise IndexError(loc)
            return min(starts[loc.row - 1] + loc.column - 1, len(source))

        try:
            spans = sorted(((offset(e.start), offset(e.end), e.content) for e in edits if e.cell == number),
                           reverse=True)
        except IndexError:
            return None
        for start, end, content in spans:
            source = source[:start] + content + source[end:]
        new_sources[number - 1] = source[:-1] if ended and source.endswith("\n") else source
    new_text = rewrite(text, cells, new_sources)
    start, old_end, new_end = changed_span(text, new_text)
    return (*_row_col(text, start), *_row_col(text, old_end)), new_text[start:new_end]


def file_location(path: str, cell: int, row: int, column: int) -> tuple[int, int] | None:
    """Like file_position, reading the notebook at `path` (None if it cannot be read)."""
    import os

    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None
    found = _cells_of_file(path, mtime)
    if found is None:
        return None
    return file_position(found[0], found[1], cell, row, column)

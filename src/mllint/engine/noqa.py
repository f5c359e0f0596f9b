"""`mllint --add-noqa`: a `# noqa: CODE` on every line with a finding, as Ruff's `--add-noqa`, to
adopt mllint on an existing codebase and let only new findings fail.

Each comment goes where mllint.engine.suppression reads it for that diagnostic: on its first row (a
diagnostic is suppressed by a directive on its first or last row), where a row that cannot end in
a comment stands for the next one that can (`Suppressions.row_of`: the end of a multi-line string
or a backslash continuation in Python, the last row of a continued command in shell scripts). In
YAML, whose suppressions are read line by line, a row inside a multi-line scalar is skipped for the
diagnostic's last row (a `#` there would be part of the value). An existing `# noqa: CODES` on
that row gets the new codes merged in (sorted, without duplicates, as Ruff does); otherwise
`  # noqa: CODES` is appended to the line. Nothing else on the line changes, and a Python file or
YAML config whose code or tokens would change otherwise than by comments is not written.
"""

from __future__ import annotations

import re

from mllint.diagnostics import Diagnostic, Edit, Location, line_starts, split_lines

_NEWLINE = re.compile(r"\r\n|\r|\n")  # the newlines that rows and columns count

# A syntax error is reported before suppressions are read: no comment can hide it.
NOT_SUPPRESSIBLE = frozenset({"ML000"})


def add_noqa(source: str, kind: str, diagnostics: list[Diagnostic]) -> tuple[str, int, list[Diagnostic]]:
    """(new source, number of lines changed, diagnostics no comment could be placed for).

    `kind` is "python", "yaml" or "shell"; rows and columns of `diagnostics` are `source`'s."""
    wanted = [d for d in diagnostics if d.code not in NOT_SUPPRESSIBLE]
    if not wanted:
        return source, 0, []
    from mllint.engine import suppression

    sup = suppression.collect(source, kind, rows=True)
    starts = line_starts(source)
    # Python and shell rows that cannot take a comment are mapped by row_of to the row that can,
    # but for a shell script's last line continued into nothing
    if kind == "yaml":
        blocked = _yaml_rows(source)
    elif kind == "shell":
        lines = _NEWLINE.split(source)
        blocked = {row for row, line in enumerate(lines, start=1) if line.endswith("\\")}
    else:
        blocked = set()
    codes_by_row: dict[int, set[str]] = {}
    unplaced = []
    for d in wanted:
        rows = (sup.row_of(d.start.row), sup.row_of(d.end.row))
        row = next((r for r in rows if r not in blocked and r <= len(starts)), None)
        if row is None:
            unplaced.append(d)
        else:
            codes_by_row.setdefault(row, set()).add(d.code)
    existing = {}
    for directive in sup.directives:
        if directive.kind == "noqa":
            existing.setdefault(directive.row, directive)
    pieces = []
    last = 0
    for row in sorted(codes_by_row):
        begin = starts[row - 1]
        end = starts[row] if row < len(starts) else len(source)
        line = source[begin:end]
        content = line.rstrip("\r\n")
        ending = line[len(content):]
        directive = existing.get(row)
        # the directive must be where it was found (rows are counted with Python's newlines here)
        if directive is not None and suppression._NOQA.fullmatch(content, directive.start - 1, directive.end - 1):
            codes = sorted(set(directive.codes) | codes_by_row[row])
            content = f"{content[:directive.start - 1]}# noqa: {', '.join(codes)}{content[directive.end - 1:]}"
        else:
            content = content.rstrip(" \t") + "  # noqa: " + ", ".join(sorted(codes_by_row[row]))
        pieces += [source[last:begin], content, ending]
        last = end
    pieces.append(source[last:])
    new = "".join(pieces)
    if new != source and not _same_content(source, new, kind):
        raise ValueError("a `# noqa` comment would have changed what the file says; nothing was written "
                         "(please report it with the file)")
    return new, len(codes_by_row), unplaced


def line_edit(source: str, kind: str, diagnostic: Diagnostic) -> Edit | None:
    """The language server's "Disable MLxxx for this line": the one-line edit that suppresses
    `diagnostic`, placed exactly as --add-noqa places it; None where no comment can go."""
    try:
        new, changed, _ = add_noqa(source, kind, [diagnostic])
    except ValueError:  # the comment would have changed more than a comment
        return None
    if not changed or new == source:  # (the code is already in the line's `# noqa`)
        return None
    old_lines, new_lines = split_lines(source), split_lines(new)
    row = next(i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b)
    return Edit(Location(row + 1, 1), Location(row + 1, len(old_lines[row]) + 1), new_lines[row], old=old_lines[row])


def _same_content(old: str, new: str, kind: str) -> bool:
    """Did only comments change? Python: the same syntax tree; YAML: the same tokens. (A shell
    script is not re-read: its findings are on command lines, whose ends take a comment.)"""
    if kind == "python":
        import ast

        def tree(text: str) -> str:
            flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            return ast.dump(compile(text, "<noqa>", "exec", flags=flags, dont_inherit=True))

        try:
            return tree(old) == tree(new)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False  # what cannot be compared is not written
    if kind == "yaml":
        import yaml

        def tokens(text: str) -> list:
            return [(type(t).__name__, getattr(t, "value", None)) for t in yaml.scan(text, Loader=yaml.SafeLoader)]

        try:
            return tokens(old) == tokens(new)
        except yaml.YAMLError:
            return False
    return True


def add_noqa_notebook(text: str, diagnostics: list[Diagnostic]) -> tuple[str, int, list[Diagnostic]]:
    """add_noqa for a notebook file's text: each code cell's source is given its comments (rows
    and columns of the diagnostics count in their `cell`), and only the changed cells' sources are
    rewritten, as `--fix` does (mllint.formats.notebook.rewrite)."""
    from mllint.formats import notebook

    wanted = [d for d in diagnostics if d.code not in NOT_SUPPRESSIBLE and d.cell is not None]
    if not wanted:
        return text, 0, []
    cells = notebook.read(text)
    token = "mllint-noqa"
    new_sources: dict[int, str] = {}
    count = 0
    unplaced = []
    for number in sorted({d.cell for d in wanted}):
        cell = cells[number - 1]
        in_cell = [d for d in wanted if d.cell == number]
        if cell.cell_type != "code":
            unplaced += in_cell
            continue
        # IPython lines are masked row for row, so they neither stop the tokenizer nor move a row
        originals: list[str] = []
        masked = notebook.mask(cell.source, token, originals)
        new, changed, missed = add_noqa(masked, "python", in_cell)
        unplaced += missed
        if changed:
            new_sources[cell.index] = notebook.unmask(new, token, originals)
            count += changed
    if not new_sources:
        return text, 0, unplaced
    return notebook.rewrite(text, cells, new_sources), count, unplaced


def _yaml_rows(source: str) -> set[int]:
    """Rows inside a block scalar (`|`, `>`) or a scalar continued on the next line: a `#` there
    would be part of the value. Only the scanner runs: nothing is composed or constructed."""
    import yaml

    blocked: set[int] = set()
    try:
        for tok in yaml.scan(source, Loader=yaml.SafeLoader):
            if isinstance(tok, yaml.ScalarToken) and tok.end_mark.line > tok.start_mark.line:
                # marks are 0-based; the row the scalar ends on takes a comment after it
                blocked.update(range(tok.start_mark.line + 1, tok.end_mark.line + 1))
    except yaml.YAMLError:
        pass  # what was scanned is used
    return blocked

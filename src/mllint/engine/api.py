"""The one entry point for linting the text of a file of any kind: the runner, the stdin path of
the CLI, the language server and mllint.testing call this, not the engine's parts.

Python, YAML and shell texts go to the engine (mllint.engine.lint) as they are. A notebook goes
through its adapter (mllint.formats.notebook, which never imports the engine): each code cell is
checked on its own (Jupyter compiles cells one by one), the other code cells are joined and linted
as one Python module, and diagnostics and fixes are mapped back to the cells. The language server,
which holds the cells rather than the file, calls `lint_cells` with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from mllint.diagnostics import Diagnostic, Location
from mllint.engine.lint import FileResult, compile_check, syntax_diagnostic, lint_text

if TYPE_CHECKING:
    from mllint.formats.notebook import CellSpan, Joined

# The notebook adapter is imported where a notebook is linted: a run answered by the cache (and
# most runs, which lint no notebook) never needs it.


def lint_source(source: str, path: str, kind: str, rules, project=None, fix: bool = False, unsafe: bool = False,
                prescreen: bool | None = None) -> FileResult:
    """Lint (and optionally fix) the text of a file of `kind`. Does not touch the file system.
    For a notebook, `source` and `new_source` are notebook file texts and diagnostics carry `cell`."""
    if kind != "notebook":
        return lint_text(source, path, kind, rules, project=project, fix=fix, unsafe=unsafe, prescreen=prescreen)
    try:
        return _lint_notebook(source, path, rules, project, fix, unsafe, prescreen)
    except MemoryError:  # as lint_text: never a false "syntax error", the file is said not to be checked
        return FileResult(path=path, source=source,
                          warnings=[f"{path}: too large to check: ran out of memory; not linted"])


def _lint_notebook(source: str, path: str, rules, project, fix: bool, unsafe: bool,
                   prescreen: bool | None) -> FileResult:
    from mllint.formats import notebook

    try:
        cells = notebook.read(source)
    except notebook.NotebookError as exc:
        return FileResult(path, diagnostics=[syntax_diagnostic(path, str(exc), exc.row, exc.column)], source=source)
    linted = lint_cells(cells, path, rules, project=project, fix=fix, unsafe=unsafe, prescreen=prescreen)
    joined, result = linted.joined, linted.result
    out = FileResult(path, diagnostics=linted.diagnostics,
                     errors=[e.replace(joined.token, "mllint") for e in result.errors], fixed=result.fixed,
                     source=source)
    out.warnings.extend(result.warnings)  # the engine's non-fatal notes (e.g. a size limit) are passed on
    if result.new_source is not None:
        changed = notebook.changed_cells(joined, result.new_source)
        if changed is None:
            out.errors.append(f"{path}: fixes could not be mapped back to the notebook's cells; "
                              "the notebook was not changed")
            out.fixed = 0
        elif changed:
            out.new_source = notebook.rewrite(source, cells, changed)
        else:
            out.fixed = 0
    return out


@dataclass
class LintedCells:
    """A notebook's code cells linted as one module. `result` is in the coordinates of `joined`'s
    text (after fixes: of `result.new_source`); `broken` holds one ML000 per code cell that does not
    compile on its own (left out of `joined`)."""

    broken: list[Diagnostic]
    joined: Joined
    result: FileResult

    @cached_property
    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic in cell coordinates, each with `cell` (1-based, counting every cell)."""
        from mllint.formats import notebook

        final = self.result.new_source if self.result.new_source is not None else self.joined.text
        where = notebook.locator(final, self.joined.token)
        return sorted(self.broken + [notebook.map_diagnostic(d, where) for d in self.result.diagnostics],
                      key=Diagnostic.sort_key)


def lint_cells(cells: list[CellSpan], path: str, rules, project=None, fix: bool = False, unsafe: bool = False,
               prescreen: bool | None = None) -> LintedCells:
    """Lint (and optionally fix) a notebook's cells, read from its file (notebook.read) or from an
    editor, as one Python module."""
    from mllint.formats import notebook

    # Jupyter compiles each cell on its own: a cell that does not compile (pasted output, a
    # truncated function) is one ML000 at its own position, and the other cells are still linted.
    broken: list[Diagnostic] = []
    for cell in cells:
        if cell.cell_type == "code":
            code, opened = notebook.compilable(cell.source)
            _, problem = compile_check(code, path)
            if problem is not None:
                problem.cell = cell.index + 1
                if opened:  # the `if True:` line put before the cell's code
                    problem.start = Location(max(1, problem.start.row - opened), problem.start.column)
                    problem.end = Location(max(1, problem.end.row - opened), problem.end.column)
                broken.append(problem)
    joined = notebook.join(cells, frozenset(d.cell - 1 for d in broken))
    result = lint_text(joined.text, path, "python", rules, project=project, fix=fix, unsafe=unsafe,
                       prescreen=prescreen)
    return LintedCells(broken, joined, result)

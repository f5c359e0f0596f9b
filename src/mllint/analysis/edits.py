"""The fix toolkit: text edits that rules share, so that a rule's fix says what to write and not
how to place it (in the spirit of LibCST's `AddImportsVisitor` and Ruff's `Importer`).

Every helper returns `diagnostics.Edit`s (or the names to write them with); the engine checks
and applies them (`engine.check_fix`). Inserted text uses the file's own newline and the
indentation of the statement it goes next to; lines of a multi-line `text` after the first are
indented like that statement too (write nested lines with `ctx.module.default_indent`).

- names: `module_alias(ctx, "math")` (the local name of an imported module),
  `module_expression(ctx, "torch.nn")` (`nn`, or `torch.nn` through `import torch`);
- imports: `import_edit(ctx, "math")` (`import math` with the other imports);
- statements: `insert_before(ctx, stmt, text)`, `insert_after(ctx, stmt, text)`,
  `replace_lines(ctx, first, last, text)` (several statements become one, comments kept);
- module level: `header_end_row(ctx)` (the last row of the docstring and imports),
  `insert_after_header(ctx, text)` (a helper after the imports), `insert_lines(ctx, row, text)`,
  `module_top(ctx)` (classes and names the module defines at top level);
- classes: `add_instance_attribute(ctx, cls, attr, value, site, method)` (`self.x = ...` in
  `__init__`, or lazily before `site` when the class has no `__init__`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.classes import self_assignments
from mllint.engine.context import dotted_name
from mllint.diagnostics import Edit, Location, split_lines

if TYPE_CHECKING:
    from mllint.engine.context import FileContext


# ---- names --------------------------------------------------------------------------------------
def module_alias(ctx: FileContext, module: str, *, unshadowed: bool = False) -> str | None:
    """The local name the file binds to `module` by an import (`import math as m` -> "m"), or None;
    `unshadowed`: only a name that no enclosing scope rebinds."""
    for local, full in ctx.imports.items():
        if full == module and not (unshadowed and ctx.is_local_name(local)):
            return local
    return None


def module_expression(ctx: FileContext, module: str) -> str | None:
    """An expression for `module` with the file's imports: its own alias (unshadowed), else through
    an imported parent package (`torch.nn` -> `T.nn` with `import torch as T`); None without one."""
    found = module_alias(ctx, module, unshadowed=True)
    if found is not None:
        return found
    parent, _, rest = module.rpartition(".")
    while parent:
        found = module_alias(ctx, parent)
        if found is not None:
            return f"{found}.{rest}"
        parent, _, last = parent.rpartition(".")
        rest = f"{last}.{rest}"
    return None


# ---- statements ---------------------------------------------------------------------------------
def _indent(ctx: FileContext, stmt: cst.CSTNode) -> str:
    start, _ = ctx.start_end(stmt)
    return ctx.line_text(start.row)[: start.column - 1]


def _lines(ctx: FileContext, text: str, indent: str) -> str:
    """`text` with its lines after the first indented by `indent`, joined by the file's newline."""
    return (ctx.newline + indent).join(text.split("\n"))


def insert_before(ctx: FileContext, stmt: cst.CSTNode, text: str) -> Edit:
    """`text` on its own line(s) just above `stmt`, at its indentation (comments above `stmt` stay
    above the inserted text only if they are part of `stmt`'s leading lines: the edit goes at the
    statement's own first character)."""
    indent = _indent(ctx, stmt)
    start, _ = ctx.start_end(stmt)
    return Edit(start, start, f"{_lines(ctx, text, indent)}{ctx.newline}{indent}")


def insert_after(ctx: FileContext, stmt: cst.CSTNode, text: str) -> Edit:
    """`text` on its own line(s) just below `stmt` (a whole statement), at its indentation."""
    indent = _indent(ctx, stmt)
    _, end = ctx.start_end(stmt)
    return insert_lines(ctx, end.row, indent + _lines(ctx, text, indent) + "\n")


def wrap_in_block(ctx: FileContext, stmt: cst.CSTNode, header: str) -> Edit | None:
    """Put the compound statement `stmt` (a loop) inside `header:` (`with torch.no_grad()`), one
    indentation unit deeper. None where re-indenting could change the code: a triple-quoted string
    or a backslash continuation inside, or a statement that does not start its line."""
    start, end = ctx.start_end(stmt)
    lines = [ctx.line_text(row) for row in range(start.row, end.row + 1)]
    text = "\n".join(lines)
    if '"""' in text or "\'\'\'" in text or "\\\n" in text:
        return None
    indent = lines[0][: start.column - 1]
    if indent.strip():
        return None
    unit, newline = ctx.module.default_indent, ctx.newline
    body = newline.join((unit + line) if line.strip() else line for line in lines)
    # whole lines: from the statement's line start to its last line's end
    return Edit(Location(start.row, 1), Location(end.row, len(lines[-1]) + 1),
                f"{indent}{header}:{newline}{body}", old=newline.join(lines))


def _source_lines(ctx: FileContext, source: str) -> list[str]:
    return split_lines(source, keepends=True)  # rows as positions count them (\n, \r\n, \r only)


def insert_lines(ctx: FileContext, row: int, text: str) -> Edit:
    """Whole lines `text` ("\\n"-separated, ending with one) inserted before line `row + 1`, or at the
    end of a file without a final newline."""
    lines = ctx.memo.get(_source_lines, ctx, ctx.source)
    if lines and row >= len(lines) and not lines[-1].endswith(("\n", "\r")):
        end = Location(len(lines), len(lines[-1].rstrip("\r\n")) + 1)
        return Edit(end, end, ctx.newline + text.rstrip("\n").replace("\n", ctx.newline))
    return Edit(Location(row + 1, 1), Location(row + 1, 1), text.replace("\n", ctx.newline))


def replace_lines(ctx: FileContext, first: cst.SimpleStatementLine, last: cst.CSTNode, text: str) -> list[Edit]:
    """Statements `first` .. `last` (consecutive lines of one block) replaced by `text`; a trailing
    comment of the first line is kept, on its own line above `text`."""
    start, _ = ctx.start_end(first.body[0])
    _, first_end = ctx.start_end(first)
    _, last_end = ctx.start_end(last)
    comment = first.trailing_whitespace.comment
    if comment is not None:
        text = f"{comment.value}{ctx.newline}{_indent(ctx, first.body[0])}{text}"
    return [Edit(start, first_end, text), Edit(first_end, last_end, "")]


# ---- module level -------------------------------------------------------------------------------
def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom))
                                                             for s in stmt.body)


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr) and \
        isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


def _is_future(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.ImportFrom) and \
        dotted_name(stmt.body[0].module) == "__future__"


def _header_end_row(ctx: FileContext, module: cst.Module) -> int:
    row = 0
    for i, stmt in enumerate(module.body):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            break
        if _is_import_line(stmt) or (i == 0 and _is_docstring(stmt)):
            row = ctx.start_end(stmt)[1].row
        elif isinstance(stmt, cst.Try) and all(_is_import_line(s) for s in stmt.body.body):
            row = ctx.start_end(stmt)[1].row  # try: import x / except ImportError: ...
    return row


def header_end_row(ctx: FileContext) -> int:
    """The last row of the module's leading docstring and imports (0 when there are none)."""
    return ctx.memo.get(_header_end_row, ctx, ctx.module)


def insert_after_header(ctx: FileContext, text: str) -> Edit:
    """A top-level block (a helper class or function) after the docstring and imports, set off by
    two blank lines; at the top of a file that has neither."""
    row = header_end_row(ctx)
    return insert_lines(ctx, row, f"\n\n{text}" if row else f"{text}\n\n")


def import_edit(ctx: FileContext, module: str) -> Edit:
    """`import <module>` above the file's first import (after `from __future__` imports), else after
    the module docstring; at the top level whatever is being visited."""
    body = ctx.module.body
    anchor = next((s for s in body if isinstance(s, cst.SimpleStatementLine) and
                   isinstance(s.body[0], (cst.Import, cst.ImportFrom)) and not _is_future(s)), None)
    if anchor is None:
        anchor = next((s for s in body if not (_is_docstring(s) or _is_future(s))), None)
    return insert_before(ctx, anchor, f"import {module}")


@dataclass
class ModuleTop:
    """What a fix needs to know of the module's top level, read once per file."""

    classes: dict[str, cst.ClassDef] = field(default_factory=dict)  # first definition of each name
    assigned: set[str] = field(default_factory=set)  # names assigned at the top level
    last_instance: dict[str, cst.SimpleStatementLine] = field(default_factory=dict)  # callee -> last `x = callee()`


def _module_top(ctx: FileContext, module: cst.Module) -> ModuleTop:
    top = ModuleTop()
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef):
            top.classes.setdefault(stmt.name.value, stmt)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    top.assigned.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
            small = stmt.body[0]
            if len(stmt.body) == 1 and isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
                callee = dotted_name(small.value.func)
                if callee is not None:
                    top.last_instance[callee] = stmt
    return top


def module_top(ctx: FileContext) -> ModuleTop:
    return ctx.memo.get(_module_top, ctx, ctx.module)


# ---- classes ------------------------------------------------------------------------------------
def add_instance_attribute(ctx: FileContext, cls: cst.ClassDef, attr: str, value: str, site: cst.CSTNode,
                           method: cst.FunctionDef | None = None) -> list[Edit]:
    """Edits that make `self.<attr> = <value>` exist before `site` (a statement of `method`, a method
    of `cls`) runs: appended to `__init__` (before its final `return`), or just before `site` when
    `site` is in `__init__`; `if not hasattr(self, "<attr>"):` before `site` when the class has no
    `__init__`; nothing when `__init__` already assigns it."""
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    assign = f"self.{attr} = {value}"
    if init is not None and any(a.method is init and a.value is not None
                                for a in self_assignments(ctx, cls).get(attr, [])):
        return []
    if init is None:
        return [insert_before(ctx, site, f'if not hasattr(self, "{attr}"):\n{ctx.module.default_indent}{assign}')]
    if init is method:
        return [insert_before(ctx, site, assign)]
    last = init.body.body[-1]
    if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return):
        return [insert_before(ctx, last, assign)]
    indent = _indent(ctx, init.body.body[0])
    return [insert_lines(ctx, ctx.start_end(last)[1].row, f"{indent}{assign}\n")]

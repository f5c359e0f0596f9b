"""Classes imported from the user's own project (`from models import Net` with models.py next to
the file or under the project root): the defining file is found by path, read and parsed with
LibCST (never imported or executed), once per file state, and noted in `mllint.engine.reads` so that a
cached result is replayed only while that file is unchanged (rules that use this are
`cross_file`)."""

from __future__ import annotations

import os
from pathlib import Path

import libcst as cst

from mllint.engine.context import FileContext, dotted_name
from mllint.engine.reads import file_state, note_file

MAX_BYTES = 1_000_000  # larger "model files" are not read
# Packages whose classes are never looked for in the project (installed libraries).
LIBRARIES = frozenset({"torch", "numpy", "transformers", "timm", "lightning", "pytorch_lightning"})
MAX_PARSED = 64  # parsed project files kept at once
_PARSED: dict[str, tuple[list[int] | None, FileContext | None]] = {}  # path -> (state, context)


def _import_of(ctx: FileContext, local: str) -> tuple[int, str, str] | None:
    """(relative level, module, imported name) of `from <module> import <name> [as local]`."""
    return ctx.memo.get(_imports_from, ctx, None).get(local)


def _imports_from(ctx: FileContext, _key: None) -> dict[str, tuple[int, str, str]]:
    out: dict[str, tuple[int, str, str]] = {}
    if ctx.module is None:
        return out
    for stmt in ctx.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                module = dotted_name(small.module) if small.module is not None else ""
                for alias in small.names:
                    name = dotted_name(alias.name) or ""
                    local = alias.asname.name.value if alias.asname is not None and \
                        isinstance(alias.asname.name, cst.Name) else name
                    out[local] = (len(small.relative), module or "", name)
    return out


def _candidates(ctx: FileContext, level: int, module: str) -> list[Path]:
    here = Path(ctx.path).resolve().parent
    parts = module.split(".") if module else []
    bases: list[Path] = []
    if level:
        base = here
        for _ in range(level - 1):
            base = base.parent
        bases.append(base)
    else:
        bases.append(here)
        root = getattr(ctx.project, "root", None)
        if root is not None and Path(root).resolve() != here:
            bases.append(Path(root).resolve())
    out = []
    for base in bases:
        target = base.joinpath(*parts)
        out += [target.with_name(target.name + ".py") if parts else target / "__init__.py", target / "__init__.py"]
    return out


def _context(path: Path) -> FileContext | None:
    key = os.fspath(path)
    state = file_state(key)
    cached = _PARSED.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    ctx = None
    if state is not None and state[0] <= MAX_BYTES:
        try:
            source = path.read_text(encoding="utf-8")
            ctx = FileContext(key, source, module=cst.parse_module(source))
        except (OSError, UnicodeDecodeError, cst.ParserSyntaxError, RecursionError):
            ctx = None
    if len(_PARSED) >= MAX_PARSED:
        _PARSED.clear()  # a long-lived process (the language server) keeps only recent model files
    _PARSED[key] = (state, ctx)
    return ctx


def imported_class(ctx: FileContext, func: cst.BaseExpression) -> tuple[FileContext, cst.ClassDef] | None:
    """The class definition that `func` (a name imported with `from ... import`) names, in the
    project file that defines it, with that file's context; else None."""
    found = _imported_definition(ctx, func, cst.ClassDef)
    return found  # type: ignore[return-value]


def imported_function(ctx: FileContext, func: cst.BaseExpression) -> tuple[FileContext, cst.FunctionDef] | None:
    """The module-level function that `func` (`from engine import train_one_epoch`) names, in the
    project file that defines it, with that file's context; else None."""
    found = _imported_definition(ctx, func, cst.FunctionDef)
    return found  # type: ignore[return-value]


def _imported_definition(ctx: FileContext, func: cst.BaseExpression, kind: type) -> tuple[FileContext, cst.CSTNode] | None:
    if not isinstance(func, cst.Name) or ctx.path in ("", "<stdin>"):
        return None
    found = _import_of(ctx, func.value)
    if found is None:
        return None
    level, module, name = found
    if module.split(".")[0] in LIBRARIES:
        return None
    for path in _candidates(ctx, level, module):
        if not note_file(path):
            continue
        other = _context(path)
        if other is None or other.module is None:
            return None
        for stmt in other.module.body:
            if isinstance(stmt, kind) and stmt.name.value == name:
                return other, stmt
        return None
    return None


def top_package(ctx: FileContext) -> str | None:
    """The top-level package this file is a module of, as the import system names it: the highest
    of the directories above it that each hold an `__init__.py` (`torch` for
    torch/distributed/fsdp/sharded_grad_scaler.py inside an installed or unpacked torch); None for a
    script outside any package. Each `__init__.py` looked at is noted (`mllint.engine.reads`), so a cached
    result is replayed only while the package structure is unchanged."""
    if ctx.path in ("", "<stdin>"):
        return None
    return ctx.memo.get(_top_package, ctx, None)


def _top_package(ctx: FileContext, _key: None) -> str | None:
    directory = Path(ctx.path).resolve().parent
    top = None
    for _ in range(64):  # deeper package nesting than this does not occur
        if not note_file(directory / "__init__.py"):
            break
        top = directory.name
        if directory.parent == directory:
            break
        directory = directory.parent
    return top

"""The engine: read a file once, parse it once, walk it once with every enabled rule, then
apply suppressions; in fix mode, apply non-overlapping fixes and re-lint until nothing changes.

It never imports or executes the code it lints.

Modules that only linting needs (LibCST, the rules, tokenize for suppressions, tempfile for
writing) are imported where they are used: a run answered from the cache does not need them.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from mllint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, line_starts
from mllint.engine.files import FileState
from mllint.engine.rule import Rule

MAX_FIX_PASSES = 10
MAX_ANALYSED_CHARS = 8 * 10**6

SYNTAX_ERROR = ("ML000", "syntax-error")
UNUSED_SUPPRESSION = ("ML001", "unused-suppression")  # checked by the engine after the rules ran
REPORT_URL = "please report it with the file that triggered it to the mllint issue tracker"


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # internal errors and I/O problems (exit 2)
    warnings: list[str] = field(default_factory=list)  # worth saying, but not a failure
    fixed: int = 0  # number of fixes applied
    noqa_added: int = 0  # --add-noqa: lines given a `# noqa` comment
    new_source: str | None = None  # set when fixing changed the source
    source: str | None = None
    state: FileState | None = None  # what reading the file found (with the cache on)
    # What cross-file rules read besides the file (mllint.engine.reads.Reads.to_json), if they took part.
    reads: dict | None = None
    # False when a rule warned (a config it could not read): the cache keeps diagnostics only, and
    # a cached answer would drop the warning
    cacheable: bool = True


# MLLINT_NO_PRESCREEN=1 runs every rule on every file (tests prove the prescreen loses nothing).
PRESCREEN = os.environ.get("MLLINT_NO_PRESCREEN", "") in ("", "0")


def has_evidence(source: str, rule_cls: type[Rule], kind: str = "python", prescreen: bool | None = None) -> bool:
    """Could the rule match this text? Evidence items are substrings or compiled regexes; a rule
    may give different evidence per file kind (a dict of kind -> items)."""
    evidence = rule_cls.evidence
    if isinstance(evidence, dict):
        evidence = evidence.get(kind, ())
    if not (PRESCREEN if prescreen is None else prescreen) or not evidence:
        return True
    return any(token in source if isinstance(token, str) else token.search(source) is not None
               for token in evidence)


def syntax_diagnostic(path: str, message: str, line: int, col: int) -> Diagnostic:
    loc = Location(max(line, 1), max(col, 1))
    return Diagnostic(code=SYNTAX_ERROR[0], name=SYNTAX_ERROR[1], message=message, path=path, start=loc, end=loc,
                      noqa_row=None)


def run_rules(source: str, path: str, kind: str, rules: list[tuple[type[Rule], dict]],
              project=None, prescreen: bool | None = None,
              warnings: list[str] | None = None) -> tuple[list[Diagnostic], list[str]]:
    """Lint one source text with the given rules (class, options). Returns diagnostics, errors;
    the rules' warnings (a config that cannot be read) are added to `warnings`.
    `prescreen` (default: on unless MLLINT_NO_PRESCREEN is set) skips rules that cannot match."""
    errors: list[str] = []
    prescreen = PRESCREEN if prescreen is None else prescreen
    # codes of the rules that run on this kind of file (the evidence filters below only skip work)
    enabled = frozenset(cls.code for cls, _ in rules if kind in cls.file_kinds or cls.code == UNUSED_SUPPRESSION[0])
    rules = [(cls, opts) for cls, opts in rules
             if kind in cls.file_kinds and has_evidence(source, cls, kind, prescreen)]

    def on_error(rule: Rule, exc: BaseException) -> None:
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        errors.append(f"{path}: internal error in {rule.code} ({rule.name}): {type(exc).__name__}: {exc} "
                      f"[{Path(where.filename).name}:{where.lineno}]; {REPORT_URL}")

    if warnings is None:
        warnings = []
    if kind != "python":
        if not rules:  # no thread for a file no rule can match
            return _apply_suppressions([], source, kind, path, enabled), errors
        # Shell and YAML rules read Hydra configs, which may nest as deeply as Python code: they get
        # the same large stack.
        return _in_deep_stack(_check_file, source, path, kind, rules, project, errors, on_error, enabled, warnings)

    # CPython's own parser is the cheap syntax check (about a tenth of a LibCST parse); it rejects
    # what Python cannot parse anyway, including nesting deep enough to make LibCST's parser
    # quadratic or overflow the stack. Its tree also tells which rules have candidates in the
    # file (mllint.engine.candidates). Nothing is executed.
    return _in_deep_stack(_check_parse_visit, source, path, kind, rules, project, errors, on_error, enabled,
                          prescreen, warnings)


def _check_file(source, path, kind, rules, project, errors, on_error, enabled, warnings):
    from mllint.engine.context import FileContext

    ctx = FileContext(path, source, kind=kind, project=project)
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(_DEEP_RECURSION)  # safe: this thread has a large stack
    try:
        for cls, opts in rules:
            rule = cls(ctx, opts)
            try:
                rule.check_file(ctx)
            except Exception as exc:
                on_error(rule, exc)
    finally:
        sys.setrecursionlimit(previous)
    warnings.extend(w for w in ctx.warnings if w not in warnings)
    return _apply_suppressions(ctx.diagnostics, source, kind, path, enabled), errors


def _check_parse_visit(source, path, kind, rules, project, errors, on_error, enabled, prescreen, warnings):
    tree, problem = compile_check(source, path)
    if problem is not None:
        return [problem], errors
    if prescreen and rules and tree is not None:  # no tree: newer syntax, every rule runs
        rules = _candidate_rules(tree, rules, on_error)
    del tree  # not kept alive during the LibCST parse
    if not rules:  # nothing can match: LibCST is never run on this file
        return _apply_suppressions([], source, kind, path, enabled), errors
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(_DEEP_RECURSION)  # safe: this thread has a large stack
    try:
        return _parse_and_visit(source, path, kind, rules, project, errors, on_error, enabled, warnings)
    finally:
        sys.setrecursionlimit(previous)


def compile_check(source: str, path: str) -> tuple[ast.Module | None, Diagnostic | None]:
    """CPython's AST of the file, built at the interpreter's normal recursion limit: what Python's
    own parser accepts. (Errors only its bytecode compiler finds, such as `return` outside a
    function, are left to other tools: compiling would cost a tenth of the run.)

    A file that only a newer Python parses (`def f[T]()` or `type X = ...` read by Python 3.11)
    is not a syntax error: when LibCST's parser, which knows newer grammars, accepts it, the
    result is (None, None) and the file is linted without the CPython tree."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST,
                           dont_inherit=True)
    except SyntaxError as exc:
        if "too many" not in str(exc.msg) and _newer_python_syntax(source):
            return None, None
        return None, syntax_diagnostic(path, f"SyntaxError: {exc.msg}", exc.lineno or 1, exc.offset or 1)
    except (ValueError, RecursionError) as exc:
        # ValueError: NUL bytes; RecursionError: nesting Python itself cannot parse (a MemoryError
        # says nothing about the syntax: lint_text makes it a warning)
        reason = "nesting too deep for Python to compile" if isinstance(exc, RecursionError) else str(exc)
        return None, syntax_diagnostic(path, f"SyntaxError: {reason}", 1, 1)
    return tree, None


# Files over MAX_ANALYSED_CHARS are checked for syntax in pieces: CPython's AST of a whole file
# costs ~430 bytes per byte of simple code (10 MB of code: 4.3 GB), its bytecode compiler ~260.
SYNTAX_CHUNK_CHARS = 256 * 1024
MAX_SYNTAX_CHUNK_CHARS = 2 * 2**20  # one statement larger than this (a huge literal) is not checked
# Where a piece may end: before a line starting at column 0 that cannot continue the statement
# before it (not a closing bracket, a comment, or else/elif/except/finally), after a line not
# ending in a backslash. A piece that then parses on its own ended at a statement boundary: a cut
# inside brackets or a triple-quoted string leaves it unclosed, which does not parse.
_PIECE_END = re.compile(r"(?<!\\)(?<!\\\r)\n(?=[^\s#)\]}])(?!(?:else|elif|except|finally)\b)")
# Errors that only say the piece ended too early (an open bracket or string, a dangling decorator)
_ENDED_EARLY = ("was never closed", "unterminated triple-quoted")


def _syntax_in_pieces(source: str, path: str) -> tuple[Diagnostic | None, str | None]:
    """(ML000 or None, warning or None) for a file too large to parse whole, in bounded memory:
    consecutive pieces of about SYNTAX_CHUNK_CHARS, each ending at a statement boundary, are
    parsed one at a time, and their trees dropped. A piece that fails only because of where it
    ended is extended; an error that stays where it is when more text follows is the file's."""
    size = len(source)
    start, row = 0, 1  # where the piece begins, and its first line's number in the file

    def piece_end(at: int) -> int:
        m = _PIECE_END.search(source, at) if at < size else None
        return m.end() if m is not None else size

    while start < size:
        end = piece_end(start + SYNTAX_CHUNK_CHARS)
        seen = None  # an error already met once in this piece: (row, column, message)
        while True:
            if end - start > MAX_SYNTAX_CHUNK_CHARS:
                return None, (f"{path}: not checked for syntax: a statement at line {row} or after is over "
                              f"{MAX_SYNTAX_CHUNK_CHARS / 2**20:g} MB")
            piece = source[start:end]
            try:
                error = _parse_error(piece, path)
                if error is None:
                    break
                last_row = piece.count("\n") + 1
                early = any(s in str(error.msg) for s in _ENDED_EARLY) or (error.lineno or 1) >= last_row
                where = (row + (error.lineno or 1) - 1, error.offset or 1, str(error.msg))
                if end >= size or (not early and where == seen):
                    if ("too many" not in where[2] and len(piece) <= MAX_SYNTAX_CHUNK_CHARS // 4
                            and _newer_python_syntax(piece)):
                        break  # valid for a newer Python (LibCST's grammar): bounded by the piece's size
                    return syntax_diagnostic(path, f"SyntaxError: {where[2]}", where[0], where[1]), None
                seen = None if early else where
            except (ValueError, RecursionError) as exc:  # NUL bytes; nesting Python cannot parse
                reason = "nesting too deep for Python to compile" if isinstance(exc, RecursionError) else str(exc)
                return syntax_diagnostic(path, f"SyntaxError: {reason}", row, 1), None
            except MemoryError:
                return None, f"{path}: too large to check: ran out of memory checking its syntax"
            end = piece_end(end + SYNTAX_CHUNK_CHARS)
        row += source.count("\n", start, end)
        start = end
    return None, None


def _parse_error(piece: str, path: str) -> SyntaxError | None:
    """What CPython's parser says of a piece. Compiling to bytecode, which keeps its syntax tree
    in C, is about twice as fast as building the Python-object tree; an error it reports is
    checked with the parser alone, since errors only the compiler finds (`return` outside a
    function) are not reported for other files either."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(piece, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
            return None
        except SyntaxError:
            pass
        try:
            compile(piece, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST, dont_inherit=True)
            return None
        except SyntaxError as exc:
            return exc


def _newer_python_syntax(source: str) -> bool:
    """Does LibCST's parser accept what this interpreter's parser rejected? (Its grammar follows
    newer Python versions; "too many nested ..." errors never get here, so it is not asked to
    parse what CPython refused for depth.)"""
    if len(source) > MAX_ANALYSED_CHARS:  # LibCST would need minutes and gigabytes
        return False
    import libcst as cst

    try:
        cst.parse_module(source)
    except Exception:
        return False
    return True


def _candidate_rules(tree: ast.Module, rules: list[tuple[type[Rule], dict]], on_error=None):
    """The rules whose candidates pattern the file matches (rules without one always run). A
    pattern that fails is a bug, reported like a rule's; its rule then runs (it may match)."""
    if all(cls.candidates is None for cls, _ in rules):
        return rules
    from mllint.engine.candidates import Facts

    facts = Facts(tree)
    out = []
    for cls, opts in rules:
        try:
            keep = cls.candidates is None or cls.candidates(facts)
        except Exception as exc:
            keep = True
            if on_error is not None:
                on_error(cls, exc)
        if keep:
            out.append((cls, opts))
    return out


def _parse_and_visit(source, path, kind, rules, project, errors, on_error, enabled, warnings):
    import libcst as cst  # imported only when a file needs it: a run answered by the cache never does

    from mllint.engine.context import FileContext
    from mllint.engine.traversal import Dispatcher

    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        msg = str(exc.message).splitlines()[0] if exc.message else "invalid syntax"
        return [syntax_diagnostic(path, f"SyntaxError: {msg}", exc.raw_line, exc.raw_column + 1)], errors
    except MemoryError:
        raise  # not a syntax error: lint_text makes it a warning
    except Exception as exc:  # the parser must never take the run down
        return [syntax_diagnostic(path, f"could not parse: {type(exc).__name__}: {exc}", 1, 1)], errors
    ctx = FileContext(path, source, kind="python", module=module, project=project)
    instances = [cls(ctx, opts) for cls, opts in rules]
    dispatcher = Dispatcher(ctx, instances, on_error)
    try:
        dispatcher.run(module)
    except RecursionError:
        errors.append(f"{path}: nesting too deep to analyse; file skipped")
        return [], errors
    warnings.extend(w for w in ctx.warnings if w not in warnings)
    return _apply_suppressions(ctx.diagnostics, source, kind, path, enabled), errors


_DEEP_STACK_BYTES = 512 * 1024 * 1024  # reserved address space, not memory actually used
_DEEP_RECURSION = 30_000


def _in_deep_stack(fn, *args):
    """Run `fn` in a thread with a large stack, so that LibCST's recursive parser and visitors
    handle deeply nested (but valid) code instead of overflowing."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    with _STACK_LOCK:
        old_size = threading.stack_size(_DEEP_STACK_BYTES)
        try:
            thread = threading.Thread(target=target, name="mllint-lint")
            thread.start()
        finally:
            threading.stack_size(old_size)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_STACK_LOCK = threading.Lock()


def _apply_suppressions(diags: list[Diagnostic], source: str, kind: str, path: str = "",
                        enabled: frozenset[str] = frozenset()) -> list[Diagnostic]:
    check_unused = UNUSED_SUPPRESSION[0] in enabled
    if not diags and not check_unused:
        return diags
    from mllint.engine import suppression

    sup = suppression.collect(source, kind)
    kept = [d for d in diags if not sup.suppresses(d.code, (d.start.row, d.end.row))]
    if check_unused:
        kept += [d for d in _unused_suppressions(sup, diags, enabled, source, path)
                 if not sup.suppresses(d.code, (d.start.row,))]
    return sorted(kept, key=Diagnostic.sort_key)


def _unused_suppressions(sup, diags, enabled, source, path) -> list[Diagnostic]:
    """ML001: a `# noqa: ML101` / `# mllint: disable=ML101` with a code that suppresses nothing on
    its line, as Ruff's RUF100 reports them: unused (the rule ran and reported nothing there),
    non-enabled (the rule did not run on this file: not selected, ignored, turned off for the file
    by per-file-ignores, a preview rule without preview, or not a rule for this kind of file),
    unknown (no mllint rule has that code or prefix), and duplicated.

    Codes of other tools (`E501`: any prefix that is neither `ML` nor a rule pack's) are left
    alone, and so are ML000 and ML001 (a directive naming ML001 suppresses its own report).
    """
    from mllint.engine.registry import rule_infos
    from mllint.engine.suppression import rewrite

    special = ("ML000", UNUSED_SUPPRESSION[0])
    known = set(rule_infos()) | set(enabled)
    out = []
    starts = None
    ours = {"ML", *(code.rstrip("0123456789") for code in known)}  # mllint's and the rule packs' prefixes
    for directive in sup.directives:
        reasons: dict[str, list[str]] = {"unused": [], "non-enabled": [], "unknown code": [], "duplicated": []}
        seen: set[str] = set()
        for code in directive.codes:
            if code.rstrip("0123456789") not in ours or not _OUR_CODE.match(code):
                continue
            if code in seen:
                if code not in reasons["duplicated"]:
                    reasons["duplicated"].append(code)
                continue
            seen.add(code)
            matches = [k for k in known if k.startswith(code)]
            if not matches:
                reasons["unknown code"].append(code)
            elif all(k in special for k in matches):
                continue
            elif not any(e.startswith(code) for e in enabled if e not in special):
                reasons["non-enabled"].append(code)
            elif not any(d.code.startswith(code) and directive.row in (sup.row_of(d.start.row), sup.row_of(d.end.row))
                         for d in diags):
                reasons["unused"].append(code)
        removed = {c for kind, codes in reasons.items() if kind != "duplicated" for c in codes}
        if not removed and not reasons["duplicated"]:
            continue
        if starts is None:
            starts = line_starts(source)
        line_begin = starts[directive.row - 1]
        line = source[line_begin:starts[directive.row] if directive.row < len(starts) else len(source)]
        new = rewrite(directive, removed, set(reasons["duplicated"]))
        start, end = directive.start, directive.end
        if not new:
            if directive.trailing.strip():
                new = "#"  # keep the rest of the comment a comment
            else:
                before = line[: start - 1]
                start = len(before.rstrip(" \t")) + 1  # drop the spaces before it too
                end = directive.end + len(directive.trailing)
        flagged = list(dict.fromkeys(c for c in directive.codes if c in removed or c in reasons["duplicated"]))
        names = ", ".join(flagged)
        why = "; ".join(f"{kind}: {', '.join(codes)}" for kind, codes in reasons.items() if codes)
        where = Location(directive.row, directive.start)
        message = (f"`{line[directive.start - 1:directive.end - 1]}` suppresses nothing here ({why}); remove "
                   f"{'it' if len(flagged) == 1 else 'them'} so the suppression cannot hide a future finding")
        fix = Fix(Applicability.SAFE, f"Remove unused suppression of {names}",
                  (Edit(Location(directive.row, start), Location(directive.row, end), new,
                        old=line[start - 1:end - 1]),))
        out.append(Diagnostic(code=UNUSED_SUPPRESSION[0], name=UNUSED_SUPPRESSION[1], message=message, path=path,
                              start=where, end=Location(directive.row, directive.end), fix=fix,
                              noqa_row=directive.row))
    return out


_OUR_CODE = re.compile(r"[A-Z]+[0-9]*\Z")  # a code or prefix; whose prefix is not ours (E501, MLX1) is not ML001's business


# ---- fixing -----------------------------------------------------------------------------------

def _offset(starts: list[int], loc: Location) -> int:
    return starts[loc.row - 1] + loc.column - 1


def apply_edits(source: str, edits: list[Edit]) -> str:
    """Apply edits (already known not to overlap), last first so offsets stay valid."""
    starts = line_starts(source)
    spans = sorted(((_offset(starts, e.start), _offset(starts, e.end), e.content) for e in edits), reverse=True)
    out = source
    for begin, end, content in spans:
        out = out[:begin] + content + out[end:]
    return out


def _overlap(a: tuple[Location, Location], b: tuple[Location, Location]) -> bool:
    (s1, e1), (s2, e2) = a, b
    if s1 == e1 or s2 == e2:  # an insertion conflicts with anything touching its point
        return s2 <= s1 <= e2 or s1 <= s2 <= e1
    return s1 < e2 and s2 < e1


def choose_fixes(diags: list[Diagnostic], unsafe: bool) -> list[Diagnostic]:
    """Fixes to apply in this pass: applicable and not overlapping an earlier chosen fix."""
    allowed = {Applicability.SAFE, Applicability.UNSAFE} if unsafe else {Applicability.SAFE}
    chosen: list[Diagnostic] = []
    taken: list[tuple[Location, Location]] = []
    for d in sorted(diags, key=lambda d: (d.start, d.code)):
        if d.fix is None or d.fix.applicability not in allowed or not d.fix.edits:
            continue
        spans = [(e.start, e.end) for e in d.fix.edits]
        if any(_overlap(a, b) for a in spans for b in taken):
            continue  # applied in the next pass, after re-linting
        chosen.append(d)
        taken.extend(spans)
    return chosen


def _parses(source: str, kind: str) -> bool:
    if kind != "python":
        return True
    import libcst as cst

    try:
        cst.parse_module(source)
        return True
    except Exception:
        return False


def _without_unfixable(linted: tuple[list[Diagnostic], list[str]], project) -> tuple[list[Diagnostic], list[str]]:
    """As Ruff: a rule that `fixable`/`unfixable` rules out reports without its fix (so it is
    neither applied nor offered)."""
    fixable = project.fixable_codes() if hasattr(project, "fixable_codes") else None
    diags, errors = linted
    if fixable is not None and any(d.fix is not None and d.code not in fixable for d in diags):
        diags = [replace(d, fix=None) if d.fix is not None and d.code not in fixable else d
                 for d in diags]
    return diags, errors


INVALID_FIX = "would produce invalid code"
MISPLACED_FIX = "would change the file elsewhere than it intends"
# what LibCST may leave out of its text of a module (mllint.engine.positions), compared loosely
_DROPPABLE = str.maketrans("", "", " \t\f\v\r\n\\\ufeff")


def _misplaced(current: str, starts: list[int], edit: Edit) -> bool:
    """Does the edit point outside its rows, or at text other than what it means to replace?"""
    for loc in (edit.start, edit.end):
        if not 1 <= loc.row <= len(starts) or loc.column < 1:
            return True
        line_end = starts[loc.row] if loc.row < len(starts) else len(current)
        if loc.column - 1 > len(current[starts[loc.row - 1]:line_end].rstrip("\r\n")):
            return True  # past the end of its row: it would run into the next one
    if edit.old is None:
        return False
    here = current[_offset(starts, edit.start):_offset(starts, edit.end)]
    # LibCST's text of a node can lack form feeds and other whitespace that the file has
    return here != edit.old and here.translate(_DROPPABLE) != edit.old.translate(_DROPPABLE)


def check_fix(current: str, edits: list[Edit], kind: str) -> tuple[str, str | None]:
    """(`current` with the edits applied, None), or (current, why not) when the result must not be
    written: an edit outside its row or at other text than it means to replace (a wrong position,
    which could otherwise change a string or delete code and still parse), or Python code that no
    longer parses. Used for `--fix` and for the quick fixes the language server offers."""
    starts = line_starts(current)
    if any(_misplaced(current, starts, e) for e in edits):
        return current, MISPLACED_FIX
    candidate = apply_edits(current, edits)
    if candidate != current and not _parses(candidate, kind):
        return current, INVALID_FIX
    return candidate, None


def lint_text(source: str, path: str, kind: str, rules, project=None, fix: bool = False,
              unsafe: bool = False, prescreen: bool | None = None) -> FileResult:
    """Lint (and optionally fix) Python, YAML or shell source text. Does not touch the file system.
    (Notebooks go through mllint.engine.api, which lints their code cells with this.)"""
    try:
        return _lint_text(source, path, kind, rules, project, fix, unsafe, prescreen)
    except MemoryError:  # never a false "syntax error": the file was not checked, and is said to be
        return FileResult(path=path, source=source,
                          warnings=[f"{path}: too large to check: ran out of memory; not linted"])


def _lint_text(source: str, path: str, kind: str, rules, project, fix: bool, unsafe: bool,
               prescreen: bool | None) -> FileResult:
    result = FileResult(path=path, source=source)
    if kind == "python" and len(source) > MAX_ANALYSED_CHARS:
        # LibCST needs minutes and gigabytes for a file this size (generated code, in practice)
        result.warnings.append(f"{path}: {len(source) / 1e6:.1f} MB, over the {MAX_ANALYSED_CHARS / 10**6:g} MB "
                               "limit for analysis by rules; checked for syntax only")
        problem, warning = _syntax_in_pieces(source, path)
        result.diagnostics = [problem] if problem is not None else []
        if warning is not None:
            result.warnings.append(warning)
        return result
    diags, errors = _without_unfixable(run_rules(source, path, kind, rules, project, prescreen, result.warnings),
                                       project)
    result.cacheable = not result.warnings
    result.errors.extend(errors)
    if fix:
        current = source
        for _ in range(MAX_FIX_PASSES):
            chosen = choose_fixes(diags, unsafe)
            if not chosen:
                break
            candidate, problem = check_fix(current, [e for d in chosen for e in d.fix.edits], kind)
            if problem is not None:
                codes = ", ".join(sorted({d.code for d in chosen}))
                result.errors.append(f"{path}: fixing {codes} {problem}; the file was left "
                                     f"as it was before those fixes ({REPORT_URL})")
                break
            if candidate == current:
                break
            current = candidate
            result.fixed += len(chosen)
            diags, errors = _without_unfixable(run_rules(current, path, kind, rules, project, prescreen, result.warnings),
                                               project)
            result.errors.extend(e for e in errors if e not in result.errors)
        else:
            if choose_fixes(diags, unsafe):
                result.errors.append(f"{path}: fixes did not converge after {MAX_FIX_PASSES} passes")
        if current != source:
            result.new_source = current
    result.diagnostics = diags
    return result

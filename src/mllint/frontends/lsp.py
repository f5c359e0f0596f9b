"""`mllint server`: a language server over stdio (pygls).

It lints a document when it is opened, changed and saved, and publishes the diagnostics (errors and
warnings as in every output, see mllint.frontends.output.severity); it offers a quick fix for each fixable
diagnostic, a "Disable MLxxx for this line" action (a `# noqa` comment), a "fix all" source action
(`source.fixAll.mllint`), and a hover on a diagnostic with its rule's summary and documentation link.
Settings come from the same `[tool.mllint]` table as on the command line: the nearest
pyproject.toml above the document (re-read on every lint, so edits to it apply at once). Files
the configuration excludes get no diagnostics. Python, YAML configs and shell launch scripts are
linted, and so are Jupyter notebooks open in an editor that syncs notebooks (LSP 3.17, as VS Code
does): their Python cells are linted as one module, as on the command line, so `import torch` in
the first cell resolves in the fifth; diagnostics are published on each cell, and a fix may edit
other cells than the one it is asked from (ML201's helper goes after the imports).

Needs pygls, mllint's `lsp` extra: `pip install '.[lsp]'` in a clone of mllint (the distribution,
mllint-training, is not on PyPI; `pip install mllint` installs another project).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types as T
from pygls import uris
from pygls.lsp.server import LanguageServer
from pygls.workspace.text_document import TextDocument

from mllint import __version__
from mllint.diagnostics import Applicability, Diagnostic, Fix, changed_span, split_lines
from mllint.engine.api import lint_source
from mllint.engine.files import kind_of
from mllint.engine.lint import FileResult, check_fix
from mllint.frontends.docs import doc_url
from mllint.frontends.output import ERROR, severity
from mllint.run.config import ConfigError, ConfigResolver
from mllint.run.runner import Task, rules_for

if TYPE_CHECKING:
    from mllint.formats.notebook import Joined
    from mllint.run.config import Settings

FIX_ALL = f"{T.CodeActionKind.SourceFixAll.value}.mllint"
NOTEBOOK_FIX_ALL = f"notebook.{FIX_ALL}"  # what VS Code asks for on a notebook's save
NOTEBOOK_SYNC = T.NotebookDocumentSyncOptions(
    notebook_selector=[T.NotebookDocumentFilterWithNotebook(notebook="*", cells=[T.NotebookCellLanguage("python")])],
    save=True)
LANGUAGE_KINDS = {"python": "python", "yaml": "yaml", "shellscript": "shell", "sh": "shell", "bash": "shell"}

# pygls splits documents with str.splitlines(), which also ends a line at \f, \v, U+2028 and more;
# the LSP (and every position mllint computes) ends lines only at \n, \r\n and \r. Its lines are
# what it applies the editor's incremental changes with and converts positions with, so a form
# feed would shift both: the documents' lines are split as the protocol says.
TextDocument.lines = property(lambda doc: tuple(split_lines(doc.source, keepends=True)))


def _document_path(uri: str) -> Path:
    fs = uris.to_fs_path(uri) if uri.startswith("file:") else None
    return Path(fs) if fs else Path.cwd() / "untitled.py"


@dataclass
class NotebookLint:
    """A notebook linted as one module: `result` is in the coordinates of `joined`'s text;
    `diagnostics` are in cell coordinates, each with `cell` (1-based, as in `cell_uris`)."""
    cell_uris: list[str]
    joined: Joined
    result: FileResult
    diagnostics: list[Diagnostic]


class MllintServer(LanguageServer):
    # what was last published per document URI, for hovers (no lint per hover)
    published: dict[str, list[tuple[T.Diagnostic, Diagnostic]]]

    def settings(self, path: Path) -> Settings | None:
        """The [tool.mllint] settings for a file, or None when the file is excluded or the
        configuration is broken (then the user is told)."""
        try:
            settings = ConfigResolver().for_path(path)
        except ConfigError as exc:
            self.window_show_message(T.ShowMessageParams(type=T.MessageType.Error, message=f"mllint: {exc}"))
            return None
        return None if settings.is_excluded(path) else settings

    def log(self, result: FileResult) -> None:
        for err in result.errors:
            self.window_log_message(T.LogMessageParams(type=T.MessageType.Error, message=f"mllint: {err}"))
        for warning in getattr(result, "warnings", ()):
            self.window_log_message(T.LogMessageParams(type=T.MessageType.Warning, message=f"mllint: {warning}"))

    def document_kind(self, uri: str) -> str | None:
        doc = self.workspace.get_text_document(uri)
        kind = kind_of(_document_path(uri))
        return kind if kind is not None else LANGUAGE_KINDS.get(doc.language_id or "")

    def lint(self, uri: str, fix: bool = False, unsafe: bool = False) -> FileResult | None:
        _forget_stale_project_indexes()
        doc = self.workspace.get_text_document(uri)
        path = _document_path(uri)
        kind = self.document_kind(uri)
        if kind is None or kind == "notebook":
            return None
        settings = self.settings(path)
        if settings is None:
            return None
        result = lint_source(doc.source, str(path), kind, rules_for(Task(path, str(path), settings)),
                           project=settings, fix=fix, unsafe=unsafe)
        self.log(result)
        return result

    def notebook_of(self, cell_uri: str) -> T.NotebookDocument | None:
        return self.workspace.get_notebook_document(cell_uri=cell_uri)

    def lint_notebook(self, notebook: T.NotebookDocument, fix: bool = False) -> NotebookLint | None:
        from mllint.engine.api import lint_cells
        from mllint.formats.notebook import CellSpan

        _forget_stale_project_indexes()
        path = _document_path(notebook.uri)
        settings = self.settings(path)
        if settings is None:
            return None
        cells, uris = [], []
        for index, cell in enumerate(notebook.cells):
            doc = self.workspace.get_text_document(cell.document)
            python = cell.kind == T.NotebookCellKind.Code and (doc.language_id or "python") == "python"
            cells.append(CellSpan(index, "code" if python else "markdown", doc.source))
            uris.append(cell.document)
        linted = lint_cells(cells, str(path), rules_for(Task(path, str(path), settings)), project=settings, fix=fix)
        self.log(linted.result)
        return NotebookLint(uris, linted.joined, linted.result, linted.diagnostics if not fix else [])

    def publish_notebook(self, notebook_uri: str) -> None:
        notebook = self.workspace.get_notebook_document(notebook_uri=notebook_uri)
        if notebook is None:
            return
        linted = self.lint_notebook(notebook)
        per_cell: dict[str, list[tuple[T.Diagnostic, Diagnostic]]] = {cell.document: [] for cell in notebook.cells}
        for d in linted.diagnostics if linted else ():
            if d.cell is not None and 1 <= d.cell <= len(linted.cell_uris):
                uri = linted.cell_uris[d.cell - 1]
                per_cell[uri].append((self.to_lsp(uri, d), d))
        for uri, pairs in per_cell.items():
            version = self.workspace.get_text_document(uri).version
            self.published[uri] = pairs
            self.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=[p[0] for p in pairs], version=version))

    def cell_edits(self, linted: NotebookLint, new_text: str) -> dict[str, list[T.TextEdit]]:
        """Edits per cell URI that turn each code cell into its source in `new_text` (a fixed
        joined text); empty when the fix cannot be mapped back to the cells."""
        from mllint.formats.notebook import changed_cells

        changed = changed_cells(linted.joined, new_text) or {}
        return {linted.cell_uris[index]: [self.minimal_edit(linted.cell_uris[index], new)]
                for index, new in sorted(changed.items())}

    def minimal_edit(self, uri: str, new_text: str) -> T.TextEdit:
        """One edit replacing only what differs between the document and `new_text`, so that the
        rest of the cell (and the cursor in it) is left alone."""
        doc = self.workspace.get_text_document(uri)
        old = doc.source
        start, old_end, new_end = changed_span(old, new_text)
        return T.TextEdit(range=T.Range(start=self.offset_position(uri, start),
                                        end=self.offset_position(uri, old_end)),
                          new_text=new_text[start:new_end])

    def offset_position(self, uri: str, offset: int) -> T.Position:
        doc = self.workspace.get_text_document(uri)
        line_start = 0
        for number, line in enumerate(doc.lines):
            if offset < line_start + len(line):
                return doc.position_codec.position_to_client_units(
                    doc.lines, T.Position(line=number, character=offset - line_start))
            line_start += len(line)
        return self.document_end(uri)

    def document_end(self, uri: str) -> T.Position:
        doc = self.workspace.get_text_document(uri)
        lines = doc.lines
        if not lines:
            return T.Position(line=0, character=0)
        if lines[-1].endswith(("\n", "\r")):
            return T.Position(line=len(lines), character=0)
        return doc.position_codec.position_to_client_units(
            lines, T.Position(line=len(lines) - 1, character=len(lines[-1])))

    def position(self, uri: str, row: int, column: int) -> T.Position:
        doc = self.workspace.get_text_document(uri)
        lines = doc.lines
        if row - 1 >= len(lines):
            return T.Position(line=len(lines), character=0)
        return doc.position_codec.position_to_client_units(lines, T.Position(line=row - 1, character=column - 1))

    def range(self, uri: str, start, end) -> T.Range:
        return T.Range(start=self.position(uri, start.row, start.column), end=self.position(uri, end.row, end.column))

    def to_lsp(self, uri: str, d: Diagnostic) -> T.Diagnostic:
        url = doc_url(d.code)
        fixable = _fixable(d)
        return T.Diagnostic(
            range=self.range(uri, d.start, d.end),
            message=d.message,
            severity=T.DiagnosticSeverity.Error if severity(d.code) == ERROR else T.DiagnosticSeverity.Warning,
            code=d.code,
            code_description=T.CodeDescription(href=url) if url else None,
            source="mllint",
            data={"fixable": fixable, "name": d.name},
        )

    def publish(self, uri: str) -> None:
        notebook = self.notebook_of(uri)
        if notebook is not None:
            self.publish_notebook(notebook.uri)
            return
        result = self.lint(uri)
        pairs = [(self.to_lsp(uri, d), d) for d in result.diagnostics] if result else []
        self.published[uri] = pairs
        doc = self.workspace.get_text_document(uri)
        self.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=[p[0] for p in pairs], version=doc.version))

    def edits(self, uri: str, fix: Fix) -> list[T.TextEdit]:
        return [T.TextEdit(range=self.range(uri, e.start, e.end), new_text=e.content) for e in fix.edits]

    def whole_document_edit(self, uri: str, new_text: str) -> T.TextEdit:
        return T.TextEdit(range=T.Range(start=T.Position(line=0, character=0), end=self.document_end(uri)),
                          new_text=new_text)


def _forget_stale_project_indexes() -> None:
    """The Hydra rules find a project's apps in an index of its .py files (mllint.engine.reads.tree), read
    once per run: here, where the process outlives many edits, it is dropped when a directory
    changed, so an app written after a config was opened is found at the config's next lint."""
    from mllint.engine import reads

    reads.forget_stale()


def _overlaps(a: T.Range, b: T.Range) -> bool:
    def key(p: T.Position):
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wanted(kind: str, only: list[str] | None) -> bool:
    return not only or any(kind == k or kind.startswith(k + ".") for k in only)


def _fixable(d: Diagnostic) -> bool:
    return d.fix is not None and d.fix.applicability in (Applicability.SAFE, Applicability.UNSAFE)


def _quick_fix(ls: MllintServer, uri: str, d: Diagnostic, where: T.Range, sent: list[T.Diagnostic],
               changes: dict[str, list[T.TextEdit]]) -> T.CodeAction:
    unsafe = d.fix.applicability == Applicability.UNSAFE
    matching = [s for s in sent if s.code == d.code and s.range == where] or [ls.to_lsp(uri, d)]
    return T.CodeAction(
        title=f"mllint: {d.fix.message} ({d.code}{', unsafe fix' if unsafe else ''})",
        kind=T.CodeActionKind.QuickFix,
        diagnostics=matching,
        is_preferred=not unsafe,
        edit=T.WorkspaceEdit(changes=changes),
    )


def _notebook_code_actions(ls: MllintServer, notebook: T.NotebookDocument, uri: str, params: T.CodeActionParams,
                           only: list[str] | None) -> list[T.CodeAction] | None:
    """Code actions asked from one cell. A fix is applied to the whole notebook's joined text and
    mapped back, so its edits land in every cell it changes."""
    from mllint.formats.notebook import locator, map_diagnostic

    linted = ls.lint_notebook(notebook)
    if linted is None:
        return None
    actions: list[T.CodeAction] = []
    if _wanted(T.CodeActionKind.QuickFix.value, only):
        sent = [d for d in params.context.diagnostics if d.source == "mllint"]
        where = locator(linted.joined.text, linted.joined.token)
        disables: list[T.CodeAction] = []
        for raw in linted.result.diagnostics:
            d = map_diagnostic(raw, where)
            if d.cell is None or linted.cell_uris[d.cell - 1] != uri:
                continue
            at = ls.range(uri, d.start, d.end)
            if not _overlaps(at, params.range):
                continue
            # the cell's own text: a `# noqa` in a cell works as in a file
            _add_disable(disables, _disable_action(ls, uri, d, "python", sent,
                                                   ls.workspace.get_text_document(uri).source))
            if not _fixable(raw):
                continue
            fixed_text, problem = check_fix(linted.joined.text, list(raw.fix.edits), "python")
            if problem is not None:  # never offered: the editor applies it without any check
                continue
            changes = ls.cell_edits(linted, fixed_text)
            if changes:
                actions.append(_quick_fix(ls, uri, d, at, sent, changes))
        actions += disables
    # notebook.source.fixAll only when asked for by name: otherwise it would be a second, identical
    # "fix all" in the editor's menu
    for kind in [FIX_ALL] + ([NOTEBOOK_FIX_ALL] if only else []):
        if _wanted(kind, only):
            fixed = ls.lint_notebook(notebook, fix=True)
            if fixed is not None and fixed.result.new_source is not None:
                changes = ls.cell_edits(fixed, fixed.result.new_source)
                if changes:
                    actions.append(T.CodeAction(title="mllint: fix all safe fixes", kind=kind,
                                                edit=T.WorkspaceEdit(changes=changes)))
    return actions


def _disable_action(ls: MllintServer, uri: str, d: Diagnostic, kind: str | None, sent: list[T.Diagnostic],
                    source: str) -> T.CodeAction | None:
    """"Disable MLxxx for this line": a `# noqa: MLxxx` comment, or the code added to the line's
    `# noqa: ...` (Python, YAML and shell files all use `#` comments)."""
    from mllint.engine.noqa import line_edit

    if d.code == "ML000" or kind is None:  # a file that does not parse cannot be suppressed
        return None
    edit = line_edit(source, kind, d)
    if edit is None:
        return None
    where = ls.range(uri, d.start, d.end)
    matching = [s for s in sent if s.code == d.code and s.range == where] or [ls.to_lsp(uri, d)]
    return T.CodeAction(title=f"mllint: Disable {d.code} for this line", kind=T.CodeActionKind.QuickFix,
                        diagnostics=matching,
                        edit=T.WorkspaceEdit(changes={uri: [T.TextEdit(range=ls.range(uri, edit.start, edit.end),
                                                                       new_text=edit.content)]}))


def _add_disable(actions: list[T.CodeAction], action: T.CodeAction | None) -> None:
    """One action per code and line (two ML101 on one line need one comment)."""
    if action is None:
        return
    key = (action.title, [e.range for edits in action.edit.changes.values() for e in edits])
    if all((a.title, [e.range for edits in a.edit.changes.values() for e in edits]) != key for a in actions):
        actions.append(action)


def _contains(r: T.Range, p: T.Position) -> bool:
    return (r.start.line, r.start.character) <= (p.line, p.character) <= (r.end.line, r.end.character)


def _hover_text(d: Diagnostic) -> str:
    from mllint.engine.registry import rule_infos

    info = rule_infos().get(d.code)
    lines = [f"**{d.code}** `{d.name}` ({severity(d.code)})"]
    if info is not None:
        lines += ["", info.summary]
    url = doc_url(d.code)
    if url:
        lines += ["", f"[Documentation for {d.code}]({url})"]
    return "\n".join(lines)


class _FramingReader:
    """stdin for pygls' message loop, resynchronising after a malformed frame header.

    pygls reads header lines until `Content-Length: <digits>` and an empty line. After a header
    whose length is not a number (`Content-Length: abc`) it cannot know where that body ends, so
    the body runs into the next message's header line (`{}Content-Length: 62`), which it never
    recognises again: the server stayed alive and never answered. Here a header line that *ends*
    with a valid `Content-Length` is given to pygls without what precedes it, so the loop picks up
    at the next well-formed message; what was skipped is logged."""

    _HEADER = re.compile(rb"content-length:[ \t]*(\d+)[ \t]*\r?\n$", re.IGNORECASE)

    def __init__(self, stream) -> None:
        self.stream = stream

    def readline(self) -> bytes:
        line = self.stream.readline()
        m = self._HEADER.search(line)
        if m is None:
            if line.lower().startswith(b"content-length:"):
                _log.error("mllint server: malformed frame header %r; waiting for the next message", line[:80])
            return line
        if m.start():
            _log.error("mllint server: skipped %d bytes of malformed input before a message", m.start())
        return b"Content-Length: " + m.group(1) + b"\r\n"

    def read(self, n: int) -> bytes:
        return self.stream.read(n)


_log = logging.getLogger("mllint.lsp")


def build_server() -> MllintServer:
    server = MllintServer("mllint", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental,
                          notebook_document_sync=NOTEBOOK_SYNC)
    server.published = {}

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MllintServer, params: T.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MllintServer, params: T.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: MllintServer, params: T.DidSaveTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MllintServer, params: T.DidCloseTextDocumentParams) -> None:
        ls.published.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def hover(ls: MllintServer, params: T.HoverParams) -> T.Hover | None:
        """On a diagnostic's range: its rule's summary and documentation link."""
        found = [(sent, d) for sent, d in ls.published.get(params.text_document.uri, ())
                 if _contains(sent.range, params.position)]
        if not found:
            return None
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown,
                                                value="\n\n---\n\n".join(_hover_text(d) for _, d in found)),
                       range=found[0][0].range)

    # notebooks: pygls has already updated its copy of the notebook when these run
    @server.feature(T.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: MllintServer, params: T.DidOpenNotebookDocumentParams) -> None:
        ls.publish_notebook(params.notebook_document.uri)

    @server.feature(T.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: MllintServer, params: T.DidChangeNotebookDocumentParams) -> None:
        structure = params.change.cells.structure if params.change.cells else None
        for closed in (structure.did_close or []) if structure else []:  # deleted cells keep no diagnostics
            ls.published.pop(closed.uri, None)
            ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=closed.uri, diagnostics=[]))
        ls.publish_notebook(params.notebook_document.uri)

    @server.feature(T.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: MllintServer, params: T.DidSaveNotebookDocumentParams) -> None:
        ls.publish_notebook(params.notebook_document.uri)

    @server.feature(T.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: MllintServer, params: T.DidCloseNotebookDocumentParams) -> None:
        for cell in params.cell_text_documents:
            ls.published.pop(cell.uri, None)
            ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=cell.uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                    T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix, FIX_ALL, NOTEBOOK_FIX_ALL],
                                        resolve_provider=False))
    def code_action(ls: MllintServer, params: T.CodeActionParams) -> list[T.CodeAction] | None:
        uri = params.text_document.uri
        only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
        notebook = ls.notebook_of(uri)
        if notebook is not None:
            return _notebook_code_actions(ls, notebook, uri, params, only)
        actions: list[T.CodeAction] = []
        result = ls.lint(uri)
        if result is None:
            return None
        if _wanted(T.CodeActionKind.QuickFix.value, only):
            sent = [d for d in params.context.diagnostics if d.source == "mllint"]
            disables = []
            source, kind = ls.workspace.get_text_document(uri).source, ls.document_kind(uri)
            for d in result.diagnostics:
                where = ls.range(uri, d.start, d.end)
                if not _overlaps(where, params.range):
                    continue
                # the editor applies a quick fix as it is: it is offered only if `--fix` would write it
                if _fixable(d) and check_fix(source, list(d.fix.edits), kind)[1] is None:
                    actions.append(_quick_fix(ls, uri, d, where, sent, {uri: ls.edits(uri, d.fix)}))
                _add_disable(disables, _disable_action(ls, uri, d, kind, sent, source))
            actions += disables  # after the fixes: fixing is what the editor should offer first
        if _wanted(FIX_ALL, only):
            fixed = ls.lint(uri, fix=True)
            if fixed is not None and fixed.new_source is not None:
                actions.append(T.CodeAction(
                    title="mllint: fix all safe fixes",
                    kind=FIX_ALL,
                    edit=T.WorkspaceEdit(changes={uri: [ls.whole_document_edit(uri, fixed.new_source)]}),
                ))
        return actions

    return server


def main() -> None:
    import sys

    build_server().start_io(stdin=_FramingReader(sys.stdin.buffer))

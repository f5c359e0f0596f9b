"""`mllint server`: a language server over stdio (pygls).

It lints a document when it is opened, changed and saved, and publishes the diagnostics; it offers
a quick fix for each fixable diagnostic and a "fix all" source action (`source.fixAll.mllint`).
Settings come from the same `[tool.mllint]` table as on the command line: the nearest
pyproject.toml above the document (re-read on every lint, so edits to it apply at once). Files
the configuration excludes get no diagnostics. Python, YAML configs and shell launch scripts are
linted; notebooks are linted from the command line (`mllint train.ipynb`).

Install with `pip install "mllint-training[lsp]"` (pygls).
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as T
from pygls import uris
from pygls.lsp.server import LanguageServer

from mllint import __version__
from mllint.config import ConfigError, ConfigResolver
from mllint.diagnostics import Applicability, Diagnostic, Fix
from mllint.docs import doc_url
from mllint.engine import FileResult, kind_of, lint_text
from mllint.runner import Task, _rules_for

FIX_ALL = f"{T.CodeActionKind.SourceFixAll.value}.mllint"
LANGUAGE_KINDS = {"python": "python", "yaml": "yaml", "shellscript": "shell", "sh": "shell", "bash": "shell"}


def _document_path(uri: str) -> Path:
    fs = uris.to_fs_path(uri) if uri.startswith("file:") else None
    return Path(fs) if fs else Path.cwd() / "untitled.py"


class MllintServer(LanguageServer):
    def lint(self, uri: str, fix: bool = False, unsafe: bool = False) -> FileResult | None:
        doc = self.workspace.get_text_document(uri)
        path = _document_path(uri)
        kind = kind_of(path)
        if kind is None:
            kind = LANGUAGE_KINDS.get(doc.language_id or "")
        if kind is None or kind == "notebook":
            return None
        try:
            settings = ConfigResolver().for_path(path)
        except ConfigError as exc:
            self.window_show_message(T.ShowMessageParams(type=T.MessageType.Error, message=f"mllint: {exc}"))
            return None
        if settings.is_excluded(path):
            return None
        rules = _rules_for(Task(path, str(path), settings))
        result = lint_text(doc.source, str(path), kind, rules, project=settings, fix=fix, unsafe=unsafe)
        for err in result.errors:
            self.window_log_message(T.LogMessageParams(type=T.MessageType.Error, message=f"mllint: {err}"))
        for warning in getattr(result, "warnings", ()):
            self.window_log_message(T.LogMessageParams(type=T.MessageType.Warning, message=f"mllint: {warning}"))
        return result

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
        fixable = d.fix is not None and d.fix.applicability in (Applicability.SAFE, Applicability.UNSAFE)
        return T.Diagnostic(
            range=self.range(uri, d.start, d.end),
            message=d.message,
            severity=T.DiagnosticSeverity.Error if d.code == "ML000" else T.DiagnosticSeverity.Warning,
            code=d.code,
            code_description=T.CodeDescription(href=url) if url else None,
            source="mllint",
            data={"fixable": fixable, "name": d.name},
        )

    def publish(self, uri: str) -> None:
        result = self.lint(uri)
        diagnostics = [self.to_lsp(uri, d) for d in result.diagnostics] if result else []
        doc = self.workspace.get_text_document(uri)
        self.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version))

    def edits(self, uri: str, fix: Fix) -> list[T.TextEdit]:
        return [T.TextEdit(range=self.range(uri, e.start, e.end), new_text=e.content) for e in fix.edits]

    def whole_document_edit(self, uri: str, new_text: str) -> T.TextEdit:
        doc = self.workspace.get_text_document(uri)
        lines = doc.lines
        if not lines:
            end = T.Position(line=0, character=0)
        elif lines[-1].endswith(("\n", "\r")):
            end = T.Position(line=len(lines), character=0)
        else:
            end = doc.position_codec.position_to_client_units(
                lines, T.Position(line=len(lines) - 1, character=len(lines[-1])))
        return T.TextEdit(range=T.Range(start=T.Position(line=0, character=0), end=end), new_text=new_text)


def _overlaps(a: T.Range, b: T.Range) -> bool:
    def key(p: T.Position):
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wanted(kind: str, only: list[str] | None) -> bool:
    return not only or any(kind == k or kind.startswith(k + ".") for k in only)


def build_server() -> MllintServer:
    server = MllintServer("mllint", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)

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
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                    T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False))
    def code_action(ls: MllintServer, params: T.CodeActionParams) -> list[T.CodeAction] | None:
        uri = params.text_document.uri
        only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
        actions: list[T.CodeAction] = []
        result = ls.lint(uri)
        if result is None:
            return None
        if _wanted(T.CodeActionKind.QuickFix.value, only):
            sent = [d for d in params.context.diagnostics if d.source == "mllint"]
            for d in result.diagnostics:
                if d.fix is None or d.fix.applicability not in (Applicability.SAFE, Applicability.UNSAFE):
                    continue
                where = ls.range(uri, d.start, d.end)
                if not _overlaps(where, params.range):
                    continue
                unsafe = d.fix.applicability == Applicability.UNSAFE
                matching = [s for s in sent if s.code == d.code and s.range == where] or [ls.to_lsp(uri, d)]
                actions.append(T.CodeAction(
                    title=f"mllint: {d.fix.message} ({d.code}{', unsafe fix' if unsafe else ''})",
                    kind=T.CodeActionKind.QuickFix,
                    diagnostics=matching,
                    is_preferred=not unsafe,
                    edit=T.WorkspaceEdit(changes={uri: ls.edits(uri, d.fix)}),
                ))
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
    build_server().start_io()

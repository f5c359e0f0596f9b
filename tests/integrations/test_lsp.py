"""`mllint server` driven as an editor drives it: JSON-RPC over the stdio of a real subprocess.

Every wait has a timeout, and the server process is killed at the end whatever happens, so a
broken server fails these tests instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the language server needs the lsp extra")

TIMEOUT = 60  # seconds for any single answer (a cold start imports LibCST and the rules)

BAD = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
       "        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0, neginf=-1.0)\n")
FIXED = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
         "        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float(\"inf\"), neginf=float(\"-inf\"))\n")


class Client:
    def __init__(self, cwd: Path):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "mllint", "server"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        self.pending: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        msg = self.wait(lambda m: m.get("id") == rid and "method" not in m)
        assert "error" not in msg, msg
        return msg.get("result")

    def wait(self, predicate) -> dict:
        for i, msg in enumerate(self.pending):
            if predicate(msg):
                return self.pending.pop(i)
        while True:
            try:
                msg = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no answer from the server within {TIMEOUT}s; stderr: {self.stderr()}")
            if msg is None:
                raise AssertionError(f"the server exited; stderr: {self.stderr()}")
            if "method" in msg and "id" in msg:  # a request from the server (e.g. registerCapability)
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                continue
            if predicate(msg):
                return msg
            self.pending.append(msg)

    def diagnostics(self, uri: str, version: int | None = None) -> list[dict]:
        msg = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                        and m["params"]["uri"] == uri and (version is None or m["params"].get("version") == version))
        return msg["params"]["diagnostics"]

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None)
                self.notify("exit", None)
                self.proc.wait(timeout=TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def apply_edits(text: str, edits: list[dict]) -> str:
    """What an editor does with TextEdits (no astral characters in these tests, so UTF-16 units
    are characters)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos):
        return starts[min(pos["line"], len(lines))] + pos["character"]

    for e in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        text = text[:offset(e["range"]["start"])] + e["newText"] + text[offset(e["range"]["end"]):]
    return text


def is_disable(action: dict) -> bool:
    """The "Disable MLxxx for this line" action (a `# noqa`), as opposed to a rule's fix."""
    return action["title"].startswith("mllint: Disable ")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def started(project: Path, capabilities: dict):
    c = Client(project)
    try:
        init = c.request("initialize", {"processId": os.getpid(), "rootUri": project.as_uri(),
                                        "capabilities": capabilities, "clientInfo": {"name": "mllint-tests"}})
        c.notify("initialized", {})
        c.init = init
        yield c
    finally:
        c.close()


@pytest.fixture
def client(project: Path):
    yield from started(project, {})


@pytest.fixture
def notebook_client(project: Path):
    """A client that syncs notebooks, as VS Code does."""
    yield from started(project, {"notebookDocument": {"synchronization": {"dynamicRegistration": False}}})


def open_doc(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                            "version": version, "text": text}})
    return uri


def test_initialize_advertises_code_actions(client):
    caps = client.init["capabilities"]
    assert client.init["serverInfo"]["name"] == "mllint"
    kinds = caps["codeActionProvider"]["codeActionKinds"]
    assert "quickfix" in kinds and "source.fixAll.mllint" in kinds


def test_diagnostics_quick_fix_and_fix_all(client, project):
    path = project / "train.py"
    path.write_text(BAD)
    uri = open_doc(client, path, BAD)
    diags = client.diagnostics(uri)
    assert [(d["code"], d["range"]["start"]) for d in diags] == [("ML101", {"line": 5, "character": 17})]
    assert diags[0]["source"] == "mllint"
    assert "GradScaler" in diags[0]["message"]

    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diags[0]["range"], "context": {"diagnostics": diags}})
    quick = [a for a in actions if a["kind"] == "quickfix" and not is_disable(a)]
    assert len(quick) == 1 and quick[0]["isPreferred"] is True
    assert [a["title"] for a in actions if is_disable(a)] == ["mllint: Disable ML101 for this line"]
    assert quick[0]["diagnostics"][0]["code"] == "ML101"
    assert apply_edits(BAD, quick[0]["edit"]["changes"][uri]) == FIXED

    fix_all = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": [], "only": ["source.fixAll"]}})
    assert [a["kind"] for a in fix_all] == ["source.fixAll.mllint"]
    assert apply_edits(BAD, fix_all[0]["edit"]["changes"][uri]) == FIXED


def test_change_and_save_republish(client, project):
    path = project / "train.py"
    path.write_text(BAD)
    uri = open_doc(client, path, BAD)
    assert len(client.diagnostics(uri, version=1)) == 1

    # the user applies the fix: an incremental change replacing line 6
    bad_line = BAD.splitlines()[5]
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 5, "character": 0},
                                      "end": {"line": 5, "character": len(bad_line)}},
                            "text": FIXED.splitlines()[5]}]})
    assert client.diagnostics(uri, version=2) == []

    # and back again, then save: diagnostics are published on save too
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                             "contentChanges": [{"text": BAD}]})
    assert len(client.diagnostics(uri, version=3)) == 1
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in client.diagnostics(uri, version=3)] == ["ML101"]


def test_reads_tool_mllint_configuration(client, project):
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nignore = [\"ML101\"]\n")
    path = project / "train.py"
    uri = open_doc(client, path, BAD)
    assert client.diagnostics(uri) == []

    sub = project / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    uri2 = open_doc(client, sub / "train.py", BAD)
    assert [d["code"] for d in client.diagnostics(uri2)] == ["ML101"]


def test_no_code_actions_on_a_clean_range(client, project):
    uri = open_doc(client, project / "clean.py", "x = 1\n")
    assert client.diagnostics(uri) == []
    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                "end": {"line": 0, "character": 5}},
        "context": {"diagnostics": []}})
    assert actions == []


def test_a_broken_configuration_is_shown_not_fatal(client, project):
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nselect = 3\n")
    uri = open_doc(client, project / "train.py", BAD)
    msg = client.wait(lambda m: m.get("method") == "window/showMessage")
    assert msg["params"]["type"] == 1 and "mllint" in msg["params"]["message"]
    assert client.diagnostics(uri) == []
    # the server is still alive once the configuration is fixed
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in client.diagnostics(uri)] == ["ML101"]


def test_unsaved_buffers_and_syntax_errors(client, project):
    uri = "untitled:Untitled-1"
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": BAD}})
    assert [d["code"] for d in client.diagnostics(uri)] == ["ML101"]
    broken = open_doc(client, project / "broken.py", "def f(:\n    pass\n")
    [d] = client.diagnostics(broken)
    assert d["code"] == "ML000" and d["severity"] == 1
    assert d["range"]["start"] == {"line": 0, "character": 6}



def protocol_lines(text: str) -> list[str]:
    """Lines as the LSP defines them (and editors count them): ended by \\n, \\r\\n or \\r only."""
    import re

    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def apply_protocol_edits(text: str, edits: list[dict]) -> str:
    lines = protocol_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos):
        return starts[min(pos["line"], len(lines))] + pos["character"]

    for e in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        new = e["newText"] if "newText" in e else e["text"]  # a TextEdit, or a didChange content change
        text = text[:offset(e["range"]["start"])] + new + text[offset(e["range"]["end"]):]
    return text


# A form feed before code: str.splitlines() (pygls's own line splitting) and LibCST's text of the
# module both disagree with the protocol's rows and columns there (F8 in the reliability report).
FORM_FEED_BAD = BAD.replace("\ndef sanitize", "\f\n\fdef sanitize")


def test_quick_fix_after_a_form_feed_edits_the_right_place(client, project):
    path = project / "ff.py"
    uri = open_doc(client, path, FORM_FEED_BAD)
    [d] = client.diagnostics(uri)
    assert d["range"]["start"] == {"line": 5, "character": 17}
    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}})
    [quick] = [a for a in actions if a["kind"] == "quickfix" and not is_disable(a)]
    fixed = FIXED.replace("\ndef sanitize", "\f\n\fdef sanitize")
    assert apply_protocol_edits(FORM_FEED_BAD, quick["edit"]["changes"][uri]) == fixed


def test_incremental_change_after_a_form_feed_lands_on_the_protocol_row(client, project):
    uri = open_doc(client, project / "ff.py", FORM_FEED_BAD)
    assert len(client.diagnostics(uri, version=1)) == 1
    row = protocol_lines(FORM_FEED_BAD).index("    for p in model.parameters():\n")
    change = {"range": {"start": {"line": row, "character": 0}, "end": {"line": row, "character": 0}},
              "text": "    model.zero_grad()\n"}
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]})
    expected = apply_protocol_edits(FORM_FEED_BAD, [change])
    assert "    model.zero_grad()\n    for p" in expected
    assert [(d["code"], d["range"]["start"]) for d in client.diagnostics(uri, version=2)] == \
        [("ML101", {"line": 6, "character": 17})]

# ---- notebooks (LSP 3.17 notebook sync): the cells are linted together, as on the command line --

def open_notebook(client: Client, path: Path, cells: list[tuple[str, str]]) -> list[str]:
    """Opens a notebook as VS Code does; returns the cells' URIs."""
    uris = [f"vscode-notebook-cell:{path.as_posix()}#W{i}sZmlsZQ%3D%3D" for i in range(len(cells))]
    client.notify("notebookDocument/didOpen", {
        "notebookDocument": {"uri": path.as_uri(), "notebookType": "jupyter-notebook", "version": 1,
                             "cells": [{"kind": 2 if kind == "code" else 1, "document": uri}
                                       for (kind, _), uri in zip(cells, uris)]},
        "cellTextDocuments": [{"uri": uri, "languageId": "python" if kind == "code" else "markdown",
                               "version": 1, "text": text} for (kind, text), uri in zip(cells, uris)]})
    return uris


def code_cell_diagnostics(client: Client, uris: list[str], cells) -> dict[int, list[dict]]:
    """Cell number (1-based) -> diagnostics published for it; every code cell gets a publication."""
    return {n: client.diagnostics(uri) for n, (uri, (kind, _)) in enumerate(zip(uris, cells), start=1)
            if kind == "code"}


def cli_fixed_cells(tmp: Path, cells) -> list[str]:
    """The cell sources `mllint --fix --unsafe-fixes` writes for the same notebook."""
    from .notebooks import notebook_text

    path = tmp / "cli.ipynb"
    path.write_text(notebook_text(colab=False, cells=cells))
    subprocess.run([sys.executable, "-m", "mllint", "--fix", "--unsafe-fixes", "--no-cache", str(path)],
                   cwd=tmp, capture_output=True, check=False)
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def test_initialize_advertises_notebook_sync(notebook_client):
    sync = notebook_client.init["capabilities"]["notebookDocumentSync"]
    assert sync["notebookSelector"] == [{"notebook": "*", "cells": [{"language": "python"}]}]
    kinds = notebook_client.init["capabilities"]["codeActionProvider"]["codeActionKinds"]
    assert "notebook.source.fixAll.mllint" in kinds


def test_notebook_cells_are_linted_as_one_module(notebook_client, project):
    from .notebooks import CELLS, FIXED_CELL_5

    uris = open_notebook(notebook_client, project / "train.ipynb", CELLS)
    published = code_cell_diagnostics(notebook_client, uris, CELLS)
    # `torch` is imported in cell 3 and used in cell 5; the magics of cells 2, 4, 6 and 8 parse
    assert {n: [d["code"] for d in ds] for n, ds in published.items()} == {2: [], 3: [], 4: [], 5: ["ML101"],
                                                                           6: [], 8: []}
    [d] = published[5]
    assert d["range"]["start"] == {"line": 9, "character": 25}

    actions = notebook_client.request("textDocument/codeAction", {
        "textDocument": {"uri": uris[4]}, "range": d["range"], "context": {"diagnostics": [d]}})
    [quick] = [a for a in actions if a["kind"] == "quickfix" and not is_disable(a)]
    assert list(quick["edit"]["changes"]) == [uris[4]]
    assert apply_edits(CELLS[4][1], quick["edit"]["changes"][uris[4]]) == FIXED_CELL_5
    # the edit replaces what changes, not the whole cell
    [edit] = quick["edit"]["changes"][uris[4]]
    assert edit["range"]["start"]["line"] == 9
    # "Disable ML101 for this line" comments the cell's own line
    [disable] = [a for a in actions if is_disable(a)]
    assert apply_edits(CELLS[4][1], disable["edit"]["changes"][uris[4]]).splitlines()[9].endswith("  # noqa: ML101")

    for only in (["source.fixAll"], ["notebook.source.fixAll"]):
        [fix_all] = notebook_client.request("textDocument/codeAction", {
            "textDocument": {"uri": uris[0]}, "range": {"start": {"line": 0, "character": 0},
                                                        "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": [], "only": only}})
        assert fix_all["kind"] == only[0] + ".mllint"
        assert apply_edits(CELLS[4][1], fix_all["edit"]["changes"][uris[4]]) == FIXED_CELL_5


def test_a_fix_edits_every_cell_it_changes_like_the_command_line(notebook_client, project, tmp_path):
    # the seed's MARL notebook: ML201's helper goes after the imports in cell 3, its use in cell 4
    from .notebooks import MARL_CELLS

    uris = open_notebook(notebook_client, project / "marl.ipynb", MARL_CELLS)
    published = code_cell_diagnostics(notebook_client, uris, MARL_CELLS)
    ml201 = [d for d in published[4] if d["code"] == "ML201"]
    assert ml201 and published[3] == []

    actions = notebook_client.request("textDocument/codeAction", {
        "textDocument": {"uri": uris[3]}, "range": ml201[0]["range"], "context": {"diagnostics": ml201}})
    [quick] = [a for a in actions if a["kind"] == "quickfix" and "ML201" in a["title"] and not is_disable(a)]
    assert set(quick["edit"]["changes"]) == {uris[2], uris[3]}
    expected = cli_fixed_cells(tmp_path, MARL_CELLS)
    after = [apply_edits(text, quick["edit"]["changes"].get(uri, [])) for (_, text), uri in zip(MARL_CELLS, uris)]
    assert after[2] == expected[2]  # the helper, placed as `mllint --fix` places it
    assert "_MllintRunningNorm" in after[2] and "returns_norm(returns)" in after[3]


def test_notebook_changes_republish_and_close_clears(notebook_client, project):
    from .notebooks import CELLS, FIXED_CELL_5

    nb = project / "train.ipynb"
    uris = open_notebook(notebook_client, nb, CELLS)
    assert [d["code"] for d in code_cell_diagnostics(notebook_client, uris, CELLS)[5]] == ["ML101"]

    def change(version: int, cells: dict) -> None:
        notebook_client.notify("notebookDocument/didChange", {
            "notebookDocument": {"uri": nb.as_uri(), "version": version},
            "change": {"cells": cells}})

    # the user fixes cell 5 by hand
    change(2, {"textContent": [{"document": {"uri": uris[4], "version": 2},
                                "changes": [{"text": FIXED_CELL_5}]}]})
    assert notebook_client.diagnostics(uris[4], version=2) == []

    # a new cell calls `ntn`, which nothing defines yet
    new_uri = f"vscode-notebook-cell:{nb.as_posix()}#new"
    change(3, {"structure": {"array": {"start": len(CELLS), "deleteCount": 0,
                                       "cells": [{"kind": 2, "document": new_uri}]},
                             "didOpen": [{"uri": new_uri, "languageId": "python", "version": 1,
                                          "text": "p.grad = ntn(p.grad)\n"}]}})
    assert notebook_client.diagnostics(new_uri) == []
    # cell 3 imports it from torch: the new cell's call is now torch.nan_to_num
    change(4, {"textContent": [{"document": {"uri": uris[2], "version": 2},
                                "changes": [{"text": CELLS[2][1] + "\nfrom torch import nan_to_num as ntn"}]}]})
    assert [d["code"] for d in notebook_client.diagnostics(new_uri)] == ["ML101"]

    notebook_client.notify("notebookDocument/didClose", {
        "notebookDocument": {"uri": nb.as_uri()}, "cellTextDocuments": [{"uri": u} for u in uris + [new_uri]]})
    assert notebook_client.diagnostics(new_uri) == []


# ---- severities, documentation links, hovers, "Disable MLxxx for this line" ----------------------

def test_severity_model_and_documentation_links(client, project):
    from mllint.frontends.docs import DOCS_URL

    text = BAD + "x = 1  # noqa: ML103\n"
    uri = open_doc(client, project / "train.py", text)
    diags = {d["code"]: d for d in client.diagnostics(uri)}
    assert set(diags) == {"ML101", "ML001"}
    # the same model as the command line's: a finding is an error, an unused suppression a warning
    assert (diags["ML101"]["severity"], diags["ML001"]["severity"]) == (1, 2)
    assert diags["ML101"]["codeDescription"]["href"] == DOCS_URL + "ML101-nan-to-num-masks-overflow.md"


def test_hover_on_a_diagnostic_shows_the_rule(client, project):
    from mllint.frontends.docs import DOCS_URL
    from mllint.run.rules import all_rules

    uri = open_doc(client, project / "train.py", BAD)
    [d] = client.diagnostics(uri)
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": d["range"]["start"]})
    value = hover["contents"]["value"]
    assert hover["contents"]["kind"] == "markdown"
    assert value.startswith("**ML101** `nan-to-num-masks-overflow`")
    assert all_rules()["ML101"].summary in value
    assert f"({DOCS_URL}ML101-nan-to-num-masks-overflow.md)" in value
    assert client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                 "position": {"line": 0, "character": 0}}) is None


def disable_actions(client: Client, uri: str, diag: dict) -> list[dict]:
    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diag["range"], "context": {"diagnostics": [diag]}})
    return [a for a in actions if is_disable(a)]


def test_disable_for_this_line_in_python(client, project):
    text = BAD.replace("neginf=-1.0)\n", "neginf=-1.0)  # noqa: ML103\n")
    uri = open_doc(client, project / "train.py", text)
    ml101 = [d for d in client.diagnostics(uri) if d["code"] == "ML101"]
    [action] = disable_actions(client, uri, ml101[0])
    assert action["title"] == "mllint: Disable ML101 for this line" and action["kind"] == "quickfix"
    new = apply_edits(text, action["edit"]["changes"][uri])
    assert new.splitlines()[5].endswith("neginf=-1.0)  # noqa: ML101, ML103")  # ML103 is kept
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": new}]})
    assert "ML101" not in [d["code"] for d in client.diagnostics(uri, version=2)]


def hydra_project(project: Path, env: str = "cartpole") -> None:
    """An app whose config selects `env` (only `cartpole` exists: another is ML503)."""
    (project / "conf" / "env").mkdir(parents=True)
    (project / "conf" / "env" / "cartpole.yaml").write_text("name: cartpole\n")
    (project / "conf" / "config.yaml").write_text(f"defaults:\n  - env: {env}\n  - _self_\nlr: 0.1\n")
    (project / "train.py").write_text('import hydra\n\n\n@hydra.main(config_path="conf", config_name="config", '
                                      'version_base=None)\ndef main(cfg):\n    print(cfg)\n')


@pytest.mark.parametrize("name, language, text, code, fixed_line", [
    ("conf/config.yaml", "yaml", "defaults:\n  - env: walker\n  - _self_\nlr: 0.1\n", "ML503",
     "  - env: walker  # noqa: ML503"),
    ("run.sh", "shellscript", "python train.py \\\n  lr=0.2 \\\n  foo=1\n", "ML502", "  foo=1  # noqa: ML502"),
])
def test_disable_for_this_line_in_yaml_and_shell(client, project, name, language, text, code, fixed_line):
    hydra_project(project)
    path = project / name
    path.write_text(text)
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                            "text": text}})
    [diag] = [d for d in client.diagnostics(uri) if d["code"] == code]
    [action] = disable_actions(client, uri, diag)
    new = apply_edits(text, action["edit"]["changes"][uri])
    assert fixed_line in new.splitlines()
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": new}]})
    assert client.diagnostics(uri, version=2) == []


# ---- reliability: the server stays correct and responsive while it lives -------------------------

def test_server_sees_a_hydra_app_written_after_the_config_was_opened(client, project):
    """F18: the index of the project's .py files (Hydra apps) is not kept for the server's life."""
    hydra_project(project, env="walker")
    app = (project / "train.py").read_text()
    (project / "train.py").unlink()
    config = project / "conf" / "config.yaml"
    uri = config.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                            "text": config.read_text()}})
    assert client.diagnostics(uri) == []  # no app yet: nothing to check the config against
    (project / "train.py").write_text(app)
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in client.diagnostics(uri)] == ["ML503"]


@pytest.mark.parametrize("garbage", [b"Content-Length: abc\r\n\r\n{}", b"Content-Length: -5\r\n\r\n{\n}\n",
                                     b"junk without a header\r\n\r\n"])
def test_server_answers_after_a_malformed_frame(client, project, garbage):
    """F19: one malformed frame does not leave the server deaf (the editor would hang on it)."""
    client.proc.stdin.write(garbage)
    client.proc.stdin.flush()
    uri = open_doc(client, project / "train.py", BAD)
    assert [d["code"] for d in client.diagnostics(uri)] == ["ML101"]
    assert client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                 "position": {"line": 0, "character": 0}}) is None

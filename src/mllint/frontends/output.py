"""Output formats. Text is for people; JSON uses Ruff's field names so tools that read Ruff's
JSON read ours; `github` (workflow commands), `sarif` (SARIF 2.1.0) and `junit` (XML test
reports) are for CI systems."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

from mllint.diagnostics import Applicability, Diagnostic
from mllint.frontends.docs import doc_url

# ---- severity: one model for every output (text summary, JSON, SARIF, GitHub, JUnit, LSP) ------
# A finding is an error (it makes training fail silently, or the file could not be checked);
# a stale suppression (ML001) and a preview rule's finding are warnings. Both make the exit code
# 1, as in Ruff: the severity says how sure and how urgent, not whether CI fails.
ERROR, WARNING = "error", "warning"
WARNING_CODES = frozenset({"ML001"})


def severity(code: str) -> str:
    if code in WARNING_CODES:
        return WARNING
    from mllint.engine.registry import rule_infos  # the generated manifest: no rule is imported

    info = rule_infos().get(code)
    return WARNING if info is not None and info.stability == "preview" else ERROR


# ---- one-line text: a message or a path must not break the line-per-diagnostic formats --------
# C0 controls but tab, DEL and C1 controls, and the characters some readers take as line breaks.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape_char(m: re.Match) -> str:
    ch = m.group(0)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters written as escapes (`\\n`, `\\x1b`),
    so that a quoted argument or an odd file name cannot split or recolour a report line."""
    return _UNPRINTABLE.sub(_escape_char, text)


def _where(d: Diagnostic) -> str:
    if d.cell is not None:
        return f"{one_line(d.path)}:cell {d.cell}:{d.start.row}:{d.start.column}"
    return f"{one_line(d.path)}:{d.start.row}:{d.start.column}"


def fixable(d: Diagnostic, unsafe: bool) -> bool:
    if d.fix is None:
        return False
    return d.fix.applicability == Applicability.SAFE or (unsafe and d.fix.applicability == Applicability.UNSAFE)


def format_text(diags: list[Diagnostic], *, unsafe: bool, fixed: int, fix_mode: bool, show_summary: bool = True,
                errors: int = 0) -> str:
    lines = format_lines(diags, unsafe)
    if show_summary:
        lines += format_summary(diags, unsafe=unsafe, fixed=fixed, fix_mode=fix_mode, errors=errors)
    return "\n".join(lines)


def format_lines(diags: list[Diagnostic], unsafe: bool) -> list[str]:
    return [f"{_where(d)}: {d.code}{' [*]' if fixable(d, unsafe) else ''} {one_line(d.message)}" for d in diags]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _found(diags: list[Diagnostic]) -> str:
    """"2 errors", or with warnings "2 errors and 1 warning" (see `severity`)."""
    warnings = sum(1 for d in diags if severity(d.code) == WARNING)
    if not warnings:
        return _count(len(diags), "error")
    return f"{_count(len(diags) - warnings, 'error')} and {_count(warnings, 'warning')}"


def format_summary(diags: list[Diagnostic], *, unsafe: bool, fixed: int, fix_mode: bool, errors: int = 0) -> list[str]:
    """The closing lines. `errors`: how many problems kept the run from checking everything (internal
    errors, unreadable paths, refused fixes): then the run did not pass, whatever was found."""
    lines: list[str] = []
    n = len(diags)
    incomplete = ([f"Not every check ran: {_count(errors, 'error')} reported above (exit code 2)."]
                  if errors else [])
    if n == 0 and fixed == 0:
        return incomplete or ["All checks passed!"]
    if fixed:
        lines.append(f"Found {_count(n + fixed, 'error')} ({fixed} fixed, {n} remaining"
                     + (f": {_found(diags)}" if n and _found(diags) != _count(n, 'error') else "") + ").")
    else:
        lines.append(f"Found {_found(diags)}.")
    safe = sum(1 for d in diags if d.fix is not None and d.fix.applicability == Applicability.SAFE)
    hidden = sum(1 for d in diags if d.fix is not None and d.fix.applicability == Applicability.UNSAFE)
    if not fix_mode and (safe or (unsafe and hidden)):
        shown = safe + (hidden if unsafe else 0)
        option = "`--fix --unsafe-fixes`" if unsafe and hidden else "`--fix`"
        lines.append(f"[*] {shown} fixable with the {option} option" +
                     (f" ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the "
                      "`--unsafe-fixes` option)." if hidden and not unsafe else "."))
    elif hidden and not unsafe:
        lines.append(f"No fixes available ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with "
                     "the `--unsafe-fixes` option).")
    return lines + incomplete


def diagnostic_json(d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [
                {"content": e.content,
                 "location": {"row": e.start.row, "column": e.start.column},
                 "end_location": {"row": e.end.row, "column": e.end.column},
                 **({"cell": e.cell} if e.cell is not None else {})}  # notebooks: the cell it counts in
                for e in d.fix.edits
            ],
        }
    return {
        "cell": d.cell,
        "code": d.code,
        "name": d.name,
        "filename": d.path,
        "location": {"row": d.start.row, "column": d.start.column},
        "end_location": {"row": d.end.row, "column": d.end.column},
        "message": d.message,
        "fix": fix,
        "noqa_row": d.noqa_row,
        "url": doc_url(d.code),
        "severity": severity(d.code),
    }


def format_json(diags: list[Diagnostic]) -> str:
    return json.dumps([diagnostic_json(d) for d in diags], indent=2)


def format_statistics(diags: list[Diagnostic], unsafe: bool) -> str:
    counts = Counter((d.code, d.name) for d in diags)
    fixables = Counter(d.code for d in diags if fixable(d, unsafe))
    width = max((len(str(c)) for c in counts.values()), default=1)
    lines = []
    for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "[*]" if fixables[code] == count else "[-]" if fixables[code] else "   "
        lines.append(f"{count:>{width}}\t{code}\t{mark} {name}")
    return "\n".join(lines)


def statistics_json(diags: list[Diagnostic], unsafe: bool) -> str:
    counts = Counter((d.code, d.name) for d in diags)
    fixables = Counter(d.code for d in diags if fixable(d, unsafe))
    rows = [{"code": code, "name": name, "count": count, "fixable": fixables[code]}
            for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return json.dumps(rows, indent=2)


# ---- locations in the file itself (notebooks: the line of the .ipynb JSON) ---------------------

def file_region(d: Diagnostic) -> tuple[int, int, int, int]:
    """(line, column, end line, end column) in the file as stored. For a notebook cell these point
    into the .ipynb file, at the JSON string holding that source line, so annotations land on the
    right line of the file's diff."""
    if d.cell is None:
        return d.start.row, d.start.column, d.end.row, d.end.column
    from mllint.formats.notebook import file_location

    start = file_location(d.path, d.cell, d.start.row, d.start.column)
    end = file_location(d.path, d.cell, d.end.row, d.end.column)
    if start is None:
        return 1, 1, 1, 1
    if end is None or end < start:
        end = start
    return (*start, *end)


def _cell_prefix(d: Diagnostic) -> str:
    return f"cell {d.cell}:{d.start.row}:{d.start.column}: " if d.cell is not None else ""


# ---- GitHub Actions workflow commands -----------------------------------------------------------

def _gh_data(text: str) -> str:
    # line breaks are GitHub's own escapes; other controls (ESC would colour the job's log) as in text
    return one_line(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(diags: list[Diagnostic]) -> str:
    """One `::error` (or `::warning`, see `severity`) workflow command per diagnostic: GitHub shows
    them inline on pull requests."""
    lines = []
    for d in diags:
        row, col, end_row, end_col = file_region(d)
        props = (f"file={_gh_property(d.path)},line={row},col={col},endLine={end_row},endColumn={end_col},"
                 f"title={_gh_property(d.code)}")
        lines.append(f"::{severity(d.code)} {props}::{_gh_data(_cell_prefix(d) + d.message)}")
    return "\n".join(lines)


# ---- SARIF 2.1.0 ----------------------------------------------------------------------------------

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _doc_section(text: str, title: str) -> str | None:
    lines = text.splitlines()
    try:
        start = lines.index(f"## {title}") + 1
    except ValueError:
        return None
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = " ".join(line.strip() for line in lines[start:end] if line.strip())
    return body or None


def _rule_descriptor(cls) -> dict:
    from mllint.frontends.docs import doc_text

    page = doc_text(cls.code)
    level = severity(cls.code)
    rule = {
        "id": cls.code,
        "name": cls.name,
        "shortDescription": {"text": cls.summary},
        "fullDescription": {"text": (page and _doc_section(page, "What it does")) or cls.summary},
        "help": {"text": page or cls.summary, "markdown": page or cls.summary},
        "defaultConfiguration": {"level": level},
        "properties": {"stability": cls.stability, "fix": cls.fix_applicability.value},
    }
    url = doc_url(cls.code)
    if url and url.startswith(("http://", "https://")):
        rule["helpUri"] = url
    return rule


def _artifact(path: str) -> dict:
    from pathlib import Path, PurePath
    from urllib.parse import quote

    p = PurePath(path)
    if p.is_absolute():
        return {"uri": Path(path).as_uri()}
    # the name's bytes, percent-encoded (as as_uri does): exact even for a name that is not UTF-8
    return {"uri": quote(os.fsencode(p.as_posix())), "uriBaseId": "%SRCROOT%"}


def _cwd_uri() -> str | None:
    from pathlib import Path

    try:
        return Path.cwd().as_uri() + "/"
    except OSError:  # the working directory was deleted
        return None


def _region(row: int, col: int, end_row: int, end_col: int) -> dict:
    region = {"startLine": row, "startColumn": col}
    if (end_row, end_col) >= (row, col):
        region.update(endLine=end_row, endColumn=end_col)
    return region


def format_sarif(diags: list[Diagnostic], *, unsafe: bool = False) -> str:
    """SARIF 2.1.0: every rule's metadata, one result per diagnostic, with its fix as replacements
    in the file as stored (for a notebook: one replacement in the .ipynb's JSON text, which writes
    the changed cells' sources as `--fix` does)."""

    from mllint import __version__
    from mllint.run.rules import all_rules

    rules = all_rules()
    index = {code: i for i, code in enumerate(rules)}
    results = []
    for d in diags:
        row, col, end_row, end_col = file_region(d)
        result = {
            "ruleId": d.code,
            "level": severity(d.code),
            "message": {"text": _cell_prefix(d) + d.message},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(d.path),
                                                "region": _region(row, col, end_row, end_col)}}],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        props = {}
        if d.cell is not None:
            props.update(cell=d.cell, cellLine=d.start.row, cellColumn=d.start.column)
        if d.fix is not None:
            props["fixApplicability"] = d.fix.applicability.value
            replacements = None
            if d.cell is None and d.fix.edits:
                replacements = [{"deletedRegion": _region(e.start.row, e.start.column, e.end.row, e.end.column),
                                 "insertedContent": {"text": e.content}} for e in d.fix.edits]
            elif d.fix.edits:  # a notebook: the edits as one replacement in the .ipynb's JSON text
                from mllint.formats.notebook import file_replacement

                found = file_replacement(d.path, d.fix.edits)
                if found is not None:
                    replacements = [{"deletedRegion": _region(*found[0]), "insertedContent": {"text": found[1]}}]
            if replacements:
                result["fixes"] = [{
                    "description": {"text": d.fix.message},
                    "artifactChanges": [{"artifactLocation": _artifact(d.path), "replacements": replacements}],
                }]
        if props:
            result["properties"] = props
        results.append(result)
    run = {
        "tool": {"driver": {"name": "mllint", "version": __version__, "semanticVersion": __version__,
                            "rules": [_rule_descriptor(cls) for cls in rules.values()]}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": _cwd_uri()}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if run["originalUriBaseIds"]["%SRCROOT%"]["uri"] is None:  # only absolute paths can have been named
        del run["originalUriBaseIds"]
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


# ---- JUnit XML ------------------------------------------------------------------------------------

# XML 1.0 forbids these characters even escaped (a quoted source string or a file name can hold
# them): they are written as `\\x01` escapes instead, so the report always parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(_escape_char, text)


def format_junit(diags: list[Diagnostic], files: list[str] | None = None) -> str:
    """One test suite per file; a file's diagnostics are its failed test cases (the failure's
    message starts with the severity), and a checked file without any is one passing test case."""
    import xml.etree.ElementTree as ET

    by_file: dict[str, list[Diagnostic]] = {}
    for path in files or []:
        by_file.setdefault(_xml(path), [])
    for d in diags:
        by_file.setdefault(_xml(d.path), []).append(d)
    root = ET.Element("testsuites", name="mllint", tests=str(sum(max(1, len(v)) for v in by_file.values())),
                      failures=str(len(diags)), errors="0")
    for path, found in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(max(1, len(found))),
                              failures=str(len(found)), errors="0", skipped="0")
        if not found:
            ET.SubElement(suite, "testcase", name="mllint", classname=path)
            continue
        for d in found:
            case = ET.SubElement(suite, "testcase", name=f"{d.code} {d.name}",
                                 classname=path, file=path, line=str(d.start.row))
            failure = ET.SubElement(case, "failure", message=_xml(f"{severity(d.code)}: {d.message}"), type=d.code)
            failure.text = _xml(f"{_where(d)}: {d.code} {d.message}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


FORMATTERS = {"text", "json", "github", "sarif", "junit"}

"""Output formats. Text is for people; JSON uses Ruff's field names so tools that read Ruff's
JSON read ours."""

from __future__ import annotations

import json
from collections import Counter

from mllint.diagnostics import Applicability, Diagnostic
from mllint.docs import doc_url


def _where(d: Diagnostic) -> str:
    if d.cell is not None:
        return f"{d.path}:cell {d.cell}:{d.start.row}:{d.start.column}"
    return f"{d.path}:{d.start.row}:{d.start.column}"


def fixable(d: Diagnostic, unsafe: bool) -> bool:
    if d.fix is None:
        return False
    return d.fix.applicability == Applicability.SAFE or (unsafe and d.fix.applicability == Applicability.UNSAFE)


def format_text(diags: list[Diagnostic], *, unsafe: bool, fixed: int, fix_mode: bool, show_summary: bool = True) -> str:
    lines = []
    for d in diags:
        mark = " [*]" if fixable(d, unsafe) else ""
        lines.append(f"{_where(d)}: {d.code}{mark} {d.message}")
    if not show_summary:
        return "\n".join(lines)
    n = len(diags)
    if n == 0 and fixed == 0:
        lines.append("All checks passed!")
        return "\n".join(lines)
    if fixed:
        lines.append(f"Found {n + fixed} error{'s' if n + fixed != 1 else ''} ({fixed} fixed, {n} remaining).")
    else:
        lines.append(f"Found {n} error{'s' if n != 1 else ''}.")
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
    return "\n".join(lines)


def diagnostic_json(d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [
                {"content": e.content,
                 "location": {"row": e.start.row, "column": e.start.column},
                 "end_location": {"row": e.end.row, "column": e.end.column}}
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


FORMATTERS = {"text", "json"}

"""A persistent lint cache in `.mllint_cache/` beside the project's pyproject.toml.

An entry is keyed by the file's content, its kind, mllint's version and code and the effective settings
(enabled rules, options, per-file ignores); it holds the diagnostics. Entries are written
atomically (temporary file + rename), so two runs sharing the cache at once are safe: the worst
case is that both compute the same entry. Results that involve cross-file rules (which also read
other files, e.g. Hydra configs) are also keyed by the names, sizes and times of the project's files.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Callable

from mllint import __version__
from mllint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location

try:  # what hashlib.blake2b is, without loading OpenSSL (a tenth of a warm run) for hashlib's sake
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without CPython's _blake2
    from hashlib import blake2b


def _hash(data: bytes = b""):
    return blake2b(data, digest_size=32)  # 64 hex digits, as file names


CACHE_DIR = ".mllint_cache"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by mllint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


_CODE: str | None = None


def code_fingerprint() -> str:
    """mllint's own sources (names, sizes, modification times): an edited rule in a development
    install must not be answered from entries that the old code wrote."""
    global _CODE
    if _CODE is None:
        _CODE = tree_fingerprint(os.path.dirname(os.path.abspath(__file__)))
    return _CODE


def tree_fingerprint(top: str) -> str:
    """The relative names, sizes and modification times of the .py files under `top` (one
    scandir per directory: its entries carry what a stat per file would)."""
    lines = []

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".py") and entry.is_file():
                    st = entry.stat()
                    lines.append(f"{prefix}{entry.name}:{st.st_size}:{st.st_mtime_ns}\n")
                elif entry.is_dir() and not entry.is_symlink():
                    walk(entry.path, f"{prefix}{entry.name}/")

    walk(top, "")
    return _hash("".join(sorted(lines)).encode()).hexdigest()


def key(data: bytes, path_display: str, kind: str, settings_fingerprint: str) -> str:
    h = _key_prefix(kind, settings_fingerprint).copy()
    h.update(path_display.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _key_prefix(kind: str, settings_fingerprint: str):
    """The hash state after what all files of a kind and settings share (hashed once per run)."""
    h = _hash()
    for part in (__version__, code_fingerprint(), kind, settings_fingerprint):
        h.update(part.encode())
        h.update(b"\0")
    return h


def _entry(root: Path, digest: str) -> str:
    return os.path.join(root, CACHE_DIR, __version__, digest[:2], f"{digest}.json")


def load(root: Path, digest: str, project_fingerprint: Callable[[], str]) -> list[Diagnostic] | None:
    """The entry's diagnostics; None if there is none, or if the entry was written for a project
    state (cross-file rules' results) that `project_fingerprint()` says has changed."""
    try:
        with open(_entry(root, digest), encoding="utf-8") as fh:
            raw = json.load(fh)
        if raw["project"] is not None and raw["project"] != project_fingerprint():
            return None
        return [_decode(d) for d in raw["diagnostics"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(root: Path, digest: str, diagnostics: list[Diagnostic], project: str | None = None) -> None:
    """Best effort: a cache that cannot be written (read-only checkout) is simply not used.
    `project`: the project's fingerprint, for results that depend on other files too."""
    import tempfile

    path = Path(_entry(root, digest))
    try:
        base = root / CACHE_DIR
        if not base.is_dir():
            base.mkdir(parents=True, exist_ok=True)
            (base / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)
            (base / ".gitignore").write_text("# Automatically created by mllint.\n*\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"project": project, "diagnostics": [_encode(d) for d in diagnostics]}, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def _loc(loc: Location) -> list[int]:
    return [loc.row, loc.column]


def _encode(d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {"a": d.fix.applicability.value, "m": d.fix.message,
               "e": [[_loc(e.start), _loc(e.end), e.content] for e in d.fix.edits]}
    return {"c": d.code, "n": d.name, "m": d.message, "p": d.path, "s": _loc(d.start), "e": _loc(d.end),
            "f": fix, "cell": d.cell, "q": d.noqa_row}


def _decode(raw: dict) -> Diagnostic:
    fix = None
    if raw["f"] is not None:
        f = raw["f"]
        fix = Fix(Applicability(f["a"]), f["m"],
                  tuple(Edit(Location(*s), Location(*e), c) for s, e, c in f["e"]))
    return Diagnostic(code=raw["c"], name=raw["n"], message=raw["m"], path=raw["p"], start=Location(*raw["s"]),
                      end=Location(*raw["e"]), fix=fix, cell=raw["cell"], noqa_row=raw["q"])


def project_fingerprint(root: Path, excluded) -> str:
    """Names, sizes and modification times of the files cross-file rules may read under `root`
    (Python, YAML and shell files): their cached results stay valid while none of these changes."""
    h = _hash()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not excluded(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name.endswith((".py", ".yaml", ".yml", ".sh", ".bash")):
                file = os.path.join(dirpath, name)
                try:
                    st = os.stat(file)
                except OSError:
                    continue
                h.update(f"{file}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def clear(root: Path) -> None:
    import shutil

    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)

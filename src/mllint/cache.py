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
from mllint.fingerprint import CACHE_DIR, code_fingerprint, new_hash

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by mllint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def key(content: str, path_display: str, kind: str, settings_fingerprint: str) -> str:
    """An entry's name, from the file's content digest (`fingerprint.content_digest`), name, kind
    and settings."""
    h = _key_prefix(kind, settings_fingerprint).copy()
    h.update(path_display.encode())
    h.update(b"\0")
    h.update(content.encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _key_prefix(kind: str, settings_fingerprint: str):
    """The hash state after what all files of a kind and settings share (hashed once per run)."""
    h = new_hash()
    for part in (code_fingerprint(), kind, settings_fingerprint):
        h.update(part.encode())
        h.update(b"\0")
    return h


def _entry(root: Path, digest: str) -> str:
    return os.path.join(root, CACHE_DIR, __version__, digest[:2], f"{digest}.json")


# Entries read in bulk, by key: a previous run's record (mllint.replay) holds one per file it linted.
_preloaded: dict[str, dict] = {}


def preload(entries: dict[str, dict]) -> None:
    _preloaded.clear()
    _preloaded.update(entries)


def load(root: Path, digest: str,
         project_fingerprint: Callable[[], str]) -> tuple[list[Diagnostic], str | None] | None:
    """The entry's diagnostics and the project fingerprint they hold (cross-file rules' results, else
    None); None if there is no entry, or if `project_fingerprint()` says the project has changed."""
    try:
        raw = _preloaded.get(digest)
        if not isinstance(raw, dict):
            with open(_entry(root, digest), encoding="utf-8") as fh:
                raw = json.load(fh)
        if raw["project"] is not None and raw["project"] != project_fingerprint():
            return None
        return [_decode(d) for d in raw["diagnostics"]], raw["project"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(root: Path, digest: str, diagnostics: list[Diagnostic], project: str | None = None) -> None:
    """Best effort: a cache that cannot be written (read-only checkout) is simply not used.
    `project`: the project's fingerprint, for results that depend on other files too."""
    write_json(root, _entry(root, digest), entry(diagnostics, project))


def entry(diagnostics: list[Diagnostic], project: str | None) -> dict:
    return {"project": project, "diagnostics": [_encode(d) for d in diagnostics]}


def write_json(root: Path, path: str, value) -> bool:
    """Write a cache file atomically (temporary file + rename), creating the tagged cache directory
    under `root` first; best effort: False if it cannot be written."""
    import tempfile

    try:
        base = Path(root) / CACHE_DIR
        if not base.is_dir():
            base.mkdir(parents=True, exist_ok=True)
            (base / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)
            (base / ".gitignore").write_text("# Automatically created by mllint.\n*\n")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(value))  # dumps: the C encoder (dump encodes in Python, chunk by chunk)
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def _loc(loc: Location) -> list[int]:
    return [loc.row, loc.column]


def _encode(d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {"a": d.fix.applicability.value, "m": d.fix.message,
               "e": [[_loc(e.start), _loc(e.end), e.content] + ([e.cell] if e.cell is not None else [])
                     for e in d.fix.edits]}
    return {"c": d.code, "n": d.name, "m": d.message, "p": d.path, "s": _loc(d.start), "e": _loc(d.end),
            "f": fix, "cell": d.cell, "q": d.noqa_row}


def _decode(raw: dict) -> Diagnostic:
    fix = None
    if raw["f"] is not None:
        f = raw["f"]
        fix = Fix(Applicability(f["a"]), f["m"],
                  tuple(Edit(Location(*s), Location(*e), c, *cell) for s, e, c, *cell in f["e"]))
    return Diagnostic(code=raw["c"], name=raw["n"], message=raw["m"], path=raw["p"], start=Location(*raw["s"]),
                      end=Location(*raw["e"]), fix=fix, cell=raw["cell"], noqa_row=raw["q"])


def project_fingerprint(root: Path, excluded, inputs=None) -> str:
    """Names, sizes and modification times of the files cross-file rules may read under `root`
    (Python, YAML and shell files): their cached results stay valid while none of these changes.
    `inputs` (a `replay.RunInputs`) is told each directory's entries and each file's state."""
    from mllint.ignore import skipped_directory

    h = new_hash()
    for dirpath, dirnames, filenames in os.walk(root):
        if inputs is not None:
            inputs.directory(dirpath, dirnames + filenames)
        if dirpath != str(root) and skipped_directory(dirnames, filenames, dirpath):
            dirnames[:] = []  # a virtual environment or a Hydra run: no rule reads it
            continue
        dirnames[:] = sorted(d for d in dirnames if not excluded(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name.endswith((".py", ".yaml", ".yml", ".sh", ".bash")):
                file = os.path.join(dirpath, name)
                try:
                    st = os.stat(file)
                except OSError:
                    continue
                if inputs is not None:
                    inputs.stat(file, st.st_size, st.st_mtime_ns)
                h.update(f"{file}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def clear(root: Path) -> None:
    import shutil

    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)

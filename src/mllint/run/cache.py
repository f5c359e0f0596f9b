"""A persistent lint cache in `.mllint_cache/` beside the project's pyproject.toml.

An entry is keyed by the file's content, its name and real location, its kind, mllint's version and
code, the versions of the libraries that shape results, and the effective settings (enabled rules,
options, per-file ignores); it holds the diagnostics. Entries are written atomically (temporary file
+ rename), so two runs sharing the cache at once are safe: the worst case is that both compute the
same entry. Results that involve cross-file rules (which also read other files, e.g. Hydra configs)
hold what those rules read (mllint.engine.reads) and count only while all of it is unchanged. Nothing is
read, written or deleted through a symlink in the cache path (mllint.run.cachefs).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from mllint import __version__
from mllint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from mllint.engine import reads
from mllint.fingerprint import CACHE_DIR, new_hash
from mllint.run import cachefs
from mllint.run.versions import code_fingerprint


def key(content: str, path_display: str, kind: str, settings_fingerprint: str, location: str = "") -> str:
    """An entry's name, from the file's content digest (`fingerprint.content_digest`), displayed
    name, real location (`location`: its real path: per-file ignores and the Hydra rules depend on
    where the file is, not on how it was named), kind and settings."""
    h = _key_prefix(kind, settings_fingerprint).copy()
    for part in (path_display, location, content):
        # a file name need not be UTF-8 (os.fsencode gives its bytes back)
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _key_prefix(kind: str, settings_fingerprint: str):
    """The hash state after what all files of a kind and settings share (hashed once per run)."""
    h = new_hash()
    for part in (code_fingerprint(), kind, settings_fingerprint):
        h.update(part.encode())
        h.update(b"\0")
    return h


def _entry_dir(digest: str) -> tuple[str, str, str]:
    return (CACHE_DIR, __version__, digest[:2])


# Entries read in bulk, by key: a previous run's record (mllint.run.replay) holds one per file it linted.
_preloaded: dict[str, dict] = {}


def preload(entries: dict[str, dict]) -> None:
    _preloaded.clear()
    _preloaded.update(entries)


def load(root: Path, digest: str) -> tuple[list[Diagnostic], dict | None] | None:
    """The entry's diagnostics and what cross-file rules read for them (`mllint.engine.reads`, else
    None); None if there is no entry, or if any file or directory they read has changed since."""
    try:
        raw = _preloaded.get(digest)
        if not isinstance(raw, dict):
            raw = json.loads(cachefs.read(root, _entry_dir(digest), f"{digest}.json"))
        read = raw["reads"]
        if read is not None and raw["project"] != reads.current_fingerprint(read):
            return None
        return [_decode(d) for d in raw["diagnostics"]], read
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(root: Path, digest: str, diagnostics: list[Diagnostic], read: dict | None = None) -> None:
    """Best effort: a cache that cannot be written (read-only checkout, a symlink in the cache
    path) is simply not used. `read`: what cross-file rules read besides the file (mllint.engine.reads)."""
    write_json(root, (*_entry_dir(digest), f"{digest}.json"), entry(diagnostics, read))


def entry(diagnostics: list[Diagnostic], read: dict | None) -> dict:
    return {"project": None if read is None else reads.fingerprint(read), "reads": read,
            "diagnostics": [_encode(d) for d in diagnostics]}


def write_json(root: Path, path: tuple[str, ...], value) -> bool:
    """Write a cache file, root/path..., atomically, never through a symlink (mllint.run.cachefs),
    creating the tagged cache directory under `root` first; best effort: False if it cannot be
    written. ensure_ascii: a file name that is not UTF-8 is written as an escape."""
    try:
        # dumps: the C encoder (dump encodes in Python, chunk by chunk)
        cachefs.write(root, path[:-1], path[-1], json.dumps(value).encode("ascii"))
        return True
    except (OSError, ValueError):
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


def clear(root: Path) -> bool:
    """Remove root/.mllint_cache; False (nothing removed) if it is a symlink or not a directory:
    `mllint clean` never follows a link out of the tree (rmtree does not follow links inside it)."""
    import shutil
    import stat

    path = os.path.join(root, CACHE_DIR)
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or getattr(st, "st_file_attributes", 0) & 0x400:
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True

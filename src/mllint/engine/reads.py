"""What cross-file rules (the Hydra rules) read besides the linted file: app files, config
directories, the project's tree of Python files. A result they took part in is cached, and replayed,
against the state of exactly these paths, wherever they lie (an excluded or default-excluded
directory, a config directory outside the project root): a fingerprint of the project root alone
misses them.

The rules note each path when they look at it (`note_file`, `note_dir`, `tree`); the state kept is
the one seen at that moment, so an edit made while the rules run makes the next run check again.
Standard library only: the per-file cache checks a fingerprint without importing any rule.
"""

from __future__ import annotations

import os
import stat

from mllint.fingerprint import CACHE_DIR, new_hash

_recording: list[Reads] = []  # the recorders of the lint in progress (innermost last)
# (root, skip) -> (python files, {dir: names}, {file: [size, mtime_ns]}, fingerprint), for this run
_TREES: dict[tuple[str, tuple[str, ...]], tuple[list[str], dict, dict, str]] = {}


class Reads:
    """The paths one file's cross-file rules read, with their state when read."""

    def __init__(self) -> None:
        self.files: dict[str, list[int] | None] = {}  # [size, mtime_ns]; None: not a regular file
        self.dirs: dict[str, list[str] | None] = {}  # sorted names; None: not a directory
        self.trees: dict[str, str] = {}  # "root\0skip\0skip..." -> the tree's fingerprint
        self.links: dict[str, str] = {}  # a path read through a symlink -> where it led

    def __enter__(self) -> Reads:
        _recording.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _recording.remove(self)

    def to_json(self) -> dict:
        return {"files": self.files, "dirs": self.dirs, "trees": self.trees, "links": self.links}

    def fingerprint(self) -> str:
        return fingerprint(self.to_json())


def fingerprint(reads: dict) -> str:
    h = new_hash()
    for section in ("files", "dirs", "trees", "links"):
        for path, state in sorted(reads[section].items()):
            h.update(f"{section}\0{path}\0{state!r}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def current_fingerprint(reads: dict) -> str | None:
    """The fingerprint of these paths as they are now (None for a malformed record)."""
    try:
        now = {"files": {path: file_state(path) for path in reads["files"]},
               "dirs": {path: dir_state(path) for path in reads["dirs"]},
               "trees": {key: _tree(*_tree_key(key))[3] for key in reads["trees"]},
               "links": {path: os.path.realpath(path) for path in reads["links"]}}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return fingerprint(now)


def file_state(path) -> list[int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns] if stat.S_ISREG(st.st_mode) else None


def dir_state(path) -> list[str] | None:
    try:
        return sorted(name for name in os.listdir(path) if name != CACHE_DIR)  # the cache is not an input
    except (OSError, ValueError):
        return None


def note_file(path) -> bool:
    """Is `path` a regular file (Path.is_file)? Noted with its size and time."""
    state = file_state(path)
    for reads in _recording:
        reads.files.setdefault(os.path.abspath(path), state)  # the first look is what the result saw
    return state is not None


def note_dir(path) -> bool:
    """Is `path` a directory (Path.is_dir)? Noted with its entries."""
    names = dir_state(path)
    for reads in _recording:
        reads.dirs.setdefault(os.path.abspath(path), names)
    return names is not None


def note_link(path, resolved) -> None:
    """`path` was resolved to `resolved`: if a symlink made the difference, where it led counts too
    (a re-pointed link leads the rules to other, unchanged, files)."""
    full = os.path.abspath(path)
    if full != os.fspath(resolved):
        for reads in _recording:
            reads.links.setdefault(full, os.fspath(resolved))


def tree(root, skip: tuple[str, ...]) -> list[str]:
    """The .py files under `root`, skipping directories named in `skip`, hidden ones and
    *.egg-info (where apps are looked for); walked once per run, and noted as a whole."""
    files, _, _, print_ = _tree(os.path.abspath(root), tuple(skip))
    key = "\0".join((os.path.abspath(root), *skip))
    for reads in _recording:
        reads.trees.setdefault(key, print_)
    return files


def tree_state(key: str) -> tuple[dict, dict, str]:
    """({dir: names}, {python file: [size, mtime_ns]}, fingerprint) of a noted tree, as this run
    walked it (for a run's record)."""
    _, dirs, files, print_ = _tree(*_tree_key(key))
    return dirs, files, print_


def _tree_key(key: str) -> tuple[str, tuple[str, ...]]:
    root, *skip = key.split("\0")
    return root, tuple(skip)


def _tree(root: str, skip: tuple[str, ...]):
    memo = _TREES.get((root, skip))
    if memo is None:
        files, dirs, stats = [], {}, {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirs[dirpath] = sorted(name for name in dirnames + filenames if name != CACHE_DIR)
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")
                           and not d.endswith(".egg-info")]
            for name in filenames:
                if name.endswith(".py"):
                    file = os.path.join(dirpath, name)
                    files.append(file)
                    stats[file] = file_state(file)
        h = new_hash()
        for section in (dirs, stats):
            for path, state in sorted(section.items()):
                h.update(f"{path}\0{state!r}\n".encode("utf-8", "surrogateescape"))
        memo = _TREES[(root, skip)] = (files, dirs, stats, h.hexdigest())
    return memo


def forget_stale() -> None:
    """Drop the trees in which a directory's entries changed since they were walked (for a process
    that outlives many edits: the language server; a command-line run is one snapshot)."""
    for key, (_, dirs, _, _) in list(_TREES.items()):
        if any(dir_state(path) != names for path, names in dirs.items()):
            del _TREES[key]


def new_run() -> None:
    """A new run: the project may have changed since the last one (in-process callers)."""
    _TREES.clear()

"""Run replay: `mllint` run again with the same arguments, from the same directory, where nothing it
read has changed, prints what it printed last time, and exits as it did.

A warm run through the per-file cache spends most of its time before and around the cache: starting
click, the configuration and the engine. A replay imports none of that. Its record holds the run's
output and exit status, and everything the output depends on:
- the content (a digest) of every file linted and every configuration file read;
- the configuration files looked for and not found there;
- the entries of every directory walked (a file added, removed or renamed there changes them);
- where cross-file rules took part, the state of the project's files that the per-file cache
  keys their results by (entries of each directory, size and modification time of each file).
Replaying checks all of it (so it reads every linted file, as a warm run does) and otherwise runs
the normal way. The key is the arguments, the working directory, the Python version, mllint's
version and code, and the prescreen switch.

Only the `mllint` command records, and only a plain check (no --fix, --diff, --stdin-filename,
--output-file or --no-cache) that ended without errors. Records live in
`.mllint_cache/<version>/runs/` under the directory of `--config`, else the nearest directory at
or above the working directory with a pyproject.toml, else the working directory.
"""

from __future__ import annotations

import os
import sys

from mllint import __version__
from mllint.fingerprint import CACHE_DIR, code_fingerprint, content_digest, new_hash, read_regular

# Records kept per cache: pre-commit runs name different files each time, and each is its own record.
KEEP = 16


def run_key(argv: list[str], cwd: str) -> str:
    h = new_hash()
    for part in (code_fingerprint(), sys.version, cwd, os.environ.get("MLLINT_NO_PRESCREEN", ""), *argv):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def record_dir(argv: list[str], cwd: str) -> str:
    """Where the record of this command line lives (see the module's docstring). `--config` is
    looked up in argv, not parsed: both the writer and the reader use this same function."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return os.path.dirname(os.path.join(cwd, argv[i + 1]))
        if arg.startswith("--config="):
            return os.path.dirname(os.path.join(cwd, arg[len("--config="):]))
        if arg == "--":
            break
    directory = cwd
    while True:
        if os.path.isfile(os.path.join(directory, "pyproject.toml")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return cwd
        directory = parent


def record_path(argv: list[str], cwd: str) -> str:
    key = run_key(argv, cwd)
    return os.path.join(record_dir(argv, cwd), CACHE_DIR, __version__, "runs", f"{key}.json")


class RunInputs:
    """What a run read, as a record holds it (absolute paths)."""

    def __init__(self) -> None:
        self.files: dict[str, str | None] = {}  # content digest; None: not there (or not a file)
        self.dirs: dict[str, list[str]] = {}  # sorted entry names
        self.stats: dict[str, list[int]] = {}  # [size, mtime_ns] of linted files and cross-file rules' inputs

    def file(self, path, digest: str | None) -> None:
        self.files[os.path.abspath(path)] = digest

    def directory(self, path, names) -> None:
        self.dirs[os.path.abspath(path)] = _entries(names)

    def stat(self, path, size: int, mtime_ns: int) -> None:
        self.stats[os.path.abspath(path)] = [size, mtime_ns]

    def add(self, other: RunInputs) -> None:
        self.files.update(other.files)
        self.dirs.update(other.dirs)
        self.stats.update(other.stats)


def _entries(names) -> list[str]:
    return sorted(name for name in names if name != CACHE_DIR)  # the cache itself is not an input


def _digest(path: str) -> str | None:
    try:
        return content_digest(read_regular(path))  # never blocks on a FIFO put in the file's place
    except IsADirectoryError:
        return DIRECTORY
    except OSError:
        return None


# What a record holds for a path that is a directory (a `.git`, say), not a file's content digest.
DIRECTORY = "directory"


def file_state(path: str) -> str | None:
    """What a record holds for `path`: its content digest, DIRECTORY, or None (not there)."""
    return _digest(path)


def _unchanged(record: dict) -> bool:
    """File states first, then directory entries: a changed file usually ends the check there,
    before any file is read. Contents decide (a file can change keeping its size and time)."""
    for path, state in record["stats"].items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if [st.st_size, st.st_mtime_ns] != state:
            return False
    for path, names in record["dirs"].items():
        try:
            if _entries(os.listdir(path)) != names:
                return False
        except OSError:
            return False
    return all(_digest(path) == digest for path, digest in record["files"].items())


def replay(argv: list[str]) -> int | None:
    """Print a recorded run's output and return its exit status; None when there is no record for
    this command line or something it read has changed."""
    global previous
    previous = None
    try:
        cwd = os.getcwd()
        with open(record_path(argv, cwd), encoding="utf-8") as fh:
            import json

            record = json.load(fh)
        previous = record if isinstance(record, dict) else None
        if not _unchanged(record):
            return None
        output, status = [(bool(err), str(text)) for err, text in record["output"]], int(record["status"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    for err, text in output:  # in the order it was printed: warnings between findings and summary
        stream = sys.stderr if err else sys.stdout
        stream.write(text)
        stream.flush()
    return status


class Recorder:
    """The `mllint` command's run, for its record: the CLI adds what it read and printed."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.cwd = os.getcwd()
        self.inputs = RunInputs()
        self.output: list[tuple[bool, str]] = []  # (to stderr, text)
        # Each file's result, as a per-file cache entry under its key (mllint.cache): when the
        # command is run again after a change, the unchanged files are answered from here.
        self.entries: dict[str, dict] = {}

    def print(self, text: str, err: bool) -> None:
        self.output.append((err, text))

    def write(self, status: int) -> bool:
        from mllint.cache import write_json

        path = record_path(self.argv, self.cwd)
        record = {"output": self.output, "status": status, "entries": self.entries,
                  "files": self.inputs.files, "dirs": self.inputs.dirs, "stats": self.inputs.stats}
        runs = os.path.dirname(path)
        if not write_json(record_dir(self.argv, self.cwd), path, record):
            return False
        _prune(runs)
        return True


def _prune(runs: str) -> None:
    """Keep the newest KEEP records."""
    try:
        with os.scandir(runs) as it:
            entries = [(e.stat().st_mtime_ns, e.path) for e in it if e.name.endswith(".json")]
        for _, path in sorted(entries, reverse=True)[KEEP:]:
            os.unlink(path)
    except OSError:
        pass


# Set by the `mllint` command (mllint.__main__) for the run in progress; None otherwise (tests that
# call the CLI in-process, the language server).
current: Recorder | None = None
# The record a replay found but could not use (something changed): its per-file entries still
# answer for the files that did not change, in one read instead of one per file.
previous: dict | None = None

"""Run replay: `mllint` run again with the same arguments, from the same directory, where nothing it
read has changed, prints what it printed last time, and exits as it did.

A warm run through the per-file cache spends most of its time before and around the cache: starting
click, the configuration and the engine. A replay imports none of that. Its record holds the run's
output and exit status, and everything the output depends on:
- the content (a digest) of every file linted and every configuration file read;
- the configuration files looked for and not found there;
- the entries of every directory walked (a file added, removed or renamed there changes them);
- where each symlinked directory it went through led (settings are looked up where it leads);
- where cross-file rules took part, what they read (mllint.engine.reads: entries of each directory, size
  and modification time of each file, as they were when read).
Replaying checks all of it (so it reads every linted file, as a warm run does) and otherwise runs
the normal way. The key is the arguments, the working directory, the Python version, mllint's
version and code, the versions of the libraries that shape results, and the prescreen switch. The
output is printed as click.echo printed it, and the record is read and written through
mllint.run.cachefs (never through a symlink).

Only the `mllint` command records, and only a plain check (no --fix, --diff, --stdin-filename,
--output-file or --no-cache) that ended without errors. Records live in
`.mllint_cache/<version>/runs/` under the directory of `--config`, else the nearest directory at
or above the working directory with a pyproject.toml, else the working directory.
"""

from __future__ import annotations

import os
import sys

from mllint import __version__
from mllint.fingerprint import CACHE_DIR, content_digest, new_hash, read_regular
from mllint.run.versions import code_fingerprint

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


RUNS = (CACHE_DIR, __version__, "runs")
# A record's first bytes: only files that start so (and are named as records are) are ever pruned.
MARKER = '{"mllint": "run record"'


def record_path(argv: list[str], cwd: str) -> tuple[str, tuple[str, ...], str]:
    """(directory of the project, the cache's directories below it, the record's name)."""
    return record_dir(argv, cwd), RUNS, f"{run_key(argv, cwd)}.json"


class RunInputs:
    """What a run read, as a record holds it (absolute paths)."""

    def __init__(self) -> None:
        self.files: dict[str, str | None] = {}  # content digest; None: not there (or not a file)
        self.dirs: dict[str, list[str]] = {}  # sorted entry names
        self.stats: dict[str, list[int]] = {}  # [size, mtime_ns] of linted files and cross-file rules' inputs
        self.links: dict[str, str] = {}  # a path that led through a symlink -> its real path then

    def file(self, path, digest: str | None) -> None:
        self.files[os.path.abspath(path)] = digest

    def directory(self, path, names) -> None:
        self.dirs[os.path.abspath(path)] = _entries(names)

    def link(self, path, real) -> None:
        self.links[os.path.abspath(path)] = os.fspath(real)

    def stat(self, path, size: int, mtime_ns: int) -> None:
        self.stats[os.path.abspath(path)] = [size, mtime_ns]

    def reads(self, read: dict) -> bool:
        """What a file's cross-file rules read (mllint.engine.reads), in the state they saw it; False if
        a tree they walked is no longer what this process sees."""
        from mllint.engine import reads

        for path, state in read["files"].items():
            if state is None:
                self.files[path] = None
            else:
                self.stats[path] = list(state)
        for path, names in read["dirs"].items():
            self.dirs[path] = names
        self.links.update(read["links"])
        for key, seen in read["trees"].items():
            dirs, files, now = reads.tree_state(key)
            if now != seen:
                return False
            self.dirs.update(dirs)
            for path, state in files.items():
                if state is None:
                    self.files[path] = None
                else:
                    self.stats[path] = list(state)
        return True


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
    for path, real in record["links"].items():
        if os.path.realpath(path) != real:  # a re-pointed symlink: other settings, other files
            return False
    for path, state in record["stats"].items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if [st.st_size, st.st_mtime_ns] != state:
            return False
    for path, names in record["dirs"].items():
        try:
            now = _entries(os.listdir(path))
        except OSError:
            now = None  # None in the record: a directory that was not there
        if now != names:
            return False
    return all(_digest(path) == digest for path, digest in record["files"].items())


def replay(argv: list[str]) -> int | None:
    """Print a recorded run's output and return its exit status; None when there is no record for
    this command line or something it read has changed."""
    global previous
    previous = None
    try:
        from mllint.run import cachefs

        cwd = os.getcwd()
        import json

        record = json.loads(cachefs.read(*record_path(argv, cwd)))
        previous = record if isinstance(record, dict) else None
        if not _unchanged(record):
            return None
        output, status = [(bool(err), str(text)) for err, text in record["output"]], int(record["status"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    try:
        for err, text in output:  # in the order it was printed: warnings between findings and summary
            _echo(sys.stderr if err else sys.stdout, text)
    except BrokenPipeError:
        # as click does in a real run (`mllint . | head -1`): no traceback, exit 1, and nothing more
        # written to the closed pipe when the interpreter flushes it on exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    return status


def _echo(stream, text: str) -> None:
    """Write as click.echo does in the real run (without importing click): ANSI escapes stripped
    when the stream is not a terminal; an ASCII-only stream written to in UTF-8 (errors replaced)."""
    if stream is None:
        return
    if "\x1b" in text and not _isatty(stream):
        import re

        text = re.sub(r"\033\[[0-?]*[ -/]*[@-~]", "", text)  # click's _ansi_re
    buffer = getattr(stream, "buffer", None)
    if buffer is not None and _is_ascii(getattr(stream, "encoding", None) or "ascii"):
        stream.flush()
        buffer.write(text.encode("utf-8", "replace"))
        buffer.flush()
        return
    stream.write(text)
    stream.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except Exception:
        return False


def _is_ascii(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


class Recorder:
    """The `mllint` command's run, for its record: the CLI adds what it read and printed."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        try:
            self.cwd: str | None = os.getcwd()
        except OSError:  # the working directory was deleted: no record (the CLI reports what it needs)
            self.cwd = None
        self.inputs = RunInputs()
        self.output: list[tuple[bool, str]] = []  # (to stderr, text)
        # Each file's result, as a per-file cache entry under its key (mllint.run.cache): when the
        # command is run again after a change, the unchanged files are answered from here.
        self.entries: dict[str, dict] = {}

    def print(self, text: str, err: bool) -> None:
        self.output.append((err, text))

    def write(self, status: int) -> bool:
        from mllint.run import cachefs
        from mllint.run.cache import write_json

        if self.cwd is None:
            return False
        top, runs, name = record_path(self.argv, self.cwd)
        record = {"mllint": "run record", "output": self.output, "status": status, "entries": self.entries,
                  "files": self.inputs.files, "dirs": self.inputs.dirs, "stats": self.inputs.stats,
                  "links": self.inputs.links}
        if not write_json(top, (*runs, name), record):
            return False
        cachefs.prune(top, runs, KEEP, _is_record)  # keep the newest KEEP records
        return True


def _is_record(name: str, head: bytes) -> bool:
    """A file mllint wrote as a run record: named as one, and starting with the marker."""
    return (len(name) == 69 and name.endswith(".json") and all(c in "0123456789abcdef" for c in name[:64])
            and head.startswith(MARKER.encode()))


# Set by the `mllint` command (mllint.__main__) for the run in progress; None otherwise (tests that
# call the CLI in-process, the language server).
current: Recorder | None = None
# The record a replay found but could not use (something changed): its per-file entries still
# answer for the files that did not change, in one read instead of one per file.
previous: dict | None = None

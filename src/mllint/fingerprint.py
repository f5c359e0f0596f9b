"""Digests of file contents and trees, shared by the per-file cache and run replay, and bounded
reads of files that may not be regular files.

Standard library only, and none of its heavier modules: a replayed run imports this and little else.
"""

from __future__ import annotations

import os

try:  # what hashlib.blake2b is, without loading OpenSSL (a tenth of a warm run) for hashlib's sake
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without CPython's _blake2
    from hashlib import blake2b

CACHE_DIR = ".mllint_cache"


def new_hash(data: bytes = b""):
    return blake2b(data, digest_size=32)  # 64 hex digits, as file names


def content_digest(data: bytes) -> str:
    return new_hash(data).hexdigest()


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
    return content_digest("".join(sorted(lines)).encode())


# ---- reading files that may not be regular files ---------------------------------------------

# What mllint reads at most of one file (a linted file, a config, an app): beyond this it is not
# read, so a huge file, or a device behind a `.py` name, cannot exhaust memory.
MAX_FILE_BYTES = 64 * 2**20


class NotRegularFile(OSError):
    """A FIFO, socket or device where a file was expected: reading it could block or never end."""

    def __init__(self, path, mode: int):
        import stat

        what = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a directory" if stat.S_ISDIR(mode)
                else "not a regular file")
        super().__init__(f"not a regular file ({what})")
        self.strerror = f"not a regular file ({what})"
        self.filename = str(path)


def open_nonblocking(path, flags: int) -> int:
    """An `opener` for open(): opening a FIFO does not wait for a writer (regular files are
    unaffected), so the caller can fstat what it opened and refuse it."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def check_regular(fh, path) -> os.stat_result:
    """fstat of an open file; raises NotRegularFile unless it is a regular file. (Checked on the
    open descriptor, not by name: the name may be replaced between a stat and the open.)"""
    import stat

    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)
    return st


def read_regular(path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, at most `limit` + 1 of them (so that a caller sees a file
    over the limit as such). Raises OSError, NotRegularFile included."""
    with open(path, "rb", opener=open_nonblocking) as fh:
        check_regular(fh, path)
        return fh.read(limit + 1)

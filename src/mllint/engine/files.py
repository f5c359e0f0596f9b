"""A file on disk as mllint reads and writes it: its kind (by suffix), its text decoded as Python
decodes it (BOM, PEP 263 cookie), what reading it found (`FileState`, for the run's record), and
an atomic write that keeps the file's encoding, links, mode, owner and extended attributes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

KIND_BY_SUFFIX = {".py": "python", ".pyi": "python", ".yaml": "yaml", ".yml": "yaml", ".sh": "shell",
                  ".bash": "shell", ".sbatch": "shell", ".slurm": "shell",  # SLURM job scripts
                  ".ipynb": "notebook"}  # code cells linted as Python (mllint.engine.api)


def kind_of(path: str | Path) -> str | None:
    return KIND_BY_SUFFIX.get(os.path.splitext(path)[1].lower())


class FileState(NamedTuple):
    """The file as it was read for linting: what a run's record (mllint.run.replay) keeps of it."""

    content: str  # fingerprint.content_digest of the bytes
    key: str  # the per-file cache key
    size: int
    mtime_ns: int


# ---- reading and writing, keeping the file's encoding, BOM and line endings -------------------

@dataclass
class SourceFile:
    text: str
    encoding: str  # as detected from the BOM / coding cookie


def decode(data: bytes, kind: str) -> SourceFile:
    """Decode like Python does: a BOM or a PEP 263 coding cookie, else UTF-8."""
    import io
    import tokenize

    if kind == "python":
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    else:
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    return SourceFile(data.decode(encoding), encoding)


def write_atomic(path: Path, text: str, encoding: str, expected_mtime_ns: int | None = None,
                 expected: bytes | None = None) -> None:
    """Replace the file's content, refusing if it changed since it was read (`expected`: the
    bytes read; the modification time alone misses edits on coarse-timestamp file systems).

    A symlink is followed: its target is written and the link kept. A file with several hard
    links is rewritten in place (truncated and written), so that every link sees the fix;
    any other file is written to a temporary file in its own directory and renamed over it,
    keeping its mode, its owner and group where allowed, and its extended attributes."""
    import tempfile

    data = text.encode(encoding)
    target = Path(os.path.realpath(path))  # the file itself: renaming over a symlink would replace the link
    st = os.stat(target)
    changed = OSError(f"{path} changed on disk while mllint was fixing it; not overwritten")
    if expected_mtime_ns is not None and st.st_mtime_ns != expected_mtime_ns:
        raise changed
    if st.st_nlink > 1:
        with open(target, "r+b") as fh:
            if expected is not None and fh.read() != expected:
                raise changed
            fh.seek(0)
            fh.write(data)
            fh.truncate()
        return
    if expected is not None:
        with open(target, "rb") as fh:
            if fh.read() != expected:
                raise changed
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".mllint-tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        _copy_metadata(target, tmp, st)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _copy_metadata(original: Path, tmp: str, st: os.stat_result) -> None:
    """Mode always; owner, group and extended attributes where the system allows it."""
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:  # not permitted (another user's file): the mode is what matters
            pass
    if hasattr(os, "listxattr"):
        try:
            for name in os.listxattr(original):
                try:
                    os.setxattr(tmp, name, os.getxattr(original, name))
                except OSError:
                    pass
        except OSError:
            pass

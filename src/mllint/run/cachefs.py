"""Files in `.mllint_cache/`, never through a symlink.

A checkout can ship `.mllint_cache`, or any directory in it, as a symlink (git stores symlinks):
writing, reading or pruning through it would touch files outside the project. Every directory below
the project's directory is opened relative to its parent with O_NOFOLLOW, and files in it likewise;
a symlink anywhere makes the operation fail (OSError), and the callers then go without the cache.
Standard library only: a replayed run reads its record through this.
"""

from __future__ import annotations

import os
import stat

from mllint.fingerprint import CACHE_DIR

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by mllint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_GITIGNORE = "# Automatically created by mllint.\n*\n"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)
# Opening relative to a directory descriptor (POSIX): no window between checking a level and using it.
_AT = _NOFOLLOW != 0 and {os.open, os.mkdir, os.unlink, os.rename} <= os.supports_dir_fd and os.scandir in os.supports_fd


class Refused(OSError):
    """A cache path that is a symlink (or not a directory where one is expected)."""


def _open_dirs(root, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor of root/parts..., each level below root a real directory (created if `create`;
    a new `.mllint_cache` gets its CACHEDIR.TAG and .gitignore)."""
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts:
            made = False
            if create:
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                    made = True
                except FileExistsError:
                    pass
            try:
                child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if _is_link(part, fd):
                    raise Refused(f"{part}: a symlink in the cache path") from exc
                raise
            os.close(fd)
            fd = child
            if made and part == CACHE_DIR:
                for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", _GITIGNORE)):
                    try:
                        _write_new(fd, name, text.encode())
                    except FileExistsError:  # another run was quicker
                        pass
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _write_new(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _checked_path(root, parts: tuple[str, ...], create: bool) -> str:
    """Without directory descriptors (Windows): the same checks by path, level by level."""
    path = os.fspath(root)
    for part in parts:
        path = os.path.join(path, part)
        made = False
        if create:
            try:
                os.mkdir(path)
                made = True
            except FileExistsError:
                pass
        st = os.lstat(path)
        # a Windows junction is a reparse point, like a symlink
        if not stat.S_ISDIR(st.st_mode) or getattr(st, "st_file_attributes", 0) & 0x400:
            raise Refused(f"{path}: not a directory of mllint's cache")
        if made and part == CACHE_DIR:
            for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", _GITIGNORE)):
                try:
                    with open(os.path.join(path, name), "x", encoding="utf-8") as fh:
                        fh.write(text)
                except FileExistsError:  # another run was quicker
                    pass
    return path


def write(root, parts: tuple[str, ...], name: str, data: bytes) -> None:
    """Write root/parts.../name atomically (temporary file + rename). Raises OSError (Refused for a
    symlink)."""
    tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    if not _AT:
        directory = _checked_path(root, parts, create=True)
        with open(os.path.join(directory, tmp), "xb") as fh:
            fh.write(data)
        os.replace(os.path.join(directory, tmp), os.path.join(directory, name))
        return
    fd = _open_dirs(root, parts, create=True)
    try:
        _write_new(fd, tmp, data)
        try:
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # a symlink named `name` is replaced, not followed
        except BaseException:
            os.unlink(tmp, dir_fd=fd)
            raise
    finally:
        os.close(fd)


def read(root, parts: tuple[str, ...], name: str) -> bytes:
    """The content of root/parts.../name, not through any symlink. Raises OSError."""
    if not _AT:
        path = os.path.join(_checked_path(root, parts, create=False), name)
        if os.path.islink(path):
            raise Refused(f"{path}: a symlink in the cache")
        with open(path, "rb") as fh:
            return fh.read()
    fd = _open_dirs(root, parts, create=False)
    try:
        file = os.open(name, os.O_RDONLY | _NOFOLLOW | _BINARY, dir_fd=fd)
    finally:
        os.close(fd)
    with os.fdopen(file, "rb") as fh:
        return fh.read()


def prune(root, parts: tuple[str, ...], keep: int, owned) -> None:
    """Delete all but the newest `keep` files of root/parts... that `owned(name, head)` says mllint
    wrote (`head`: the file's first bytes). Best effort."""
    try:
        if not _AT:
            directory = _checked_path(root, parts, create=False)
            candidates = []
            with os.scandir(directory) as it:
                for entry in it:
                    if entry.is_file(follow_symlinks=False) and owned(entry.name, _head(entry.path)):
                        candidates.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
            for _, name in sorted(candidates, reverse=True)[keep:]:
                os.unlink(os.path.join(directory, name))
            return
        fd = _open_dirs(root, parts, create=False)
        try:
            candidates = []
            with os.scandir(fd) as it:
                for entry in it:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        file = os.open(entry.name, os.O_RDONLY | _NOFOLLOW, dir_fd=fd)
                    except OSError:
                        continue
                    with os.fdopen(file, "rb") as fh:
                        head = fh.read(64)
                    if owned(entry.name, head):
                        candidates.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
            for _, name in sorted(candidates, reverse=True)[keep:]:
                os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(64)
    except OSError:
        return b""

"""Digests of file contents and of mllint's own code, shared by the per-file cache and run replay.

Standard library only, and none of its heavier modules: a replayed run imports this and little else.
"""

from __future__ import annotations

import os

try:  # what hashlib.blake2b is, without loading OpenSSL (a tenth of a warm run) for hashlib's sake
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without CPython's _blake2
    from hashlib import blake2b

from mllint import __version__

CACHE_DIR = ".mllint_cache"


def new_hash(data: bytes = b""):
    return blake2b(data, digest_size=32)  # 64 hex digits, as file names


def content_digest(data: bytes) -> str:
    return new_hash(data).hexdigest()


_CODE: str | None = None


def code_fingerprint() -> str:
    """mllint's version and sources (names, sizes, modification times): an edited rule in a
    development install must not be answered from what the old code wrote. With the installed
    rule packs' versions and sources (mllint.packs): upgrading a pack is a change of code too."""
    global _CODE
    if _CODE is None:
        from mllint.packs import fingerprint_text

        _CODE = __version__ + ":" + tree_fingerprint(os.path.dirname(os.path.abspath(__file__))) + fingerprint_text()
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
    return content_digest("".join(sorted(lines)).encode())

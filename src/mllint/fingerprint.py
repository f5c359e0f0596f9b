"""Digests of file contents and of mllint's own code, shared by the per-file cache and run replay.

Standard library only, and none of its heavier modules: a replayed run imports this and little else.
"""

from __future__ import annotations

import os
import sys

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
    development install must not be answered from what the old code wrote."""
    global _CODE
    if _CODE is None:
        _CODE = (__version__ + ":" + tree_fingerprint(os.path.dirname(os.path.abspath(__file__)))
                 + ":" + dependency_versions())
    return _CODE


# The libraries whose version changes results (LibCST's parser and positions, YAML, Hydra's override
# grammar, notebooks, shell words, inference): results are not reused across an upgrade of one.
DEPENDENCIES = ("libcst", "pyyaml", "astroid", "bashlex", "hydra_core", "omegaconf", "nbformat")


def dependency_versions() -> str:
    """Their installed versions, from the names of the *.dist-info directories in site-packages
    (one listdir each: importlib.metadata, or importing them, would cost the replayed run more
    than all the rest of it). The first found on sys.path wins, as for import."""
    found: dict[str, str] = {}
    for entry in sys.path:
        if os.path.basename(entry.rstrip("/\\")) not in ("site-packages", "dist-packages"):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[:-len(".dist-info")].partition("-")
                project = project.lower().replace("-", "_").replace(".", "_")
                if project in DEPENDENCIES:
                    found.setdefault(project, version)
    return ",".join(f"{name}={found.get(name, '')}" for name in DEPENDENCIES)


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

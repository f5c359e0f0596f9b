"""Which code produces a run's results, for the per-file cache key and a run's record: mllint's
version and sources, the versions of the libraries that change results, and the installed rule packs.

Standard library only: a replayed run computes this and imports little else.
"""

from __future__ import annotations

import os
import sys

from mllint import __version__
import mllint
from mllint.engine.packs import fingerprint_text
from mllint.fingerprint import tree_fingerprint

_CODE: str | None = None


def code_fingerprint() -> str:
    """mllint's version and sources (names, sizes, modification times): an edited rule in a
    development install must not be answered from what the old code wrote. With the installed
    rule packs' versions and sources (mllint.engine.packs): upgrading a pack is a change of code too."""
    global _CODE
    if _CODE is None:
        _CODE = (__version__ + ":" + tree_fingerprint(os.path.dirname(os.path.abspath(mllint.__file__)))
                 + ":" + dependency_versions() + fingerprint_text())
    return _CODE


# The libraries whose version changes results (LibCST's parser and positions, YAML, Hydra's override
# grammar, notebooks, shell words, inference): results are not reused across an upgrade of one.
DEPENDENCIES = ("libcst", "pyyaml", "bashlex", "hydra_core", "omegaconf", "nbformat")


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

"""Every rule's metadata (mllint's own and the installed rule packs'), without importing mllint's
rule modules or LibCST: what configuration, selection, the cache, `mllint rules` and ML001 need."""

from __future__ import annotations

from mllint.engine import packs
from mllint.engine.manifest import RULES
from mllint.engine.rule import RuleInfo, info_of


def rule_infos() -> dict[str, RuleInfo]:
    """Every rule's metadata, sorted by code: mllint's own from the generated manifest, and the
    installed rule packs' from their classes (which imports the packs, only when there are any)."""
    global _MERGED
    if not packs.found():
        return RULES
    loaded = packs.load()
    if _MERGED is None or _MERGED[0] is not loaded:  # asked for every selector and file: merged once
        _MERGED = (loaded, dict(sorted({**RULES, **{code: info_of(cls) for code, (cls, _) in loaded.items()}}.items())))
    return _MERGED[1]


_MERGED: tuple[dict, dict[str, RuleInfo]] | None = None

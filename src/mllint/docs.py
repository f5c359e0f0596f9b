"""The rule documentation pages (rules/*.md at the top of the repository, shipped in the wheel
as mllint/rule_docs/)."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def docs_dir() -> Path | None:
    here = Path(__file__)
    for candidate in (here.parent / "rule_docs", here.resolve().parents[2] / "rules"):
        if candidate.is_dir():
            return candidate
    return None


def doc_path(code: str) -> Path | None:
    """The page of one of mllint's rules, or of a rule pack's (in the pack's own rule_docs/)."""
    from mllint.packs import pack_of

    pack = pack_of(code)
    directory = docs_dir() if pack is None else pack.docs_dir()
    if directory is None:
        return None
    directory = Path(directory)
    for page in sorted(directory.glob(f"{code}*.md")):
        stem = page.stem
        if stem == code or stem.startswith(code + "-"):
            return page
    return None


def doc_text(code: str) -> str | None:
    page = doc_path(code)
    return page.read_text(encoding="utf-8") if page else None


def doc_url(code: str) -> str | None:
    page = doc_path(code)
    return page.resolve().as_uri() if page else None

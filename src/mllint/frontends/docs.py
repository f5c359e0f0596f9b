"""The rule documentation pages (rules/*.md at the top of the repository, shipped in the wheel
as mllint/rule_docs/). `mllint explain` prints the local page; every output that links to a rule
(JSON `url`, SARIF `helpUri`, the language server's `codeDescription`) links to its page online,
under DOCS_URL (a constant, so the warm path reads no pyproject.toml; `[project.urls]` in
pyproject.toml names the same place, and a test keeps the two equal)."""

from __future__ import annotations

import functools
from pathlib import Path

REPOSITORY_URL = "https://github.com/mllint-training/mllint"
DOCS_URL = f"{REPOSITORY_URL}/blob/main/rules/"


@functools.cache
def docs_dir() -> Path | None:
    here = Path(__file__)
    for candidate in (here.parent.parent / "rule_docs", here.resolve().parents[3] / "rules"):  # in the wheel; in the repository
        if candidate.is_dir():
            return candidate
    return None


def doc_path(code: str) -> Path | None:
    """The page of one of mllint's rules, or of a rule pack's (in the pack's own rule_docs/)."""
    from mllint.engine.packs import pack_of

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


@functools.cache
def doc_url(code: str) -> str | None:
    """The rule's page online (its file name is the local page's: `ML101-<name>.md`)."""
    page = doc_path(code)
    return DOCS_URL + page.name if page else None

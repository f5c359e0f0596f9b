"""The rule documentation pages (rules/*.md at the top of the repository, shipped in the wheel
as mllint/rule_docs/)."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).parent / "rule_docs"
_CHECKOUT = Path(__file__).resolve().parents[2] / "rules"


def docs_dir() -> Path | None:
    for candidate in (_PACKAGED, _CHECKOUT):
        if candidate.is_dir():
            return candidate
    return None


def doc_path(code: str) -> Path | None:
    directory = docs_dir()
    if directory is None:
        return None
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

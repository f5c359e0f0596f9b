"""Every rule has a docs page in rules/; its bad example triggers the rule and its fixed example
does not. `mllint explain` prints the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.run.rules import all_rules
from mllint.testing import lint

RULE_DOCS = Path(__file__).resolve().parents[1] / "rules"
RULES = all_rules()
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
SUFFIX = {"python": "example.py", "py": "example.py", "yaml": "example.yaml", "yml": "example.yaml",
          "bash": "example.sh", "sh": "example.sh"}


def page(code: str) -> Path:
    pages = [p for p in RULE_DOCS.glob(f"{code}-*.md")]
    assert len(pages) == 1, f"expected one page rules/{code}-<name>.md, found {pages}"
    return pages[0]


def example_blocks(code: str) -> tuple[tuple[str, str], tuple[str, str] | None]:
    """(lang, bad) and (lang, fixed) from the page's `## Example` section ("Use instead:" block)."""
    text = page(code).read_text()
    section = text.split("## Example", 1)[1].split("\n## ", 1)[0]
    blocks = FENCE.findall(section)
    assert blocks, f"{code}: no code block under ## Example"
    bad = blocks[0]
    fixed = blocks[1] if len(blocks) > 1 else None
    return bad, fixed


@pytest.mark.parametrize("code", sorted(RULES))
def test_page_exists_and_names_the_rule(code):
    text = page(code).read_text()
    assert text.startswith(f"# {code} `{RULES[code].name}`"), "first line: # CODE `name`"
    for heading in ("## What it does", "## Why", "## Example", "## Fix safety"):
        assert heading in text, f"{code}: missing {heading}"


@pytest.mark.parametrize("code", sorted(c for c in RULES if c != "ML000"))
def test_bad_example_triggers_and_fixed_example_does_not(code):
    (lang, bad), fixed = example_blocks(code)
    path = SUFFIX[lang]
    select = "ALL" if code == "ML001" else code  # ML001 checks the suppressions of the other rules
    assert code in [d.code for d in lint(bad, select, path=path)], f"{code}: the bad example is not flagged"
    if fixed is not None:
        lang2, good = fixed
        assert code not in [d.code for d in lint(good, select, path=SUFFIX[lang2])], f"{code}: fixed example flagged"


def test_syntax_error_page_example():
    (lang, bad), fixed = example_blocks("ML000")
    assert [d.code for d in lint(bad, "ML101")] == ["ML000"]
    assert lint(fixed[1], "ML101") == []


@pytest.mark.parametrize("code", sorted(RULES))
def test_explain_prints_the_page(code):
    out = CliRunner().invoke(main, ["explain", code])
    assert out.exit_code == 0
    assert out.output.strip() == page(code).read_text().strip()


def test_rule_is_explain_as_in_ruff():
    assert CliRunner().invoke(main, ["rule", "ml101"]).output == CliRunner().invoke(main, ["explain", "ML101"]).output
    assert CliRunner().invoke(main, ["rule", "ML999"]).exit_code == 2


@pytest.mark.parametrize("code", sorted(RULES))
def test_documentation_links_point_at_the_page_online(code):
    from mllint.frontends.docs import DOCS_URL, doc_url

    assert doc_url(code) == DOCS_URL + page(code).name


def test_pyproject_documentation_url_is_the_docs_constant():
    from mllint.run.config import tomllib
    from mllint.frontends.docs import DOCS_URL

    pyproject = tomllib.loads((RULE_DOCS.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["urls"]["Documentation"] == DOCS_URL

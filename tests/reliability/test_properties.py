"""Property tests: generated programs (hypothesmith), with and without the catalog's
anti-patterns spliced in, never crash the linter; every fix re-parses and is idempotent."""

from __future__ import annotations

import re
from pathlib import Path

import hypothesmith
import libcst as cst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mllint.engine import lint as engine
from mllint.run.config import Settings

RULE_DOCS = Path(__file__).resolve().parents[2] / "rules"
FENCE = re.compile(r"```python\n(.*?)```", re.S)

# The bad example of every rule page: realistic anti-patterns to splice into generated code.
ANTI_PATTERNS = [
    FENCE.findall(page.read_text().split("## Example", 1)[1])[0]
    for page in sorted(RULE_DOCS.glob("ML*.md"))
    if not page.name.startswith("ML000") and FENCE.findall(page.read_text().split("## Example", 1)[-1])
]

SETTINGS = Settings(root=Path("."), preview=True)
RULES = [(cls, SETTINGS.options_for(cls)) for cls in SETTINGS.enabled_rules()]
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def check(source: str) -> None:
    for unsafe in (False, True):
        result = engine.lint_text(source, "generated.py", "python", RULES, fix=True, unsafe=unsafe)
        crashes = [e for e in result.errors if "internal error" in e or "invalid code" in e]
        assert crashes == [], crashes
        if result.new_source is not None:
            cst.parse_module(result.new_source)
            again = engine.lint_text(result.new_source, "generated.py", "python", RULES, fix=True, unsafe=unsafe)
            assert again.new_source is None, "fixing twice changed the file again"


@PROFILE
@given(hypothesmith.from_grammar())
def test_generated_programs_never_crash(source):
    check(source)


@PROFILE
@given(hypothesmith.from_node(), st.sampled_from(ANTI_PATTERNS), st.booleans())
def test_generated_programs_with_anti_patterns_spliced_in(source, pattern, before):
    spliced = pattern + "\n" + source if before else source + "\n" + pattern
    try:
        compile(spliced, "spliced.py", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return  # the splice itself is not valid Python (e.g. a __future__ import moved)
    check(spliced)


@PROFILE
@given(st.sampled_from(ANTI_PATTERNS), st.integers(min_value=0, max_value=8), st.sampled_from(["\n", "\r\n"]))
def test_anti_patterns_nested_in_functions_and_classes(pattern, depth, newline):
    lines = pattern.splitlines()
    nested = []
    for level in range(depth):
        head = "class C%d:" % level if level % 2 else "def f%d():" % level
        nested.append("    " * level + head)
    indent = "    " * depth
    nested += [indent + line if line.strip() else line for line in lines]
    check(newline.join(nested) + newline)

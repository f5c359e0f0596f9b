"""The README stays true: its rule table is the registry's, and its two set-up commands are the
ones CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mllint.run.rules import all_rules

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def rules_table() -> str:
    rows = ["| Code | Name | What it catches | Fix | Stability |", "| --- | --- | --- | --- | --- |"]
    for code, cls in all_rules().items():
        page = next((REPO / "rules").glob(f"{code}-*.md")).name
        rows.append(f"| [{code}](rules/{page}) | `{cls.name}` | {cls.summary} | {cls.fix_applicability.value} "
                    f"| {cls.stability} |")
    return "\n".join(rows)


def test_rule_table_matches_the_registry():
    table = README.split("<!-- rules-table:start -->\n", 1)[1].split("\n<!-- rules-table:end -->", 1)[0]
    assert table == rules_table(), "regenerate with: python -c 'from tests.test_readme import rules_table; print(rules_table())'"


def test_ci_runs_the_readme_test_command():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)
    assert len(commands) == 2
    lint_demo, run_tests = commands
    assert "mllint fixtures/demo" in lint_demo
    ci = (REPO / ".ci" / "run").read_text()
    assert run_tests in ci
    # the opt-in corpus test, as the README says, after the default suite
    assert "`.venv/bin/python -m pytest -m corpus`" in quick_start
    assert ci.index(".venv/bin/python -m pytest -m corpus") > ci.index(run_tests)


@pytest.mark.parametrize("args, selected", [
    ([], False), (["-m", "corpus"], True), (["--run-corpus"], True), (["-m", "not corpus"], False),
])
def test_the_corpus_test_is_opt_in(args, selected):
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *args,
                          "tests/reliability/test_corpus.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ("test_lint_and_fix_real_ml_code" in out.stdout) == selected, out.stdout + out.stderr


def test_configuration_example_is_valid():
    from mllint.run.config import tomllib  # tomli below Python 3.11

    from mllint.run.config import parse_table

    snippet = README.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    settings = parse_table(tomllib.loads(snippet)["tool"]["mllint"], REPO, None)
    assert settings.rule_options["ML201"] == {"extra-names": ["gae_returns"]}
    assert settings.hydra["config-name"] == "train"


def _writing_a_rule_example() -> str:
    section = README[README.index("## Writing a rule"):README.index("### Rule packs")]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


TRAINS_AND_EVALUATES = """
def validate(model, loader):
    model.eval()
    for x in loader:
        model(x)

def train(model, opt, loader):
    for epoch in range(10):
        for x in loader:
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        validate(model, loader)
"""


@pytest.mark.parametrize("source, rows", [
    (TRAINS_AND_EVALUATES, [3]),  # the helper's eval, spliced into the epoch loop
    (TRAINS_AND_EVALUATES.replace("        for x in loader:\n            opt", "        model.train()\n"
                                  "        for x in loader:\n            opt"), []),
    ("def evaluate(model, loader):\n    for x in loader:\n        model.eval()\n        model(x)\n", []),
])
def test_the_writing_a_rule_example_runs(monkeypatch, source, rows):
    import mllint.engine.rule
    from mllint.engine.lint import run_rules

    monkeypatch.setattr(mllint.engine.rule, "register", lambda cls: cls)  # not added to the registry
    namespace: dict = {}
    exec(compile(_writing_a_rule_example(), "README.md", "exec"), namespace)
    diagnostics, errors = run_rules(source, "example.py", "python", [(namespace["EvalNeverUndone"], {})])
    assert errors == [] and [d.start.row for d in diagnostics] == rows

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
RULE_DOCS = REPO / "rules"


@pytest.fixture
def repo() -> Path:
    return REPO


# Opt-in markers, left out of a plain `pytest` (which stays a few minutes on two cores) and run
# by CI (.ci/run): `corpus` downloads four projects and lints and fixes 2.6 M lines (about 11
# minutes, and it needs the package index); `slow` counts the work of rules on generated files of
# up to 40k lines (several minutes). `-m corpus` / `-m slow` run one group alone, `--run-corpus` /
# `--run-slow` add it to the rest.
OPT_IN = ("corpus", "slow")


def pytest_addoption(parser):
    for marker in OPT_IN:
        parser.addoption(f"--run-{marker}", action="store_true",
                         help=f"also run the tests marked `{marker}`, which `-m {marker}` runs alone")


def pytest_collection_modifyitems(config, items):
    expression = config.getoption("markexpr") or ""
    left_out = [m for m in OPT_IN if not config.getoption(f"--run-{m}") and m not in expression]
    deselected = [item for item in items if any(item.get_closest_marker(m) is not None for m in left_out)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
RULE_DOCS = REPO / "rules"


@pytest.fixture
def repo() -> Path:
    return REPO


# The corpus test downloads four projects and lints and fixes 2.6 M lines (about 11 minutes, and
# it needs the package index): opt-in, with `-m corpus` (alone) or `--run-corpus` (with the rest).
def pytest_addoption(parser):
    parser.addoption("--run-corpus", action="store_true",
                     help="also run the corpus test (tests marked `corpus`), which `-m corpus` runs alone")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-corpus") or "corpus" in (config.getoption("markexpr") or ""):
        return
    corpus = [item for item in items if item.get_closest_marker("corpus") is not None]
    if corpus:
        config.hook.pytest_deselected(items=corpus)
        items[:] = [item for item in items if item.get_closest_marker("corpus") is None]

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
RULE_DOCS = REPO / "rules"


@pytest.fixture
def repo() -> Path:
    return REPO

"""Runtime proofs: import fixtures/<CODE>/bad.py and fixed.py and run them with real PyTorch.

torch is imported unconditionally: a missing PyTorch must fail these tests, not skip them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch  # noqa: F401  (fail loudly when PyTorch is missing)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def load_fixture(code: str, name: str):
    """Import fixtures/<code>/<name>.py as a fresh module."""
    path = FIXTURES / code / f"{name}.py"
    module_name = f"_mllint_fixture_{code}_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fixture_module():
    return load_fixture


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/runtime/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.runtime)

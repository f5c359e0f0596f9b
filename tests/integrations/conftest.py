import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "precommit: runs the real pre-commit, which installs mllint into its own virtualenv "
                   "(slow; select alone with `-m precommit`, skip with `-m 'not precommit'`)")

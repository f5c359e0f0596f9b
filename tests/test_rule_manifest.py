"""The generated rule manifest (mllint/engine/manifest.py) is the registry's metadata exactly, so
configuration and cached runs, which read only the manifest, can never drift from the rules."""

from pathlib import Path

from mllint.engine import manifest
from mllint.engine.registry import rule_infos
from mllint.engine.rule import info_of
from mllint.run.rules import all_rules, manifest_source


def test_the_manifest_file_is_up_to_date():
    written = Path(manifest.__file__).read_text()
    assert written == manifest_source(), "stale: regenerate it with `python -m mllint.run.rules`"


def test_the_manifest_holds_every_rules_metadata():
    assert rule_infos() == {code: info_of(cls) for code, cls in all_rules().items()}

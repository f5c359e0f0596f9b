"""The generated rule manifest (mllint/rules_manifest.py) is the registry's metadata exactly, so
configuration and cached runs, which read only the manifest, can never drift from the rules."""

from pathlib import Path

import mllint.rule
from mllint.rule import all_rules, info_of, manifest_source, rule_infos


def test_the_manifest_file_is_up_to_date():
    written = Path(mllint.rule.__file__).with_name("rules_manifest.py").read_text()
    assert written == manifest_source(), "stale: regenerate it with `python -m mllint.rule`"


def test_the_manifest_holds_every_rules_metadata():
    assert rule_infos() == {code: info_of(cls) for code, cls in all_rules().items()}

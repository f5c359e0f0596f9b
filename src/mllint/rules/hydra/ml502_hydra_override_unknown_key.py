"""ML502 hydra-override-unknown-key: docs in rules/ML502-hydra-override-unknown-key.md."""

from __future__ import annotations

from mllint.engine.rule import register
from mllint.rules.hydra.ml501_hydra_append_existing_key import HydraRule


@register
class HydraOverrideUnknownKey(HydraRule):
    code = "ML502"
    name = "hydra-override-unknown-key"
    summary = "A Hydra override for a key the composed config does not have (or that Hydra cannot parse)."

"""ML503 hydra-missing-config: docs in rules/ML503-hydra-missing-config.md."""

from __future__ import annotations

from mllint.rule import register
from mllint.rules.ml501_hydra_append_existing_key import HydraRule


@register
class HydraMissingConfig(HydraRule):
    code = "ML503"
    name = "hydra-missing-config"
    summary = "A --config-name or config group option that does not exist in the app's config directory."

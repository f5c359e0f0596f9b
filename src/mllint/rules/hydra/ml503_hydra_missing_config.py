"""ML503 hydra-missing-config: docs in rules/ML503-hydra-missing-config.md."""

from __future__ import annotations

from mllint.analysis.hydra.lint import PYTHON_EVIDENCE, SHELL_EVIDENCE, yaml_findings
from mllint.engine.rule import register
from mllint.rules.hydra.ml501_hydra_append_existing_key import HydraRule


@register
class HydraMissingConfig(HydraRule):
    code = "ML503"
    name = "hydra-missing-config"
    summary = "A --config-name or config group option that does not exist in the app's config directory."

    # Also the defaults lists of the app's own config files.
    file_kinds = ("python", "shell", "yaml")
    # launchers (Python, shell) run an app; YAML configs have a defaults list
    evidence = {"python": PYTHON_EVIDENCE, "shell": SHELL_EVIDENCE, "yaml": ("defaults",)}

    def check_file(self, ctx) -> None:
        if ctx.kind == "yaml":
            for message, start, end in yaml_findings(ctx):
                self.report(None, message, start=start, end=end)
        else:
            super().check_file(ctx)

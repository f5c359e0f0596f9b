"""ML501 hydra-append-existing-key: docs in rules/ML501-hydra-append-existing-key.md."""

from __future__ import annotations

import libcst as cst

from mllint.diagnostics import Applicability, Edit, Fix, Location
from mllint.analysis.hydra.lint import PYTHON_CANDIDATES, PYTHON_EVIDENCE, SHELL_EVIDENCE, call_findings, shell_findings
from mllint.engine.rule import Rule, register


class HydraRule(Rule):
    """Shared by ML501-ML503: one analysis per file (mllint.hydra.lint), each rule reports its code."""

    file_kinds = ("python", "shell")
    cross_file = True  # the result depends on the app's config files
    evidence = {"python": PYTHON_EVIDENCE, "shell": SHELL_EVIDENCE}
    candidates = PYTHON_CANDIDATES

    def visit_Call(self, node: cst.Call) -> None:
        for finding in call_findings(self.ctx, node):
            self._report(finding)

    def check_file(self, ctx) -> None:
        for finding in shell_findings(ctx):
            self._report(finding)

    def _report(self, finding) -> None:
        if finding.code != self.code:
            return
        fix = self.fix_for(finding) if finding.fixable else None
        anchor = finding.arg.anchor
        if isinstance(anchor, tuple):
            self.report(None, finding.message, fix, start=anchor[0], end=anchor[1])
        else:
            self.report(anchor, finding.message, fix)

    def fix_for(self, finding):
        return None


@register
class HydraAppendExistingKey(HydraRule):
    code = "ML501"
    name = "hydra-append-existing-key"
    summary = "`+key=value` for a key the Hydra config already has: Hydra refuses it at start-up."
    fix_applicability = Applicability.SAFE

    def fix_for(self, finding):
        at = finding.arg.plus_at
        hydra = getattr(self.ctx.project, "hydra", None) or {}
        # `++` adds or overrides a key, but Hydra refuses it for config groups.
        if hydra.get("allow-double-plus") and "config group" not in finding.message:
            return Fix(Applicability.SAFE, "Use `++` to add or override the key", (Edit(at, at, "+"),))
        return Fix(Applicability.SAFE, "Drop the `+` to override the existing key",
                   (Edit(at, Location(at.row, at.column + 1), ""),))

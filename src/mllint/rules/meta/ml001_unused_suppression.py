"""ML001 unused-suppression: checked by the engine after the rules ran (engine._unused_suppressions),
since only it sees every diagnostic before suppressions are applied. Docs in
rules/ML001-unused-suppression.md."""

from mllint.diagnostics import Applicability
from mllint.engine.rule import Rule, register


@register
class UnusedSuppression(Rule):
    code = "ML001"
    name = "unused-suppression"
    summary = "A `# noqa: ML…` or `# mllint: disable=ML…` comment suppresses nothing on its line."
    fix_applicability = Applicability.SAFE
    file_kinds = ()  # never dispatched to: the engine reports it

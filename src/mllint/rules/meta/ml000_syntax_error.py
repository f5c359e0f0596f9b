"""ML000 syntax-error: reported by the engine itself when a file does not parse."""

from mllint.engine.rule import Rule, register


@register
class SyntaxErrorRule(Rule):
    code = "ML000"
    name = "syntax-error"
    summary = "The file does not parse, so no other rule could check it."
    file_kinds = ()  # never dispatched: the engine reports it while parsing

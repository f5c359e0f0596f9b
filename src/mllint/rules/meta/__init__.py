"""ML0xx: the linter's own findings (syntax errors, unused suppressions)."""

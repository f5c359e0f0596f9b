"""The engine: one source text in, diagnostics and fixed text out (read, parse once, walk once,
suppress, fix); the rule base class, the rule metadata and the rule packs. Never imports the rules,
the run or the frontends. Kept import-light: no re-exports here."""

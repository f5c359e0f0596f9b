"""Per-file facts that rules share (not verdicts), each computed once per file, lazily, and kept in
the file context's typed cache (`FileContext.memo`). Kept import-light: no re-exports here."""

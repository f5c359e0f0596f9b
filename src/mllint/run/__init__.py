"""One command's run: paths in, results out (configuration, file discovery, the per-file cache,
run replay, the rule classes a run uses). Kept import-light: no re-exports here."""

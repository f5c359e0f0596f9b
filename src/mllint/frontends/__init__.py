"""What people and tools talk to: the `mllint` command (cli), the language server (lsp), the output
formats (output) and the rule docs pages (docs). Kept import-light: no re-exports here."""

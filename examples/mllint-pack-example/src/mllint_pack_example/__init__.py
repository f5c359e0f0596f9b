"""An example mllint rule pack (see mllint's docs/rule-packs.md)."""

"""ML5xx: Hydra configs, overrides and launch commands."""

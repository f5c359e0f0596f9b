"""Hydra support for ML501-ML503: config discovery and composition (configs), apps (apps),
override checking with Hydra's own parser (check), command lines from shell scripts and Python
launchers (commands, lint). Nothing here imports or runs the linted code."""

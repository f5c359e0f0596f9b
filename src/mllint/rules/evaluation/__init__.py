"""ML8xx: evaluation and losses (activations fed to losses)."""

"""mllint: a static analyzer for machine-learning training code."""

__version__ = "0.2.0"

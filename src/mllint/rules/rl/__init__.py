"""ML2xx: reinforcement-learning targets (returns, done masks, target networks)."""

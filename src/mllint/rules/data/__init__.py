"""ML6xx: data flow across steps, epochs and workers (state, RNG, samplers)."""

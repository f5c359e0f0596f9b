"""ML7xx: the optimisation step (order of backward, clip, step, zero_grad, schedulers)."""

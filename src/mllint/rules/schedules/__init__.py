"""ML3xx: learning-rate and other schedules (counters, step totals)."""

"""ML4xx: parameters and modules (initialisation, containers, dropout)."""

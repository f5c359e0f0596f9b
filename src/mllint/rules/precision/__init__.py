"""ML1xx: mixed precision and numerics (GradScaler, overflow, division by a std)."""

"""Deterministic analyzers: one module per failure class, pure functions over the bundle."""

"""Hyperparameter sweeps: the grid, its trials, the Ray driver, and packed training."""

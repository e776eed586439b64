"""Training: the trainer and its callbacks, the optimiser, the settings and their cost."""

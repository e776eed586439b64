"""The task and its data: the alphabet, what a model must output, and batches of fresh strings."""

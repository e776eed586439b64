"""Training runs as worker processes: the store, the worker, the scheduler, state, history."""

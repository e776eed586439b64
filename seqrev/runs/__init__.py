"""Training runs as worker processes: the run store, the worker, the scheduler, saved state, history."""

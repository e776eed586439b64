"""Hyperparameter sweeps: a grid of training settings x seeds, each trial a run in the store.

``spec`` (what to sweep) -> ``store`` (the sweep's row, its trials' runs, its one driver) ->
``trial`` (one trial's training, as plain data) -> ``driver`` (the trials on Ray) ->
``bench`` (Ray against one process). Packed training of trials of one shape: ``packed_sweep``,
``packed_training``, ``packed_recurrence``, ``packed_eval``; ``coordinator`` is the Ray actor.
"""

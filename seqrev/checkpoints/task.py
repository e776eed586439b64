"""Which task a checkpoint's model was trained on: its config's, its pairs record's (a model
trained on a file needs no file to decode), or reversal for older files."""

from __future__ import annotations

from seqrev.checkpoints.store import pairs_task
from seqrev.tasks.base import LetterTask
from seqrev.tasks.registry import DEFAULT_TASK, make_task


def task_of(checkpoint) -> LetterTask:
    """The checkpoint's task over its training lengths; reversal when it saved no config.

    For a model trained on pairs, the task rebuilt from the checkpoint's record (its alphabet
    and held-out rows); CheckpointError if that record is malformed."""
    pairs = pairs_task(checkpoint) if hasattr(checkpoint, "meta") else None
    if pairs is not None:
        return pairs
    config = getattr(checkpoint, "train_config", None)
    return config.task_over_range if config is not None else make_task(DEFAULT_TASK)


def same_task(first, second) -> bool:
    """Whether two checkpoints were trained on the same task (lengths aside)."""
    return task_of(first).spec == task_of(second).spec

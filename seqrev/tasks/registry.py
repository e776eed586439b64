"""The tasks seqrev knows, and how a task is spelled as a setting (``reverse``, ``rotate:3``).

Adding a task is one module that decorates its class with ``base.register``, plus its import
here.
"""

from __future__ import annotations

import seqrev.tasks.copy
import seqrev.tasks.reverse
import seqrev.tasks.rotate
import seqrev.tasks.sort  # noqa: F401 (each registers its task)
from seqrev.tasks.base import TASKS, LetterTask
from seqrev.tasks.pairs import PAIRS_TASK

DEFAULT_TASK = "reverse"


class TaskError(ValueError):
    """A task spelled wrong, unknown, or with its option out of range."""


def task_specs() -> tuple[str, ...]:
    """Every valid spelling: each task's name, or name:k over its option's range."""
    specs = []
    for name, task_class in TASKS.items():
        if task_class.option_range:
            low, high = task_class.option_range
            specs += [f"{name}:{k}" for k in range(low, high + 1)]
        else:
            specs.append(name)
    return tuple(specs)


def make_task(spec: str, min_len: int = 1, max_len: int = 10,
              length_power: float = 0.0) -> LetterTask:
    """The task ``spec`` names, over the given lengths; TaskError in one line otherwise."""
    name, _, option = str(spec).partition(":")
    task_class = TASKS.get(name)
    if name == PAIRS_TASK:
        raise TaskError("the task 'pairs' is read from a file, not spelled as a setting: "
                        "python -m seqrev train --pairs FILE")
    if task_class is None:
        raise TaskError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    if task_class.option_range is None:
        if option:
            raise TaskError(f"the task {name!r} takes no option, got {spec!r}")
        return task_class(min_len, max_len, length_power)
    low, high = task_class.option_range
    if not option.isdigit() or not low <= int(option) <= high:
        raise TaskError(f"the task {name!r} needs k from {low} to {high} ({name}:{low}), "
                        f"got {spec!r}")
    return task_class(min_len, max_len, length_power, int(option))


def describe(spec: str) -> str:
    """The task's one-line description."""
    return TASKS[str(spec).partition(":")[0]].description

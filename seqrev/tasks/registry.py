"""The tasks seqrev knows, and how a task is spelled as a setting (``reverse``, ``rotate:3``).

Adding a task is one module that decorates its class with ``base.register``, plus its import
here.
"""

from __future__ import annotations

import seqrev.tasks.copy
import seqrev.tasks.reverse
import seqrev.tasks.rotate
import seqrev.tasks.sort  # noqa: F401 (each registers its task)
from seqrev.i18n import _
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
    name, _colon, option = str(spec).partition(":")
    task_class = TASKS.get(name)
    if name == PAIRS_TASK:
        raise TaskError(_("the task 'pairs' is read from a file, not spelled as a setting: "
                          "python -m seqrev train --pairs FILE"))
    if task_class is None:
        raise TaskError(_("unknown task {name}; choose from {names}").format(
            name=repr(name), names=", ".join(TASKS)))
    if task_class.option_range is None:
        if option:
            raise TaskError(_("the task {name} takes no option, got {spec}").format(
                name=repr(name), spec=repr(spec)))
        return task_class(min_len, max_len, length_power)
    low, high = task_class.option_range
    if not option.isdigit() or not low <= int(option) <= high:
        raise TaskError(_("the task {name} needs k from {low} to {high} ({example}), got "
                          "{spec}").format(name=repr(name), low=low, high=high,
                                           example=f"{name}:{low}", spec=repr(spec)))
    return task_class(min_len, max_len, length_power, int(option))


def describe(spec: str) -> str:
    """The task's one-line description, as written (show it with ``_()``)."""
    return TASKS[str(spec).partition(":")[0]].description

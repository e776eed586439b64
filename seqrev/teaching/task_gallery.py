"""The task gallery's data: the shipped attention models of copy, reverse and sort, each
decoding one string, with where its task says each step should read.

Copying reads the diagonal, reversing the anti-diagonal, sorting wherever the next letter in
alphabetical order is: one model, three tasks, three pictures of the same mechanism. The
chart is :func:`seqrev.charts.task_gallery.task_gallery_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import seqrev.checkpoints.store as checkpoints
from seqrev.charts.task_gallery import GalleryPanel
from seqrev.decoding.search import greedy_trace
from seqrev.i18n import N_, _
from seqrev.inspection.analysis import step_labels
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.registry import DEFAULT_TASK, describe, make_task

# (task spec, shipped checkpoint): the attention model trained on that task
GALLERY = tuple((task, checkpoints.SHIPPED_BY_TASK[task]) for task in ("copy", "reverse", "sort"))
# 10 letters, none repeated, so each of sort's steps outlines one cell
GALLERY_TEXT = "BLACKSMITH"

HEADING = N_("One model, three tasks")
SENTENCE = N_("The same attention model, trained on three tasks, decoding **{text}**: copying "
              "reads the diagonal, reversing the anti-diagonal (this model reads one column "
              "right of it; the Lesson's fourth chapter says why), and sorting reads wherever "
              "the next letter in alphabetical order is. Outlined: the letters each task says a "
              "step should read.")
NOT_SHOWN = N_("The {task} panel is not shown: {problem}")
WRONG_TASK = N_("checkpoint {name!r} was trained on {trained}, not {task}")
# the tasks' names, for extraction (each task marks its own description and outline rule)
TASK_WORDS = (N_("copy"), N_("reverse"), N_("sort"), N_("rotate"), N_("pairs"))


@dataclass(frozen=True)
class Gallery:
    """The panels that could be drawn and one line per task that could not."""

    panels: list[GalleryPanel] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def panel(model: Seq2Seq, spec: str, text: str = GALLERY_TEXT) -> GalleryPanel:
    """``model`` greedy-decoding ``text``: its attention rows and ``spec``'s alignment."""
    trace = greedy_trace(model, text)
    matrix = trace.attention_matrix()  # (steps, S)
    if matrix is None:
        raise ValueError("a plain model has no attention to draw")
    task = make_task(spec, 1, max(1, len(trace.source)))
    return GalleryPanel(task=_(spec), description=_(describe(spec)), source=trace.source,
                        matrix=matrix.tolist(), row_labels=step_labels(trace),
                        alignment=task.alignment(trace.source))


def identities(directory: Path | None = None) -> tuple[str, ...]:
    """One ``name@sha256`` per gallery checkpoint (``name@missing`` when unreadable): a cache
    key that changes when a file does, read from the headers without loading weights."""
    keys = []
    for _spec, name in GALLERY:
        try:
            digest = checkpoints.read_sidecar(name, directory).get("weights_sha256")
        except checkpoints.CheckpointError:
            digest = "missing"
        keys.append(f"{name}@{digest}")
    return tuple(keys)


def gather(text: str = GALLERY_TEXT, directory: Path | None = None,
           gallery: Sequence[tuple[str, str]] = GALLERY) -> Gallery:
    """Load each gallery checkpoint and decode ``text``; a checkpoint that is missing, fails
    to load or was trained on another task becomes a one-line problem, never an exception.
    Words in the current language (the cache key of a page must hold it)."""
    result = Gallery()
    for spec, name in gallery:
        try:
            checkpoint = checkpoints.load_checkpoint(name, directory)
        except checkpoints.CheckpointError as error:
            result.problems.append(_(NOT_SHOWN).format(task=_(spec), problem=str(error)))
            continue
        trained = checkpoint.train_config.task if checkpoint.train_config else DEFAULT_TASK
        if trained != spec:
            result.problems.append(_(NOT_SHOWN).format(task=_(spec), problem=_(
                WRONG_TASK).format(name=name, trained=trained, task=spec)))
            continue
        try:
            result.panels.append(panel(checkpoint.model, spec, text))
        except ValueError as error:
            result.problems.append(_(NOT_SHOWN).format(task=_(spec), problem=str(error)))
    return result

"""What the Train page says about a run or a race: its progress line, its lengths, its metrics.

Plain data in, text (in the current language) and tables out, so the page only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from seqrev.i18n import N_, _
from seqrev.runs.history import format_duration
from seqrev.runs.store import RunHistory, RunRecord

STARTING = N_("Starting a worker process: it loads PyTorch and builds the models before the "
              "first step ({seconds:.0f} s so far).")
QUEUED = N_("Queued, position {position}: it starts when a worker is free.")
ONE_LENGTH, LENGTH_RANGE = N_("{low} letters"), N_("{low} to {high} letters")
STATUSES = {"running": N_("Running"), "stopped": N_("Stopped"), "finished": N_("Finished"),
            "interrupted": N_("Interrupted"), "failed": N_("Failed")}
# the progress line, by (a race, still running): a race's steps are each model's
PROGRESS = {
    (True, True): N_("{status}: step {step} of {total} (each model) · {elapsed} elapsed · "
                     "about {left} left"),
    (False, True): N_("{status}: step {step} of {total} · {elapsed} elapsed · about {left} "
                      "left"),
    (True, False): N_("{status}: step {step} of {total} (each model) · {elapsed} elapsed"),
    (False, False): N_("{status}: step {step} of {total} · {elapsed} elapsed"),
}


@dataclass(frozen=True)
class Progress:
    """A progress bar's fill (0 to 1) and its text."""

    fraction: float
    text: str


def race_progress(runs: Sequence[RunRecord], now: float, queue_position: int | None = None
                  ) -> Progress:
    """The progress of ``runs`` (one run, or a race's members on the same batches) at ``now``.

    Queued: its place in the queue. Running before the first step: how long the worker has been
    starting. Otherwise the slowest member's step, the wall time, and while running an estimate
    of the time left from the pace so far.
    """
    run = runs[0]
    if run.status == "queued":
        return Progress(0.0, _(QUEUED).format(position=queue_position or "?"))
    step = min(r.steps_done for r in runs)
    wall = max(r.wall_seconds for r in runs)
    if run.status == "running" and not step:
        return Progress(0.0, _(STARTING).format(
            seconds=max(0.0, now - (run.started or run.created))))
    running = run.status == "running"
    status = STATUSES.get(run.status)
    text = _(PROGRESS[len(runs) > 1, running]).format(
        status=_(status) if status else run.status.capitalize(), step=step,
        total=run.steps_total, elapsed=format_duration(wall),
        left=format_duration(wall * (run.steps_total - step) / step) if running else "")
    return Progress(min(1.0, step / run.steps_total), text)


def lengths_text(min_len: int, max_len: int) -> str:
    """``1 to 16 letters``, or ``10 letters`` for a single length."""
    return _(ONE_LENGTH if min_len == max_len else LENGTH_RANGE).format(low=min_len,
                                                                        high=max_len)


def metrics_table(histories: Sequence[tuple[RunRecord, RunHistory]]) -> pd.DataFrame:
    """Every logged step of each run, its evaluations joined on the step, one row per step.

    Columns: run, model, then the step log's and the evaluations' columns (the evaluations'
    wall time left out: the step's own is kept).
    """
    frames = []
    for run, history in histories:
        frame = history.steps.merge(history.evals.drop(columns="wall_seconds"), on="step",
                                    how="left")
        frame.insert(0, "model", run.kind)
        frame.insert(0, "run", run.id)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

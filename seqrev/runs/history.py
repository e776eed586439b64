"""A run's stored history as what the charts draw: thinned, smoothed, with honest speed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from seqrev.i18n import N_, _
from seqrev.runs.store import RunHistory

CHART_POINTS = 600  # most points per series sent to a chart on each poll
SPEED_WINDOW = 25  # steps over which real progress per wall second is measured

T = TypeVar("T")


def downsample_indices(n: int, max_points: int = CHART_POINTS) -> list[int]:
    """At most ``max_points`` evenly spread indices into ``n`` items, first and last included."""
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if n <= max_points:
        return list(range(n))
    return [round(i * (n - 1) / (max_points - 1)) for i in range(max_points)]


def downsample(values: Sequence[T], max_points: int = CHART_POINTS) -> list[T]:
    """``values`` thinned to at most ``max_points``, keeping the first and the last."""
    return [values[i] for i in downsample_indices(len(values), max_points)]


@dataclass(frozen=True)
class HistoryView:
    """One run's history as plain lists for the charts (step series already thinned)."""

    steps: list[int]
    loss: list[float]
    smoothed_loss: list[float]
    steps_per_second: list[float]  # real progress per wall second, over SPEED_WINDOW steps
    wall_seconds: list[float]
    eval_steps: list[int]
    eval_wall_seconds: list[float]
    exact_match: list[float]
    char_accuracy: list[float]


def real_speed(steps: Sequence[int], wall: Sequence[float],
               window: int = SPEED_WINDOW) -> list[float]:
    """Steps per wall second at each point: progress over the last ``window`` steps' wall time.

    Wall time counts everything the run waited on (evaluations, a racing partner, a busy
    machine), so this is the speed a user sees, not the model's compute alone.
    """
    speeds = []
    for i, (step, seconds) in enumerate(zip(steps, wall, strict=True)):
        j = i - 1
        while j > 0 and step - steps[j] < window:
            j -= 1
        if j < 0:
            speeds.append(step / seconds if seconds > 0 else math.nan)
            continue
        elapsed = seconds - wall[j]
        speeds.append((step - steps[j]) / elapsed if elapsed > 0 else math.nan)
    return speeds


def history_view(history: RunHistory) -> HistoryView:
    """Chart series from a stored history (thin it when reading: ``store.history(id, N)``)."""
    steps, evals = history.steps, history.evals
    step_list = [int(s) for s in steps["step"]]
    wall = [float(w) for w in steps["wall_seconds"]]
    return HistoryView(
        steps=step_list,
        loss=[float(v) for v in steps["loss"]],
        smoothed_loss=[float(v) for v in steps["smoothed_loss"]],
        steps_per_second=real_speed(step_list, wall),
        wall_seconds=wall,
        eval_steps=[int(s) for s in evals["step"]],
        eval_wall_seconds=[float(w) for w in evals["wall_seconds"]],
        exact_match=[float(v) for v in evals["exact_match"]],
        char_accuracy=[float(v) for v in evals["char_accuracy"]],
    )


def format_duration(seconds: float | None) -> str:
    """``75.4`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``None`` -> ``"?"``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


MILESTONES = (0.95, 0.99)  # held-out exact match: the plain and the attention targets
REACHED = N_("{target:.0%} at step {step:,} ({time})")
NOT_YET = N_("Exact match has not reached {target} yet.")
FIRST_REACHED, FIRST_REACHED_NOT_YET = N_("First reached {parts}."), N_(
    "First reached {parts}; not yet {target}.")


def milestones_line(reached: dict[float, tuple[int, float] | None]) -> str:
    """When held-out exact match first reached each milestone: the time to a good model, in
    the current language."""
    parts = [_(REACHED).format(target=target, step=found[0], time=format_duration(found[1]))
             for target, found in reached.items() if found is not None]
    missing = [f"{target:.0%}" for target, found in reached.items() if found is None]
    if not parts:
        return _(NOT_YET).format(target=missing[0])
    if missing:
        return _(FIRST_REACHED_NOT_YET).format(parts=" · ".join(parts), target=missing[0])
    return _(FIRST_REACHED).format(parts=" · ".join(parts))

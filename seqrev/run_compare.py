"""The runs table: one row per run, with only the settings that differ between runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from seqrev.run_history import format_duration
from seqrev.runs import RunRecord
from seqrev.settings import all_settings, values_of


def differing_settings(runs: Sequence[RunRecord]) -> list[str]:
    """Names of the settings whose values are not the same in every run (model kind aside)."""
    if len(runs) < 2:
        return []
    values = [values_of(r.model_config, r.train_config) for r in runs]
    return [s.name for s in all_settings()
            if s.name != "kind" and len({v[s.name] for v in values}) > 1]


def run_label(run: RunRecord, shown: Sequence[str] = ()) -> str:
    """``r8x… plain · lr 0.001``: the id, the model and the differing settings' values."""
    by_name = {s.name: s for s in all_settings()}
    values = values_of(run.model_config, run.train_config)
    parts = [f"{by_name[name].query_key} {by_name[name].format(values[name])}"
             for name in shown]
    return " · ".join([f"{run.id} {run.kind}", *parts])


def _status_text(run: RunRecord, queue_position: int | None) -> str:
    if run.status == "queued" and queue_position is not None:
        return f"queued, position {queue_position}"
    return run.status


def _reached_text(found: tuple[int, float] | None) -> str:
    return "" if found is None else f"{format_duration(found[1])} (step {found[0]:,})"


def runs_frame(runs: Sequence[RunRecord], queue_positions: dict[str, int] | None = None,
               firsts: dict[float, dict[str, tuple[int, float]]] | None = None) -> pd.DataFrame:
    """The table of the Runs view, newest first.

    ``firsts`` maps an exact-match milestone to each run's first (step, wall seconds) there
    (``RunStore.first_reaching``); each milestone becomes a column, the time to a good model.
    """
    shown = differing_settings(runs)
    by_name = {s.name: s for s in all_settings()}
    rows = []
    for run in runs:
        values = values_of(run.model_config, run.train_config)
        started = run.started or run.created
        rows.append({
            "id": run.id,
            "status": _status_text(run, (queue_positions or {}).get(run.id)),
            "model": run.kind,
            **{by_name[name].label: by_name[name].format(values[name]) for name in shown},
            "steps": f"{run.steps_done}/{run.steps_total}",
            "best exact": run.best_exact_match,
            **{f"to {target:.0%}": _reached_text(found.get(run.id))
               for target, found in (firsts or {}).items()},
            "wall time": format_duration(run.wall_seconds),
            "steps/s": run.steps_per_second,
            "started": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M"),
            "race": run.group_id or "",
            "checkpoint": run.checkpoint or "",
        })
    frame = pd.DataFrame(rows)
    return frame.iloc[::-1].reset_index(drop=True) if len(frame) else frame

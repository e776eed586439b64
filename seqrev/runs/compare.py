"""The runs table: one row per run, with only the settings that differ between runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from seqrev.i18n import N_, _
from seqrev.runs.history import MILESTONES, format_duration
from seqrev.runs.store import RunRecord
from seqrev.tables import ColumnSpec
from seqrev.training.settings import all_settings, values_of


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
        return f"queued #{queue_position}"
    return run.status


def _reached_text(found: tuple[int, float] | None) -> str:
    return "" if found is None else format_duration(found[1])


# a milestone column's words, filled with its target
MILESTONE_HEADER = N_("to {target}")
MILESTONE_HELP = N_("Wall time until held-out exact match first reached {target} (empty: not "
                    "yet).")
MILESTONE_TARGETS = {f"to {target:.0%}": f"{target:.0%}" for target in MILESTONES}
# The table's columns, most useful first: whatever a narrow window scrolls out of sight is last.
# Headers and help are in English here (marked for the catalogues); runs_columns translates them.
RUN_COLUMNS = (
    ColumnSpec("id", N_("run"), N_("The run's id: open it on the Train page."), 95),
    ColumnSpec("model", N_("model"), N_("plain, attention or transformer"), 85),
    ColumnSpec("status", N_("status"), N_("queued (with its place), running, stopped, finished, "
                                          "interrupted or failed"), 100),
    ColumnSpec("steps", N_("steps"), N_("Steps done of the run's total."), 85),
    ColumnSpec("best exact", N_("best"), N_("The best held-out exact match so far."), 60,
               "percent"),
    *(ColumnSpec(name, MILESTONE_HEADER.format(target=target),
                 MILESTONE_HELP.format(target=target), 70)
      for name, target in MILESTONE_TARGETS.items()),
    ColumnSpec("wall time", N_("time"), N_("Wall time the run has trained."), 60),
    ColumnSpec("started", N_("started"), N_("When the run started (UTC)."), 95),
    ColumnSpec("race", N_("race"), N_("Runs with the same race id trained side by side on the "
                                      "same batches."), 95),
    ColumnSpec("settings", N_("settings"), N_("The settings that differ between the runs listed "
                                              "(steps are in the steps column)."), 170),
    ColumnSpec("checkpoint", N_("saved as"), N_("The checkpoint this run was saved as."), 110),
)
OPTIONAL_COLUMNS = ("race", "settings", "checkpoint")  # shown only when a row has a value


def runs_frame(runs: Sequence[RunRecord], queue_positions: dict[str, int] | None = None,
               firsts: dict[float, dict[str, tuple[int, float]]] | None = None) -> pd.DataFrame:
    """The table of the Runs view, newest first; its columns are described by ``RUN_COLUMNS``.

    ``firsts`` maps an exact-match milestone to each run's first (step, wall seconds) there
    (``RunStore.first_reaching``); each milestone becomes a column, the time to a good model.
    The settings that differ between runs share one column, spelled as their URL keys.
    """
    shown = [name for name in differing_settings(runs) if name != "steps"]
    rows = []
    for run in runs:
        started = run.started or run.created
        rows.append({
            "id": run.id,
            "model": run.kind,
            "status": _status_text(run, (queue_positions or {}).get(run.id)),
            "steps": f"{run.steps_done}/{run.steps_total}",
            "best exact": run.best_exact_match,
            **{f"to {target:.0%}": _reached_text(found.get(run.id))
               for target, found in (firsts or {}).items()},
            "wall time": format_duration(run.wall_seconds),
            "started": datetime.fromtimestamp(started, UTC).strftime("%m-%d %H:%M"),
            "race": run.group_id or "",
            "settings": run_label(run, shown).partition(" · ")[2],
            "checkpoint": run.checkpoint or "",
        })
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.drop(columns=[c for c in OPTIONAL_COLUMNS if not frame[c].any()])
    return frame.iloc[::-1].reset_index(drop=True) if len(frame) else frame


def shown_spec(spec: ColumnSpec) -> ColumnSpec:
    """``spec`` with its header and help in the current language."""
    target = MILESTONE_TARGETS.get(spec.name)
    if target is not None:
        return dataclasses.replace(spec, header=_(MILESTONE_HEADER).format(target=target),
                                   help=_(MILESTONE_HELP).format(target=target))
    return dataclasses.replace(spec, header=_(spec.header), help=_(spec.help))


def runs_columns(frame: pd.DataFrame) -> list[ColumnSpec]:
    """The specs of ``frame``'s columns, in the table's order and the current language."""
    return [shown_spec(spec) for spec in RUN_COLUMNS if spec.name in frame.columns]

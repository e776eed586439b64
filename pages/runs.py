"""Runs: every training run, from the app or the command line; overlay, resume, delete."""

from __future__ import annotations

import streamlit as st

import seqrev.runs.scheduler as scheduler
from pages.common import escape_markdown, require_router
from pages.run_common import can_control, open_store, tokens
from pages.widgets import column_config, report_download
from seqrev.charts.runs import METRICS, X_AXES, compare_figure
from seqrev.runs.compare import differing_settings, run_label, runs_columns, runs_frame
from seqrev.runs.history import CHART_POINTS, MILESTONES, history_view
from seqrev.runs.store import RunStore, RunStoreError
from seqrev.tables import TABLE_WIDTH, total_width

require_router("pages/runs.py")

MAX_OVERLAID = 10
TABLE_SECONDS = 2.0  # the table's refresh while runs are queued or training


def table(store: RunStore, runs) -> None:
    """Every run, newest first, with only the settings that differ between runs."""
    if any(run.status in ("queued", "running") for run in runs):
        st.fragment(run_every=TABLE_SECONDS)(live_table)(store)
    else:
        draw_table(store, runs)


def live_table(store: RunStore) -> None:
    """The table, re-read from the store while runs are queued or training."""
    try:
        draw_table(store, store.list_runs())
    except RunStoreError as error:
        st.error(f"Could not read the runs: {escape_markdown(error, 300)}")


def draw_table(store: RunStore, runs) -> None:
    try:
        positions = {run.id: store.queue_position(run.id) for run in runs
                     if run.status == "queued"}
        firsts = {target: store.first_reaching(target) for target in MILESTONES}
    except RunStoreError as error:
        st.error(f"Could not read the runs: {escape_markdown(error, 300)}")
        return
    frame = runs_frame(runs, positions, firsts)
    columns = runs_columns(frame)
    st.dataframe(frame, hide_index=True, width="stretch", column_order=[c.name for c in columns],
                 column_config=column_config(columns, pinned="id"))
    if total_width(columns) > TABLE_WIDTH:
        st.caption("Scroll the table sideways for more columns; the run id stays in view.")


def pick(runs) -> list:
    """The runs to overlay: the newest three by default."""
    by_id = {run.id: run for run in runs}
    labels = {run.id: run_label(run, differing_settings(runs)) for run in runs}
    newest = [run.id for run in reversed(runs)]
    chosen = st.multiselect("Runs to compare", newest, default=newest[:3],
                            format_func=labels.get, key="runs_chosen",
                            max_selections=MAX_OVERLAID)
    return [by_id[run_id] for run_id in chosen]


def overlay(store: RunStore, chosen) -> None:
    """The chosen runs' curves on one chart, against steps or wall time."""
    shown = differing_settings(chosen)
    series = {run_label(run, shown): history_view(store.history(run.id, CHART_POINTS))
              for run in chosen}
    metric_col, axis_col = st.columns([3, 2])
    metric = metric_col.segmented_control(
        "Curve", list(METRICS), format_func=lambda m: METRICS[m][0], key="runs_metric",
        default="exact_match", required=True)
    x_axis = axis_col.segmented_control("Against", list(X_AXES), format_func=X_AXES.get,
                                        key="runs_x_axis", default="step", required=True)
    st.plotly_chart(compare_figure(series, metric, x_axis), width="stretch",
                    key="runs_compare_chart")


def actions(store: RunStore, run) -> None:
    """Open, resume or delete one selected run."""
    control = can_control(store, run)
    token = tokens().get(run.id)
    query = {"run": run.id, **({"token": token} if token else {})}
    row = st.container(horizontal=True)
    row.page_link("pages/train.py", label=f"Open {run.id} on the Train page",
                  icon=":material/open_in_new:", query_params=query)
    if row.button("Resume", key="runs_resume", icon=":material/resume:",
                  disabled=not control or not scheduler.can_resume(run)):
        scheduler.resume(store, run)
        st.rerun()
    if row.button("Stop", key="runs_stop", icon=":material/stop:",
                  disabled=not control or run.status not in ("queued", "running")):
        store.request_stop(run.id)
        st.rerun()
    sure = st.checkbox(f"Yes, delete run {run.id} and its history", key=f"runs_sure_{run.id}",
                       disabled=not control or run.status == "running")
    if st.button("Delete", key="runs_delete", icon=":material/delete:",
                 disabled=not (control and sure) or run.status == "running"):
        store.delete(run.id)
        st.rerun()
    report_download(store, run, key=f"runs_report_{run.id}")
    if run.sweep_id and run.status in scheduler.RESUMABLE:
        st.caption("A sweep's trial: resuming its sweep carries it on (Sweep page).")
    if not control:
        st.caption("Read-only: this browser did not start this run (open it with its "
                   "control link to act on it).")


def page() -> None:
    st.title("Runs")
    st.markdown("Every training run, from this app or from `python -m seqrev train`. Pick "
                "runs to lay their curves over each other, against steps or wall time; pick one "
                "to open, resume, stop or delete it. A race is two runs with the same race id.")
    store = open_store()
    if store is None:
        return
    scheduler.try_launch_pending(store)
    try:
        runs = store.list_runs()
    except RunStoreError as error:
        st.error(f"Could not read the runs: {escape_markdown(error, 300)}")
        return
    if not runs:
        st.info("No runs yet: start one on the Train page.")
        return
    table(store, runs)
    chosen = pick(runs)
    if chosen:
        overlay(store, chosen)
    st.subheader("One run")
    by_id = {run.id: run for run in runs}
    target = st.selectbox("Run", [run.id for run in reversed(runs)], key="runs_target",
                          format_func=lambda run_id: run_label(by_id[run_id]))
    actions(store, by_id[target])


page()

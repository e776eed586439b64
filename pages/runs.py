"""Runs: every training run, from the app or the command line; overlay, resume, delete."""

from __future__ import annotations

import dataclasses

import streamlit as st

import seqrev.runs.scheduler as scheduler
from pages.common import escape_markdown, require_router
from pages.run_common import can_control, open_store, tokens
from pages.widgets import column_config, report_download
from seqrev.charts.runs import METRICS, X_AXES, compare_figure
from seqrev.i18n import N_, _
from seqrev.runs.compare import differing_settings, run_label, runs_columns, runs_frame
from seqrev.runs.history import CHART_POINTS, MILESTONES, history_view
from seqrev.runs.store import RunStore, RunStoreError
from seqrev.tables import TABLE_WIDTH, total_width

require_router("pages/runs.py")

MAX_OVERLAID = 10
TABLE_SECONDS = 2.0  # the table's refresh while runs are queued or training
INTRO = N_("Every training run, from this app or from `python -m seqrev train`. Pick runs to "
           "lay their curves over each other, against steps or wall time; pick one to open, "
           "resume, stop or delete it. A race is two runs with the same race id.")
READ_ERROR = N_("Could not read the runs: {error}")
STATUSES = {"queued": N_("queued"), "running": N_("running"), "stopped": N_("stopped"),
            "finished": N_("finished"), "interrupted": N_("interrupted"), "failed": N_("failed")}
# seqrev.runs.compare.RUN_COLUMNS' milestone columns, whose words carry the milestone
MILESTONE_HEADER = N_("to {target}")
MILESTONE_HELP = N_("Wall time until held-out exact match first reached {target} (empty: not "
                    "yet).")


def status_text(status: str, queue_position: int | None = None) -> str:
    """A run's status in the reader's language; a queued run with its place in the queue."""
    if status == "queued" and queue_position is not None:
        return _("queued #{n}").format(n=queue_position)
    return _(STATUSES[status]) if status in STATUSES else status


def label(run, shown=()) -> str:
    """``run_label`` with the model kind in the reader's language."""
    text, head = run_label(run, shown), f"{run.id} {run.kind}"
    return f"{run.id} {_(run.kind)}{text[len(head):]}" if text.startswith(head) else text


def shown_columns(columns):
    """The table's column specs with headers and help in the reader's language (the milestone
    columns' words are built from their target, so they go through a template here)."""
    shown = []
    for spec in columns:
        target = spec.name.removeprefix("to ") if spec.name.startswith("to ") else None
        if target is not None and spec.header == spec.name:
            spec = dataclasses.replace(spec, header=_(MILESTONE_HEADER).format(target=target),
                                       help=_(MILESTONE_HELP).format(target=target))
        shown.append(spec)
    return shown


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
        st.error(_(READ_ERROR).format(error=escape_markdown(error, 300)))


def draw_table(store: RunStore, runs) -> None:
    try:
        positions = {run.id: store.queue_position(run.id) for run in runs
                     if run.status == "queued"}
        firsts = {target: store.first_reaching(target) for target in MILESTONES}
    except RunStoreError as error:
        st.error(_(READ_ERROR).format(error=escape_markdown(error, 300)))
        return
    frame = runs_frame(runs, positions, firsts)
    if len(frame):  # the words in the cells, in the reader's language (the same in English)
        statuses = {run.id: status_text(run.status, positions.get(run.id)) for run in runs}
        frame["status"] = frame["id"].map(statuses)
        frame["model"] = frame["model"].map(_)
    columns = runs_columns(frame)
    st.dataframe(frame, hide_index=True, width="stretch", column_order=[c.name for c in columns],
                 column_config=column_config(shown_columns(columns), pinned="id"))
    if total_width(columns) > TABLE_WIDTH:
        st.caption(_("Scroll the table sideways for more columns; the run id stays in view."))


def pick(runs) -> list:
    """The runs to overlay: the newest three by default."""
    by_id = {run.id: run for run in runs}
    labels = {run.id: label(run, differing_settings(runs)) for run in runs}
    newest = [run.id for run in reversed(runs)]
    chosen = st.multiselect(_("Runs to compare"), newest, default=newest[:3],
                            format_func=labels.get, key="runs_chosen",
                            max_selections=MAX_OVERLAID)
    return [by_id[run_id] for run_id in chosen]


def overlay(store: RunStore, chosen) -> None:
    """The chosen runs' curves on one chart, against steps or wall time."""
    shown = differing_settings(chosen)
    series = {label(run, shown): history_view(store.history(run.id, CHART_POINTS))
              for run in chosen}
    metric_col, axis_col = st.columns([3, 2])
    # labels looked up when drawn, so format_func is the same words wherever it is called
    metrics = {metric: _(title) for metric, (title, _axis) in METRICS.items()}
    axes = {axis: _(title) for axis, title in X_AXES.items()}
    metric = metric_col.segmented_control(
        _("Curve"), list(METRICS), format_func=metrics.get, key="runs_metric",
        default="exact_match", required=True)
    x_axis = axis_col.segmented_control(_("Against"), list(X_AXES), format_func=axes.get,
                                        key="runs_x_axis", default="step", required=True)
    st.plotly_chart(compare_figure(series, metric, x_axis), width="stretch",
                    key="runs_compare_chart")


def actions(store: RunStore, run) -> None:
    """Open, resume or delete one selected run."""
    control = can_control(store, run)
    token = tokens().get(run.id)
    query = {"run": run.id, **({"token": token} if token else {})}
    row = st.container(horizontal=True)
    row.page_link("pages/train.py", label=_("Open {run} on the Train page").format(run=run.id),
                  icon=":material/open_in_new:", query_params=query)
    if row.button(_("Resume"), key="runs_resume", icon=":material/resume:",
                  disabled=not control or not scheduler.can_resume(run)):
        scheduler.resume(store, run)
        st.rerun()
    if row.button(_("Stop"), key="runs_stop", icon=":material/stop:",
                  disabled=not control or run.status not in ("queued", "running")):
        store.request_stop(run.id)
        st.rerun()
    sure = st.checkbox(_("Yes, delete run {run} and its history").format(run=run.id),
                       key=f"runs_sure_{run.id}",
                       disabled=not control or run.status == "running")
    if st.button(_("Delete"), key="runs_delete", icon=":material/delete:",
                 disabled=not (control and sure) or run.status == "running"):
        store.delete(run.id)
        st.rerun()
    report_download(store, run, key=f"runs_report_{run.id}")
    if run.sweep_id and run.status in scheduler.RESUMABLE:
        st.caption(_("A sweep's trial: resuming its sweep carries it on (Sweep page)."))
    if not control:
        st.caption(_("Read-only: this browser did not start this run (open it with its "
                     "control link to act on it)."))


def page() -> None:
    st.title(_("Runs"))
    st.markdown(_(INTRO))
    store = open_store()
    if store is None:
        return
    scheduler.try_launch_pending(store)
    try:
        runs = store.list_runs()
    except RunStoreError as error:
        st.error(_(READ_ERROR).format(error=escape_markdown(error, 300)))
        return
    if not runs:
        st.info(_("No runs yet: start one on the Train page."))
        return
    table(store, runs)
    chosen = pick(runs)
    if chosen:
        overlay(store, chosen)
    st.subheader(_("One run"))
    by_id = {run.id: run for run in runs}
    labels = {run.id: label(run) for run in runs}
    target = st.selectbox(_("Run"), [run.id for run in reversed(runs)], key="runs_target",
                          format_func=labels.get)
    actions(store, by_id[target])


page()

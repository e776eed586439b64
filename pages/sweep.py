"""Sweep: how big must the plain model's vector be for N letters, and does attention care?"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

import seqrev.inspection.capacity as capacity
import seqrev.sweeps.driver as driver
from pages.common import escape_markdown, require_router
from pages.run_common import is_local_user, open_store
from seqrev.charts.sweep import capacity_curve_chart, capacity_heatmap
from seqrev.models.kinds import KIND_NAMES
from seqrev.sweeps.spec import GRID_LIMIT, TOTAL_STEPS_LIMIT, SweepError, SweepSpec, size_problem
from seqrev.sweeps.store import (
    DRIVEN,
    create_sweep,
    get_sweep,
    list_sweeps,
    progress,
    request_stop,
    results,
    trial_runs,
)
from seqrev.tasks.registry import DEFAULT_TASK, task_specs

require_router("pages/sweep.py")

SHIPPED = "shipped"
HIDDEN_CHOICES = [4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
LENGTH_CHOICES = list(range(2, 33))
ACTIVE = DRIVEN  # a driver holds the sweep: Stop on, Resume off
CONFIRM_KEY = "sweep_confirm_size"
MISSING = "—"  # a cell with no value yet (never "None")


def figures(frame: pd.DataFrame, key: str) -> None:
    """Both models' heatmaps, the capacity curve and the hidden-size-per-letter table."""
    if frame.empty:
        st.info("No finished trials yet: the figures fill in as trials finish.")
        return
    train_maxes = sorted(int(m) for m in frame["max_len"].unique())
    pick_col, scope_col = st.columns(2)
    train_max = pick_col.selectbox(
        "Heatmaps: trials trained up to", [None, *train_maxes], key=f"{key}_max",
        format_func=lambda m: "any length (best trial per cell)" if m is None else f"{m} letters")
    within = scope_col.toggle("Curve: count a length only inside its trial's training range",
                              value=True, key=f"{key}_within")
    table = capacity.aggregate(frame, max_len=train_max)
    kinds = [kind for kind in KIND_NAMES if kind in set(frame["kind"])]
    for column, kind in zip(st.columns(max(1, len(kinds))), kinds, strict=False):
        column.plotly_chart(capacity_heatmap(table, kind, train_max=train_max),
                            width="stretch", key=f"{key}_heat_{kind}")
    curve = capacity.capacity_curve(frame, within_training=within)
    hidden_sizes = sorted(int(h) for h in frame["hidden_dim"].unique())
    st.plotly_chart(capacity_curve_chart(curve, hidden_sizes=hidden_sizes), width="stretch",
                    key=f"{key}_curve")
    longest = capacity.longest_reached(frame, within_training=within)
    st.caption("Per hidden size: the longest N such that every length 1..N reaches 95% exact "
               "match (`tested up to` caps it), and the hidden size that costs per letter. "
               "The curve above reads the same way.")
    st.dataframe(longest_table(longest), hide_index=True)


def longest_table(longest: pd.DataFrame) -> pd.DataFrame:
    """``capacity.longest_reached`` for display: a size that never reached 95% says so."""
    return pd.DataFrame({
        "model": longest["kind"], "hidden": longest["hidden_dim"],
        "longest N at 95%": [str(n) if n else "none (below 95% at length 1)"
                             for n in longest["longest"]],
        "hidden per letter": [MISSING if pd.isna(v) else f"{v:.1f}"
                              for v in longest["hidden_per_letter"]],
        "tested up to": longest["tested_up_to"]})


def shipped() -> None:
    try:
        frame = capacity.load_results()
    except ValueError as error:
        st.error(f"The shipped sweep can't be shown: {escape_markdown(error)}")
        return
    trials = frame.drop_duplicates(["kind", "hidden_dim", "max_len", "seed"])
    st.caption(f"The shipped sweep (`sweeps/capacity.csv`, {len(trials)} trials): both models, "
               f"hidden sizes {', '.join(map(str, sorted(trials['hidden_dim'].unique())))}, "
               f"trained on lengths 1 to {', '.join(map(str, sorted(trials['max_len'].unique())))}"
               f", each scored on fresh strings up to twice its training maximum. docs/sweeps.md "
               f"gives its command and wall time.")
    figures(frame, SHIPPED)


def progress_panel(store, sweep_id: str, shown_status: str | None = None) -> None:
    """Counts, ETA and figures of one sweep; re-runs every 2 s while the sweep is active.

    When the status moves on from ``shown_status`` (the one the page drew its picker and
    polling with), the whole page reruns, so the picker's label and the polling follow it.
    """
    try:
        record = get_sweep(sweep_id, store)
        counts = progress(record.id, store)
        frame = results(record.id, store)
    except SweepError as error:
        st.error(escape_markdown(error))
        return
    if shown_status is not None and record.status != shown_status:
        st.rerun(scope="app")
    cols = st.columns(5)
    cols[0].metric("Status", record.status)
    cols[1].metric("Finished", f"{counts.done} / {counts.total}")
    cols[2].metric("Running", counts.running)
    cols[3].metric("Queued", counts.queued)
    cols[4].metric("ETA", "—" if counts.eta_seconds is None else f"{counts.eta_seconds:.0f} s")
    if record.status == "starting":
        st.info("The sweep's driver is starting Ray; trials begin in a few seconds.")
    if record.note and record.status == "interrupted":
        st.warning("The sweep's driver stopped:")
        st.code(record.note, language=None)
    if counts.failed:
        st.warning(f"{counts.failed} trial(s) failed (their worker died twice, training "
                   "raised, or the disk was full); the Runs page shows each one's error.")
    st.progress(counts.done / counts.total if counts.total else 0.0)
    axes = "; ".join(f"{name}: {', '.join(map(str, values))}"
                     for name, values in record.spec.grid.items())
    st.caption(f"Grid: {escape_markdown(axes)}. {record.spec.steps} steps per trial"
               + (f", early stop at {record.spec.target:.0%} held-out exact"
                  if record.spec.target else "") + ".")
    controls(store, record)
    figures(frame, f"sweep_{record.id}")
    trials(store, record)


def trials(store, record) -> None:
    """The sweep's runs; any one opens on the Train page like any other run."""
    runs = list(trial_runs(record.id, store).values())
    if not runs:
        return
    with st.expander(f"Trials ({len(runs)} started)"):
        st.dataframe(pd.DataFrame([{
            "run": run.id, "model": run.kind, "hidden": run.model_config.hidden_dim,
            "lengths": f"{run.train_config.min_len}-{run.train_config.max_len}",
            "seed": run.train_config.seed, "status": run.status, "steps": run.steps_done,
            "best held-out exact": MISSING if run.best_exact_match is None
            else f"{run.best_exact_match:.1%}", "seconds": round(run.wall_seconds, 1),
        } for run in runs]), hide_index=True)
        chosen = st.selectbox("Open a trial", [run.id for run in runs], key="sweep_trial")
        st.page_link("pages/train.py", label=f"Open {chosen} on the Train page",
                     icon=":material/open_in_new:", query_params={"run": chosen})


def controls(store, record) -> None:
    if not is_local_user():
        return
    row = st.container(horizontal=True)
    if row.button("Stop", key="sweep_stop", icon=":material/stop:",
                  disabled=record.status not in ACTIVE):
        request_stop(record.id, store)
        st.rerun()
    if row.button("Resume", key="sweep_resume", icon=":material/resume:",
                  disabled=record.status in ACTIVE or record.status == "finished"):
        launch(store, record.id, st.session_state.get("sweep_cpus", 1))


def launch(store, sweep_id: str, cpus: int) -> None:
    log = store.root / f"sweep-{sweep_id}.log"
    try:
        driver.launch_driver(sweep_id, cpus=int(cpus), log_path=log)
    except (SweepError, OSError) as error:
        st.error(f"The sweep's driver did not start: {escape_markdown(error, 300)}")
        return
    st.query_params["sweep"] = sweep_id
    st.rerun()


def start_form(store) -> None:
    """A small sweep from the page: grid over hidden size, training length, model and seed."""
    if not is_local_user():
        st.caption("Starting sweeps is only open to a browser on this machine.")
        return
    with st.form("sweep_form"):
        cols = st.columns(3)
        hidden = cols[0].multiselect("Hidden sizes", HIDDEN_CHOICES, default=[16, 64])
        lengths = cols[1].multiselect("Train on lengths 1 to", LENGTH_CHOICES, default=[5, 10])
        kinds = cols[2].multiselect("Models", list(KIND_NAMES), default=list(KIND_NAMES))
        tasks = st.multiselect("Tasks", task_specs(), default=[DEFAULT_TASK],
                               help="Each trial trains on one task; several tasks multiply "
                                    "the grid.")
        cols = st.columns(4)
        seeds = cols[0].number_input("Seeds", 1, 10, 1)
        steps = cols[1].number_input("Steps per trial", 10, 100_000, 300, step=100)
        target = cols[2].number_input("Early stop at held-out exact (0 = off)", 0.0, 1.0, 0.0,
                                      step=0.01)
        cpus = cols[3].number_input("Trials at once (local Ray CPUs)", 1,
                                    max(1, os.cpu_count() or 1), 1, key="sweep_cpus")
        address = st.text_input("Ray cluster address (empty: a local Ray on this machine; "
                                "or set RAY_ADDRESS)", "")
        confirmed = st.checkbox(
            f"Start it even if it is huge (over {GRID_LIMIT:,} trials or "
            f"{TOTAL_STEPS_LIMIT:,} steps in all; the CLI's --yes)", key=CONFIRM_KEY)
        submitted = st.form_submit_button("Start the sweep", icon=":material/play_arrow:")
    if not submitted:
        return
    missing = [name for name, chosen in (("a hidden size", hidden), ("a training length", lengths),
                                         ("a model", kinds), ("a task", tasks)) if not chosen]
    if missing:
        st.error("Choose " + ", ".join(missing) + ".")
        return
    by_task = {} if tasks == [DEFAULT_TASK] else {"task": tuple(tasks)}  # the default: implied
    spec = SweepSpec(
        grid={"max_len": tuple(sorted(lengths)), "kind": tuple(kinds),
              "hidden_dim": tuple(sorted(hidden)), "seed": tuple(range(int(seeds))), **by_task},
        steps=int(steps), target=float(target) or None, eval_every=min(100, int(steps)))
    problem = size_problem(spec)
    if problem and not confirmed:
        st.warning(f"Not started: {problem}. Tick \"Start it even if it is huge\" and press "
                   "Start again to run it anyway.")
        return
    try:
        address = driver.resolve_address(address.strip() or None)
        if address:
            driver.check_address(address)
        record = create_sweep(spec, yes=confirmed, address=address, store=store)
    except SweepError as error:
        st.error(escape_markdown(error))
        return
    launch(store, record.id, cpus)


st.title("Sweep: how big must the hidden vector be for N letters?")
st.markdown(
    "The plain model carries the whole string in one hidden vector; attention reads every "
    "input letter again at each step. A sweep trains both at many hidden sizes and training "
    "lengths (each trial a run, on Ray), scores each on fresh strings up to twice its "
    "training length, and draws where each model reaches **95% exact match**.")
store = open_store()
records = []
if store is not None:
    try:
        records = list_sweeps(store)
    except SweepError as error:
        st.error(escape_markdown(error))
ids = [SHIPPED] + [r.id for r in records]
statuses = {r.id: r.status for r in records}
wanted = st.query_params.get("sweep", SHIPPED)
if wanted not in ids:
    st.error(f"No sweep with id {escape_markdown(wanted, max_len=40)}; showing the shipped one.")
    wanted = SHIPPED
choice = st.selectbox(
    "Results", ids, index=ids.index(wanted), key=f"sweep_choice_{wanted}",
    format_func=lambda i: "the shipped sweep" if i == SHIPPED else f"{i} ({statuses[i]})")
if choice != wanted:
    st.query_params["sweep"] = choice
    st.rerun()
if choice == SHIPPED:
    shipped()
else:
    polling = statuses.get(choice) in (*ACTIVE, "created")  # created: its driver may start
    st.fragment(run_every=2.0 if polling else None)(progress_panel)(
        store, choice, statuses.get(choice))
if store is not None:
    with st.expander("Start a sweep", expanded=False):
        start_form(store)
        st.caption("The same from the shell: `python -m seqrev sweep run --grid max_len=5,10 "
                   "--grid kind=plain,attention --grid hidden_dim=16,64 --steps 300`")

"""Sweep: how big must the plain model's vector be for N letters, and does attention care?"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

import seqrev.inspection.capacity as capacity
import seqrev.sweeps.driver as driver
from pages.common import escape_markdown, require_router
from pages.run_common import is_local_user, open_store
from seqrev.charts.sweep import capacity_curve_chart, capacity_heatmap, seed_spread_chart
from seqrev.i18n import N_, _, current_language
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
LIST_SEPARATOR = N_(", ")  # between the items of a list in a sentence
STATUSES = {"created": N_("created"), "starting": N_("starting"), "running": N_("running"),
            "stopping": N_("stopping"), "stopped": N_("stopped"), "finished": N_("finished"),
            "interrupted": N_("interrupted"), "failed": N_("failed"), "queued": N_("queued")}
# the grid's axes that the form makes, named in the caption (the CLI's names, in English)
AXES = {"max_len": N_("max_len"), "kind": N_("kind"), "hidden_dim": N_("hidden_dim"),
        "seed": N_("seed"), "task": N_("task")}
INTRO = N_(
    "The plain model carries the whole string in one hidden vector; attention reads every "
    "input letter again at each step. A sweep trains both at many hidden sizes and training "
    "lengths (each trial a run, on Ray), scores each on fresh strings up to twice its "
    "training length, and draws where each model reaches **95% exact match**.")


def status_text(status: str) -> str:
    """A sweep's or a trial's status in the reader's language."""
    return _(STATUSES[status]) if status in STATUSES else status


def listed(items) -> str:
    return _(LIST_SEPARATOR).join(items)


def translated(options):
    """A format_func showing each option in the reader's language, looked up as it is drawn
    (so it gives the same words wherever Streamlit calls it)."""
    return {option: _(option) for option in options}.get


def number(value: int) -> str:
    """A whole number with thousands separators (12,000), as both languages write it."""
    return f"{value:,}"


def figures(frame: pd.DataFrame, key: str) -> None:
    """Both models' heatmaps, the capacity curve and the hidden-size-per-letter table."""
    if frame.empty:
        st.info(_("No finished trials yet: the figures fill in as trials finish."))
        return
    train_maxes = sorted(int(m) for m in frame["max_len"].unique())
    pick_col, scope_col = st.columns(2)
    train_max = pick_col.selectbox(
        _("Heatmaps: trials trained up to"), [None, *train_maxes], key=f"{key}_max",
        format_func={None: _("any length (best trial per cell)"),
                     **{m: _("{n} letters").format(n=m) for m in train_maxes}}.get)
    within = scope_col.toggle(_("Curve: count a length only inside its trial's training range"),
                              value=True, key=f"{key}_within")
    heatmaps, curve, longest, spread, spread_chart = capacity_figures(
        frame, train_max, within, current_language())
    for column, (kind, heatmap) in zip(st.columns(max(1, len(heatmaps))), heatmaps.items(),
                                       strict=False):
        column.plotly_chart(heatmap, width="stretch", key=f"{key}_heat_{kind}")
    st.plotly_chart(curve, width="stretch", key=f"{key}_curve")
    several_seeds = not spread.empty and int(spread["seeds"].max()) > 1
    if several_seeds:
        st.plotly_chart(spread_chart, width="stretch", key=f"{key}_seeds")
        st.caption(_("Each seed read on its own: a dot per seed, a bar from the lowest to the "
                     "highest. The curve and the table average the seeds' exact match first, "
                     "so their N can differ from the median here."))
    st.caption(_("Per hidden size: the longest N such that every length 1..N reaches 95% exact "
                 "match (`{tested}` caps it), and the hidden size that costs per letter. "
                 "The curve above reads the same way.").format(tested=_("tested up to")))
    st.dataframe(longest_table(longest, spread if several_seeds else None), hide_index=True)


@st.cache_data(show_spinner=False, max_entries=32)
def capacity_tables(frame: pd.DataFrame, train_max: int | None, within: bool):
    """The heatmaps' table, the curve, the longest-N table and its seed-by-seed reading.

    Pure, and keyed by the results' contents (a running sweep's results grow, so they miss):
    a rerun or a second visitor of the same results skips about 0.3 s of pandas.
    """
    by_seed = capacity.longest_by_seed(frame, within_training=within)
    return (capacity.aggregate(frame, max_len=train_max),
            capacity.capacity_curve(frame, within_training=within),
            capacity.longest_reached(frame, within_training=within),
            by_seed, capacity.seed_spread(by_seed))


@st.cache_resource(show_spinner=False, max_entries=16)
def capacity_figures(frame: pd.DataFrame, train_max: int | None, within: bool, language: str):
    """Each model's heatmap, the curve (in ``language``), the longest-N table, and the seeds'
    spread with its chart.

    Built once per results, choice and language, and shared: the page only draws them and
    never changes them (a rerun of the shipped sweep skipped ~0.15 s of plotly).
    """
    table, curve, longest, by_seed, spread = capacity_tables(frame, train_max, within)
    kinds = [kind for kind in KIND_NAMES if kind in set(frame["kind"])]
    heatmaps = {kind: capacity_heatmap(table, kind, train_max=train_max) for kind in kinds}
    hidden_sizes = sorted(int(h) for h in frame["hidden_dim"].unique())
    return (heatmaps, capacity_curve_chart(curve, hidden_sizes=hidden_sizes), longest, spread,
            seed_spread_chart(spread, by_seed))


@st.cache_data(show_spinner=False, max_entries=4)
def shipped_results(version: tuple | None) -> pd.DataFrame:
    """``sweeps/capacity.csv``, read once per version of the file (its size and time)."""
    return capacity.load_results()


def shipped_version() -> tuple | None:
    try:
        info = capacity.SHIPPED_RESULTS.stat()
    except OSError:
        return None  # load_results says what is wrong
    return (str(capacity.SHIPPED_RESULTS), info.st_size, info.st_mtime_ns)


def longest_table(longest: pd.DataFrame, spread: pd.DataFrame | None = None) -> pd.DataFrame:
    """``capacity.longest_reached`` for display: a size that never reached 95% says so.

    With ``spread`` (``capacity.seed_spread``), a column gives each seed's own longest N.
    """
    table = pd.DataFrame({
        _("model"): [_(kind) for kind in longest["kind"]], _("hidden"): longest["hidden_dim"],
        _("longest N at 95%"): [str(n) if n else _("none (below 95% at length 1)")
                                for n in longest["longest"]],
        _("hidden per letter"): [MISSING if pd.isna(v) else f"{v:.1f}"
                                 for v in longest["hidden_per_letter"]],
        _("tested up to"): longest["tested_up_to"]})
    if spread is not None:
        per_seed = {(row.kind, int(row.hidden_dim)): " · ".join(map(str, row.per_seed))
                    for row in spread.itertuples()}
        table[_("each seed")] = [per_seed.get((kind, int(hidden)), MISSING) for kind, hidden
                                 in zip(longest["kind"], longest["hidden_dim"], strict=True)]
    return table


def shipped() -> None:
    try:
        frame = shipped_results(shipped_version())
    except ValueError as error:
        st.error(_("The shipped sweep can't be shown: {error}").format(
            error=escape_markdown(error)))
        return
    trials = frame.drop_duplicates(["kind", "hidden_dim", "max_len", "seed"])
    st.caption(_("The shipped sweep (`sweeps/capacity.csv`, {n} trials): both models, hidden "
                 "sizes {hidden}, trained on lengths 1 to {lengths}, each scored on fresh strings "
                 "up to twice its training maximum. docs/sweeps.md gives its command and wall "
                 "time.").format(
        n=len(trials), hidden=listed(map(str, sorted(trials["hidden_dim"].unique()))),
        lengths=listed(map(str, sorted(trials["max_len"].unique())))))
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
    cols[0].metric(_("Status"), status_text(record.status))
    cols[1].metric(_("Finished"), f"{counts.done} / {counts.total}")
    cols[2].metric(_("Running"), counts.running)
    cols[3].metric(_("Queued"), counts.queued)
    cols[4].metric(_("ETA"), "—" if counts.eta_seconds is None
                   else _("{seconds} s").format(seconds=f"{counts.eta_seconds:.0f}"))
    if record.status == "starting":
        st.info(_("The sweep's driver is starting Ray; trials begin in a few seconds."))
    if record.note and record.status == "interrupted":
        st.warning(_("The sweep's driver stopped:"))
        st.code(record.note, language=None)
    if counts.failed:
        st.warning(_("{n} trial(s) failed (their worker died twice, training raised, or the "
                     "disk was full); the Runs page shows each one's error.").format(
                         n=counts.failed))
    st.progress(counts.done / counts.total if counts.total else 0.0)
    st.caption(grid_caption(record.spec))
    controls(store, record)
    figures(frame, f"sweep_{record.id}")
    trials(store, record)


def grid_caption(spec: SweepSpec) -> str:
    """The sweep's grid, its steps per trial and its early stop, in one escaped sentence."""
    axes = _("; ").join(
        _("{name}: {values}").format(
            name=_(AXES[name]) if name in AXES else name,
            values=listed(_(v) if name == "kind" else str(v) for v in values))
        for name, values in spec.grid.items())
    steps = spec.steps
    if spec.target:
        return _("Grid: {axes}. {steps} steps per trial, early stop at {target} held-out "
                 "exact.").format(axes=escape_markdown(axes), steps=steps,
                                  target=f"{spec.target:.0%}")
    return _("Grid: {axes}. {steps} steps per trial.").format(axes=escape_markdown(axes),
                                                               steps=steps)


def trials(store, record) -> None:
    """The sweep's runs; any one opens on the Train page like any other run."""
    runs = list(trial_runs(record.id, store).values())
    if not runs:
        return
    with st.expander(_("Trials ({n} started)").format(n=len(runs))):
        st.dataframe(pd.DataFrame([{
            _("run"): run.id, _("model"): _(run.kind), _("hidden"): run.model_config.hidden_dim,
            _("lengths"): f"{run.train_config.min_len}-{run.train_config.max_len}",
            _("seed"): run.train_config.seed, _("status"): status_text(run.status),
            _("steps"): run.steps_done,
            _("best held-out exact"): MISSING if run.best_exact_match is None
            else f"{run.best_exact_match:.1%}", _("seconds"): round(run.wall_seconds, 1),
        } for run in runs]), hide_index=True)
        chosen = st.selectbox(_("Open a trial"), [run.id for run in runs], key="sweep_trial")
        st.page_link("pages/train.py", label=_("Open {run} on the Train page").format(run=chosen),
                     icon=":material/open_in_new:", query_params={"run": chosen})


def controls(store, record) -> None:
    if not is_local_user():
        return
    row = st.container(horizontal=True)
    if row.button(_("Stop"), key="sweep_stop", icon=":material/stop:",
                  disabled=record.status not in ACTIVE):
        request_stop(record.id, store)
        st.rerun()
    if row.button(_("Resume"), key="sweep_resume", icon=":material/resume:",
                  disabled=record.status in ACTIVE or record.status == "finished"):
        launch(store, record.id, st.session_state.get("sweep_cpus", 1))


def launch(store, sweep_id: str, cpus: int) -> None:
    log = store.root / f"sweep-{sweep_id}.log"
    try:
        driver.launch_driver(sweep_id, cpus=int(cpus), log_path=log)
    except (SweepError, OSError) as error:
        st.error(_("The sweep's driver did not start: {error}").format(
            error=escape_markdown(error, 300)))
        return
    st.query_params["sweep"] = sweep_id
    st.rerun()


MISSING_HIDDEN, MISSING_LENGTH = N_("a hidden size"), N_("a training length")
MISSING_MODEL, MISSING_TASK = N_("a model"), N_("a task")


def start_form(store) -> None:
    """A small sweep from the page: grid over hidden size, training length, model and seed."""
    if not is_local_user():
        st.caption(_("Starting sweeps is only open to a browser on this machine."))
        return
    with st.form("sweep_form"):
        cols = st.columns(3)
        hidden = cols[0].multiselect(_("Hidden sizes"), HIDDEN_CHOICES, default=[16, 64])
        lengths = cols[1].multiselect(_("Train on lengths 1 to"), LENGTH_CHOICES,
                                      default=[5, 10])
        kinds = cols[2].multiselect(_("Models"), list(KIND_NAMES), default=list(KIND_NAMES[:2]),
                                    format_func=translated(KIND_NAMES))
        tasks = st.multiselect(_("Tasks"), task_specs(), default=[DEFAULT_TASK],
                               format_func=translated(task_specs()),
                               help=_("Each trial trains on one task; several tasks multiply "
                                      "the grid."))
        cols = st.columns(4)
        seeds = cols[0].number_input(_("Seeds"), 1, 10, 1)
        steps = cols[1].number_input(_("Steps per trial"), 10, 100_000, 300, step=100)
        target = cols[2].number_input(_("Early stop at held-out exact (0 = off)"), 0.0, 1.0,
                                      0.0, step=0.01)
        cpus = cols[3].number_input(_("Trials at once (local Ray CPUs)"), 1,
                                    max(1, os.cpu_count() or 1), 1, key="sweep_cpus")
        address = st.text_input(_("Ray cluster address (empty: a local Ray on this machine; "
                                  "or set RAY_ADDRESS)"), "")
        confirmed = st.checkbox(
            _("Start it even if it is huge (over {trials} trials or {steps} steps in all; the "
              "CLI's --yes)").format(trials=number(GRID_LIMIT), steps=number(TOTAL_STEPS_LIMIT)),
            key=CONFIRM_KEY)
        submitted = st.form_submit_button(_("Start the sweep"), icon=":material/play_arrow:")
    if not submitted:
        return
    missing = [_(name) for name, chosen in ((MISSING_HIDDEN, hidden), (MISSING_LENGTH, lengths),
                                            (MISSING_MODEL, kinds), (MISSING_TASK, tasks))
               if not chosen]
    if missing:
        st.error(_("Choose {items}.").format(items=listed(missing)))
        return
    by_task = {} if tasks == [DEFAULT_TASK] else {"task": tuple(tasks)}  # the default: implied
    spec = SweepSpec(
        grid={"max_len": tuple(sorted(lengths)), "kind": tuple(kinds),
              "hidden_dim": tuple(sorted(hidden)), "seed": tuple(range(int(seeds))), **by_task},
        steps=int(steps), target=float(target) or None, eval_every=min(100, int(steps)))
    problem = size_problem(spec)
    if problem and not confirmed:
        st.warning(_("Not started: {problem}. Tick \"Start it even if it is huge\" and press "
                     "Start again to run it anyway.").format(problem=problem))
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


st.title(_("Sweep: how big must the hidden vector be for N letters?"))
st.markdown(_(INTRO))
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
    st.error(_("No sweep with id {id}; showing the shipped one.").format(
        id=escape_markdown(wanted, max_len=40)))
    wanted = SHIPPED
choices = {i: _("the shipped sweep") if i == SHIPPED
           else _("{id} ({status})").format(id=i, status=status_text(statuses[i])) for i in ids}
choice = st.selectbox(_("Results"), ids, index=ids.index(wanted), key=f"sweep_choice_{wanted}",
                      format_func=choices.get)
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
    with st.expander(_("Start a sweep"), expanded=False):
        start_form(store)
        st.caption(_("The same from the shell: {command}").format(
            command="`python -m seqrev sweep run --grid max_len=5,10 --grid kind=plain,attention "
                    "--grid hidden_dim=16,64 --steps 300`"))

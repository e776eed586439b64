"""Train: start a run or a race in a worker process, watch it live, stop, resume and save it.

The URL keeps the run (``/train?run=ID&token=T``), so a reload, another tab or tomorrow finds
it again; without a run it keeps the settings, so a link hands them out.

Longer than one screen because it holds the page's whole lifecycle (settings form, start, live
status, charts, save); the progress line, lengths and metrics table it shows come from
``seqrev.runs.progress``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import streamlit as st

import seqrev.checkpoints.store as checkpoints
import seqrev.runs.scheduler as scheduler
import seqrev.training.settings as settings
from pages.common import escape_markdown, picker_key, require_router
from pages.run_common import (
    can_control,
    open_store,
    owner_key,
    remember_token,
    tokens,
)
from pages.widgets import page_url, report_download
from seqrev.charts.training import (
    CHART_HEIGHT,
    CHART_TITLES,
    WAITING_NOTES,
    accuracy_figure,
    has_points,
    loss_figure,
    speed_figure,
)
from seqrev.i18n import DEFAULT_LANGUAGE, N_, _, current_language
from seqrev.models.kinds import KIND_NAMES, KINDS
from seqrev.runs.history import (
    CHART_POINTS,
    MILESTONES,
    format_duration,
    history_view,
    milestones_line,
)
from seqrev.runs.progress import lengths_text, metrics_table, race_progress
from seqrev.runs.store import RunRecord, RunStore, RunStoreError, new_token, valid_run_id
from seqrev.runs.worker import save_run_checkpoint
from seqrev.tasks.pairs import MAX_FILE_BYTES, PairsError
from seqrev.training.cost import SLOW_FACTOR, relative_step_cost
from seqrev.training.pairs_config import keep_upload, on_pairs
from seqrev.training.trainer import DEFAULT_STEPS, preset

require_router("pages/train.py")

# a race trains its kinds in one worker on identical batches; "both" is the lab's pair
RACES = {"both": ("plain", "attention"), "all": KIND_NAMES}
CHOICES = {"both": N_("Both GRUs: a fair race"), "all": N_("All three: a fair race")} | {
    kind.name: kind.title.removesuffix(" model") for kind in KINDS.values()}  # shown with _()
MODELS_KEY, CONFIRM_KEY, NOTE_KEY = "train_models", "train_confirm_slow", "train_save_note"
DEFAULT_STEP_SECONDS = 0.015  # a default attention step on one core here (docs/speed.md: scaling)
ACTIVE = ("queued", "running")
STATUS_SECONDS = 0.5  # progress and numbers
QUEUED_SECONDS = 2.0  # a queued run's place changes only when a run ends
LAUNCH_KEY = "train_last_launch"
CHART_SECONDS = 2.0  # charts: building three figures costs far more than reading the store
GROUP_TITLES = {"model": N_("Model"), "data": N_("Data"), "optimisation": N_("Optimisation")}
TRAINED_ON = N_("Trained on strings of {lengths}; the held-out exact match is measured on fresh "
                "strings of the same lengths.")
TRAINED_ON_PAIRS = N_("Trained on the rows of {file}; the held-out exact match is measured on "
                      "its held-out rows, never trained on.")
SAVED_NOTE = N_("Saved the {kind} model as {name} (exact match on {n} fresh strings of "
                "{lengths}, its training lengths: {exact:.1%}). It is now selected in the "
                "sidebar.")
SAVED_PAIRS_NOTE = N_("Saved the {kind} model as {name} (exact match on the file's {n} held-out "
                      "rows, never trained on: {exact:.1%}). It is now selected in the "
                      "sidebar; the Decode page reads and writes the file's symbols.")
SAVE_FAILED = N_("Could not save {name}: {error}")
STATUS_WORDS = {"queued": N_("queued"), "running": N_("running"), "stopped": N_("stopped"),
                "finished": N_("finished"), "interrupted": N_("interrupted"),
                "failed": N_("failed")}
PAIRS_KEY = "train_pairs_file"
PAIRS_TYPES = ("csv", "tsv", "tab", "txt")
# the page's own URL parameters, besides settings, and the router's language (pages/common.py)
PAGE_PARAMS = ("model", "run", "token", "lang")


def widget_key(item: settings.Setting) -> str:
    return f"train_{item.name}"


def widget_state(model_config, train_config) -> dict:
    """The settings widgets' values for a pair of configs (text for typed numbers)."""
    values = settings.values_of(model_config, train_config)
    return {widget_key(item): item.format(values[item.name]) if item.widget == "number"
            else values[item.name] for item in settings.all_settings() if item.name != "kind"}


def single_kind(choice: str) -> str | None:
    """The model kind of a choice, or None for a race."""
    return None if choice in RACES else choice


def kinds_of(choice: str) -> tuple[str, ...]:
    """The kinds a choice trains: a race's, or the one model's."""
    return RACES.get(choice, (choice,))


def defaults_for(choice: str):
    """The app defaults for a model choice: one model's own, or its race's."""
    return preset("default", single_kind(choice), RACES.get(choice, ()))


def load_preset(name: str) -> None:
    choice = st.session_state.get(MODELS_KEY, "both")
    st.session_state.update(widget_state(*preset(name, single_kind(choice),
                                                 RACES.get(choice, ()))))
    st.session_state.pop(CONFIRM_KEY, None)


def follow_model_choice() -> None:
    """Steps still at a default follow the model choice (attention alone needs fewer)."""
    steps_key = widget_key(settings.by_name()["steps"])
    default_steps = {str(defaults_for(c)[1].steps) for c in CHOICES}
    if str(st.session_state.get(steps_key)).strip() in default_steps:
        steps = defaults_for(st.session_state[MODELS_KEY])[1].steps
        st.session_state[steps_key] = str(steps)


def init_from_link() -> None:
    """Fill the widgets once per session: from the URL's settings, else the app defaults."""
    if widget_key(settings.by_name()["steps"]) in st.session_state:
        return
    values, problems = settings.from_query(st.query_params.to_dict(), PAGE_PARAMS)
    model = st.query_params.get("model")
    st.session_state[MODELS_KEY] = model if model in CHOICES else "both"
    if model is not None and model not in CHOICES:
        problems.append(_("The link's model must be one of {choices}, got {model}.").format(
            choices=", ".join(CHOICES), model=repr(model[:40])))
    defaults = defaults_for(st.session_state[MODELS_KEY])
    st.session_state.update(widget_state(*defaults))
    values.pop("kind", None)
    try:
        st.session_state.update(widget_state(*settings.build_configs(values, defaults)))
    except ValueError as error:
        problems.append(str(error))
    for problem in problems:
        st.warning(_("Ignored a setting in the link: {problem}").format(
            problem=escape_markdown(problem, 200)))


def setting_widget(item: settings.Setting, disabled: bool):
    """One setting's widget; returns its raw value."""
    key, label, help_text = widget_key(item), _(item.label), _(item.help)
    if item.kind is bool:
        return st.toggle(label, key=key, help=help_text, disabled=disabled)
    if item.widget == "slider":
        kind = item.kind
        return st.slider(label, kind(item.minimum), kind(item.maximum),
                         step=kind(item.step or 1), key=key, help=help_text, disabled=disabled)
    if item.widget == "select":  # the choices are the command line's words: kept as they are
        return st.selectbox(label, item.choices or item.suggestions, key=key, help=help_text,
                            disabled=disabled)
    if item.widget == "select_slider":
        options = sorted(set(item.suggestions) | {st.session_state[key]})
        return st.select_slider(label, options, key=key, help=help_text,
                                format_func=lambda v: f"{v:g}", disabled=disabled)
    return st.text_input(label, key=key, help=f"{help_text} ({item.range_text()})",
                         max_chars=40, disabled=disabled)


def settings_form() -> tuple[list, object] | None:
    """Every setting's widget, generated from the config fields; the configs, or None."""
    init_from_link()
    choice = st.segmented_control(_("Model"), list(CHOICES), format_func=lambda c: _(CHOICES[c]),
                                  key=MODELS_KEY, required=True, on_change=follow_model_choice,
                                  help=_("A race trains its models in one worker, one step "
                                         "each in turn, on identical batches from the same "
                                         "seed."))
    kinds = list(kinds_of(choice))
    groups = {group: [s for s in settings.all_settings() if s.group == group and s.name != "kind"]
              for group in settings.GROUPS}
    raw: dict = {}
    for column, group in zip(st.columns(3), GROUP_TITLES, strict=True):
        with column:
            st.markdown(f"**{_(GROUP_TITLES[group])}**")
            for item in groups[group]:
                unused = item.name == "score" and "attention" not in kinds
                raw[item.name] = setting_widget(item, disabled=unused or not any(
                    item.applies_to(kind) for kind in kinds))
    for column, item in zip(st.columns(len(groups["run"])), groups["run"], strict=True):
        with column:
            raw[item.name] = setting_widget(item, disabled=False)
    problems, values = [], {}
    for name, value in raw.items():
        item = settings.by_name()[name]
        try:
            values[name] = item.parse(value) if item.widget == "number" else item.check(value)
        except ValueError as error:
            problems.append(str(error))
    if not problems:
        try:
            model_config, train_config = settings.build_configs(values)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        st.error(_("Start is off until these are fixed:") + "\n\n" + "\n\n".join(
            f"- {escape_markdown(p, 200)}"
            for p in problems))
        return None
    return [replace(model_config, kind=kind) for kind in kinds], train_config


@st.cache_data(show_spinner=_("Checking the file…"), max_entries=4)
def _kept_upload(data: bytes, name: str, folder: str):
    """keep_upload once per file content: a rerun does not parse 5 MB again."""
    return keep_upload(data, name, Path(folder))


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string: quotes, backslashes, ``<``/``>`` (which could end the
    ``<style>``) and control characters written as CSS hex escapes."""
    return '"' + "".join(f"\\{ord(ch):x} " if ch in '"\\<>' or ord(ch) < 0x20 else ch
                         for ch in text) + '"'


def uploader_chrome_css(key: str, button: str, instructions: str) -> str:
    """A ``<style>`` that swaps the words Streamlit draws itself inside the dropzone of the
    uploader with widget key ``key`` (its button's "Upload" and the "200MB per file • CSV..."
    line, which Streamlit 1.67 offers no way to set) for ``button`` and ``instructions``.

    The English stays in the DOM but is not displayed (so neither seen nor read aloud); the
    words are drawn by ``::after`` on its parent: the button's text keeps its look, the line
    takes Streamlit's small faded text (``fontSizes.sm``, ``fadedText70``).
    """
    zone = f".st-key-{key} [data-testid='stFileUploaderDropzone']"
    label = f"{zone} [data-testid='stBaseButton-secondary'] [data-testid='stMarkdownContainer']"
    line = f"{zone} [data-testid='stFileUploaderDropzoneInstructions'] > div"
    return (f"<style>{label} > p, {line} > span {{display: none}}"
            f"{label}::after {{content: {css_string(button)}}}"
            f"{line}::after {{content: {css_string(instructions)}; font-size: 0.875rem; "
            "opacity: 0.7; overflow: hidden; text-overflow: ellipsis; white-space: nowrap}"
            "</style>")


def pairs_upload(store: RunStore, chosen: tuple[list, object]) -> tuple[tuple | None, bool]:
    """An optional file of pairs to train on instead of a letter task: checked at once (its
    problem named, with the line, and Start off), then kept for the worker. Returns the configs
    (None while the file is refused) and whether they train on a file."""
    if current_language() != DEFAULT_LANGUAGE:  # English keeps Streamlit's own words
        st.html(uploader_chrome_css(PAIRS_KEY, _("Upload"), _(
            "At most {size} MB per file · {types}").format(
                size=f"{MAX_FILE_BYTES / 1_000_000:g}",
                types=_(", ").join(kind.upper() for kind in PAIRS_TYPES))))
    upload = st.file_uploader(
        _("Or train on your own pairs: a CSV or TSV file of input,output rows (at most 5 MB)"),
        type=list(PAIRS_TYPES), key=PAIRS_KEY,
        help=_("The file's own symbols (up to 26) become the model's alphabet; a tenth of its "
               "inputs (at most 500 rows) are held out and only ever scored."))
    if upload is None:
        return chosen, False
    try:
        path, task = _kept_upload(upload.getvalue(), upload.name, str(store.root / "pairs"))
        if not path.is_file():  # removed since it was kept: keep it again
            _kept_upload.clear()
            path, task = _kept_upload(upload.getvalue(), upload.name, str(store.root / "pairs"))
    except PairsError as error:
        st.error(_("This file can't be trained on: {error}").format(
            error=escape_markdown(error, 300)))
        return None, True
    except OSError as error:
        st.error(_("Could not keep the file for the run: {error}").format(
            error=escape_markdown(error, 200)))
        return None, True
    st.success(_("{file}: {train:,} rows to train on, {held_out:,} held out; alphabet "
                 "{alphabet}; inputs of {low} to {high} symbols. The file decides the task, the "
                 "lengths and the held-out set.").format(
                     file=escape_markdown(upload.name, 60), train=len(task.train_rows),
                     held_out=len(task.held_out), alphabet=escape_markdown(task.alphabet),
                     low=task.min_len, high=task.max_len),
               icon=":material/table_rows:")
    model_configs, train_config = chosen
    return (model_configs, on_pairs(train_config, path, task)), True


def slow_settings_ok(model_configs, train_config) -> bool:
    """Settings far slower than the defaults show the estimate and need a tick to start."""
    cost = max(relative_step_cost(c, train_config) for c in model_configs) * len(model_configs)
    if cost <= SLOW_FACTOR:
        return True
    per_step = cost * DEFAULT_STEP_SECONDS
    st.warning(_("These settings make each step about {cost:,.0f}× a default step: roughly "
                 "{per_step:.1f} s per step and {total} for the run on this machine.").format(
                     cost=cost, per_step=per_step,
                     total=format_duration(per_step * train_config.steps)))
    return st.checkbox(_("Start anyway"), key=CONFIRM_KEY)


def start(store: RunStore, model_configs, train_config) -> None:
    token = new_token()
    runs = scheduler.submit(store, model_configs, train_config, token=token, owner=owner_key())
    for run in runs:
        tokens()[run.id] = token
    st.query_params.from_dict({"run": runs[0].id, "token": token})
    st.session_state.pop(NOTE_KEY, None)


def show_run_link(run: RunRecord) -> None:
    token = tokens().get(run.id)
    with st.expander(_("Links to this run")):
        st.caption(_("Read-only: anyone with it can watch."))
        here = page_url("train")
        st.code(settings.share_url(here, {"run": run.id}), language=None)
        if token:
            st.caption(_("With control: whoever holds it can stop, resume, save or delete."))
            st.code(settings.share_url(here, {"run": run.id, "token": token}), language=None)


def progress_line(store: RunStore, runs: list[RunRecord]) -> None:
    queued = runs[0].status == "queued"
    progress = race_progress(runs, time.time(),
                             store.queue_position(runs[0].id) if queued else None)
    st.progress(progress.fraction, text=progress.text)
    if queued:
        return
    for member in runs:
        if member.error:
            st.error(_("The {kind} run {status}: {error}").format(
                kind=_(member.kind), status=_(STATUS_WORDS.get(member.status, member.status)),
                error=escape_markdown(member.error, 300)))


def launch_due(runs: list[RunRecord]) -> bool:
    """A queued run asks the launcher now and then; a finishing worker starts the next itself."""
    if not any(run.status == "queued" for run in runs):
        return False
    now = time.monotonic()
    if now - st.session_state.get(LAUNCH_KEY, 0.0) < QUEUED_SECONDS * 2:
        return False
    st.session_state[LAUNCH_KEY] = now
    return True


def status_panel(run_ids: list[str], statuses: tuple[str, ...]) -> None:
    """Progress and the latest numbers, read from the store; polled twice a second.

    A change of status (queued to running, running to stopped...) reruns the whole page, so
    the buttons and the charts' polling follow it.
    """
    store = open_store()
    if store is None:
        return
    try:
        runs = [store.get(run_id) for run_id in run_ids]
        if any(run.silent for run in runs) or launch_due(runs):
            scheduler.try_launch_pending(store)
        losses = {run.id: store.latest_smoothed_loss(run.id) for run in runs}
        firsts = {target: store.first_reaching(target, run_ids) for target in MILESTONES}
    except RunStoreError as error:
        st.error(_("Could not read the run: {error}").format(error=escape_markdown(error, 300)))
        return
    if tuple(run.status for run in runs) != statuses:
        st.rerun()
    progress_line(store, runs)
    for column, run in zip(st.columns(len(runs)), runs, strict=True):
        with column:
            color = KINDS[run.kind].text_color if run.kind in KINDS else "gray"
            st.markdown(_(":{color}[**{kind}**] · run `{id}` · {status}").format(
                color=color, kind=_(run.kind.capitalize()), id=run.id,
                status=_(STATUS_WORDS.get(run.status, run.status))))
            loss_col, exact_col, speed_col = st.columns(3)
            loss = losses[run.id]
            loss_col.metric(_("Loss (smoothed)"), "–" if loss is None else f"{loss:.3f}")
            exact_col.metric(_("Exact match"), "–" if run.exact_match is None
                             else f"{run.exact_match:.1%}",
                             help=_("Strings reversed perfectly, of the fixed held-out set."))
            speed = run.steps_per_second
            speed_col.metric(_("Steps/s"), "–" if speed is None else f"{speed:.1f}",
                             help=_("Real progress: steps done per wall second of this run."))
            st.caption(milestones_line({t: firsts[t].get(run.id) for t in MILESTONES}))


def charts_panel(runs: list[RunRecord]) -> None:
    """Loss, held-out accuracy and real speed; redrawn every few seconds while training."""
    store = open_store()
    if store is None:
        return
    try:
        views = {run.kind: history_view(store.history(run.id, CHART_POINTS)) for run in runs}
    except RunStoreError as error:
        st.error(_("Could not read the run's history: {error}").format(
            error=escape_markdown(error, 300)))
        return
    total = runs[0].steps_total
    if not has_points(views):  # titled boxes at once: no chart to load before the first step
        for column, chart in zip(st.columns(3), CHART_TITLES, strict=True):
            with column.container(border=True, height=CHART_HEIGHT):
                title = CHART_TITLES[chart]
                st.markdown(f"**{_(title)}**")
                st.caption(_(WAITING_NOTES[chart]))
        return
    loss_col, accuracy_col, speed_col = st.columns(3)
    loss_col.plotly_chart(loss_figure(views, total), width="stretch", key="train_loss_chart")
    accuracy_col.plotly_chart(accuracy_figure(views, total), width="stretch",
                              key="train_accuracy_chart")
    speed_col.plotly_chart(speed_figure(views, total), width="stretch", key="train_speed_chart")


def save(store: RunStore, run_id: str, name: str, overwrite: bool) -> None:
    """Button callback: evaluate and save a run's model, then pick it in the sidebar.

    The note keeps its template and values, not the text: a callback runs before the page
    has set the reader's language, so the words are chosen when the note is drawn.
    """
    try:
        run = store.get(run_id)
        with st.spinner(_("Measuring the {kind} model on fresh strings and saving it...").format(
                kind=_(run.kind))):
            record = save_run_checkpoint(store, run, name, overwrite=overwrite)
    except (OSError, ValueError, RunStoreError, checkpoints.CheckpointError) as error:
        st.session_state[NOTE_KEY] = ("error", SAVE_FAILED, {
            "name": name, "error": str(error).splitlines()[0][:300]})
        return
    st.session_state[picker_key(run.kind)] = name
    evaluation = record["evaluation"]
    if "held_out" in evaluation:  # a file of pairs: its held-out rows
        measured = evaluation["held_out"]
        st.session_state[NOTE_KEY] = ("success", SAVED_PAIRS_NOTE, {
            "kind": run.kind, "name": name, "n": measured["n"],
            "exact": measured["exact_match"]})
        return
    measured = evaluation["training_range"]
    st.session_state[NOTE_KEY] = ("success", SAVED_NOTE, {
        "kind": run.kind, "name": name, "n": measured["n"], "exact": measured["exact_match"],
        "lengths": (run.train_config.min_len, run.train_config.max_len)})


def note_text(template: str, values: dict) -> str:
    """A save note in the reader's language: its kind and lengths translated too."""
    values = dict(values)
    if "kind" in values:
        values["kind"] = _(values["kind"])
    if "lengths" in values:
        values["lengths"] = lengths_text(*values["lengths"])
    return _(template).format(**values)


def save_panel(store: RunStore, runs: list[RunRecord]) -> None:
    """A name, a Replace tick tied to that name, and Save, for each run with a saved state."""
    st.subheader(_("Save as a checkpoint"))
    st.caption(_("Saving measures the model on fresh strings of every length (a few seconds), "
                 "then lists it in the sidebar's model pickers on every page."))
    for column, run in zip(st.columns(len(runs)), runs, strict=True):
        with column:
            raw = st.text_input(_("Name for the {kind} model").format(kind=_(run.kind)),
                                value=f"my-{run.kind}", key=f"train_name_{run.id}",
                                max_chars=64)
            try:
                name = checkpoints.sanitize_name(raw)
            except ValueError:
                st.error(_("Use letters, digits, _ . - for the name."))
                continue
            if name != raw.strip():
                st.caption(_("Will be saved as:"))
                st.code(name, language=None)
            if checkpoints.is_shipped(name):
                st.error(_("{name} is a shipped model and can't be replaced from the app: "
                           "choose another name.").format(name=name))
                continue
            overwrite = False
            if checkpoints.exists(name):
                st.warning(_("A checkpoint called {name} exists.").format(
                    name=escape_markdown(name)))
                overwrite = st.checkbox(_("Replace {name}").format(name=escape_markdown(name)),
                                        key=f"train_replace_{run.id}_{name}")
            st.button(_("Save {kind}").format(kind=_(run.kind)), key=f"train_save_{run.id}",
                      on_click=save,
                      args=(store, run.id, name, overwrite),
                      disabled=checkpoints.exists(name) and not overwrite)


def metrics_csv(store: RunStore, runs: list[RunRecord]) -> str:
    return metrics_table([(run, store.history(run.id)) for run in runs]).to_csv(index=False)


def run_view(store: RunStore, run_id: str) -> None:
    """The run (or race) named in the URL: live charts, controls, save and downloads."""
    try:
        runs = store.group(store.get(run_id))
    except RunStoreError:
        st.error(_("There is no run {run} in this app's run store. The Runs page lists every "
                   "run.").format(run=escape_markdown(run_id, 40)))
        return
    remember_token(store, runs[0], st.query_params.get("token"))
    config = runs[0].train_config
    if config.pairs_file:
        st.caption(_(TRAINED_ON_PAIRS).format(
            file=escape_markdown(Path(config.pairs_file).name)))
    else:
        st.caption(_(TRAINED_ON).format(lengths=lengths_text(config.min_len, config.max_len)))
    control = can_control(store, runs[0])
    active = any(run.status in ACTIVE for run in runs)
    buttons = st.container(horizontal=True)
    if buttons.button(_("Stop"), key="train_stop", disabled=not (active and control),
                      icon=":material/stop:"):
        for run in runs:
            store.request_stop(run.id)
        st.rerun()
    resumable = all(scheduler.can_resume(run) for run in runs)
    if buttons.button(_("Resume"), key="train_resume", icon=":material/resume:",
                      disabled=not (resumable and control)):
        scheduler.resume(store, runs[0])
        st.rerun()
    if buttons.button(_("New run"), key="train_new", icon=":material/add:"):
        st.query_params.clear()
        st.rerun()
    if not control:
        st.info(_("You are watching this run read-only: only the browser that started it "
                  "(or a link with its token) can stop, resume or save it."))
    queued = any(run.status == "queued" for run in runs)
    st.fragment(run_every=(QUEUED_SECONDS if queued else STATUS_SECONDS) if active else None)(
        status_panel)([r.id for r in runs], tuple(r.status for r in runs))
    training = any(run.status == "running" for run in runs)
    st.fragment(run_every=CHART_SECONDS if training else None)(charts_panel)(runs)
    if control and not active and all(r.steps_done for r in runs):
        save_panel(store, runs)
    note = st.session_state.get(NOTE_KEY)
    if note:
        (st.success if note[0] == "success" else st.error)(
            escape_markdown(note_text(note[1], note[2]), 400))
    st.download_button(_("Metrics (CSV)"), data=lambda: metrics_csv(store, runs),
                       file_name=f"seqrev-{runs[0].id}-metrics.csv", mime="text/csv",
                       on_click="ignore", icon=":material/download:", key="train_csv")
    for run in runs:
        report_download(store, run, key=f"train_report_{run.id}")
    show_run_link(runs[0])
    with st.expander(_("The same training from the command line")):
        for run in runs:
            st.code(settings.command_line(run.model_config, run.train_config, f"my-{run.kind}",
                                          threads=scheduler.WORKER_THREADS), language="bash")


st.title(_("Train"))
st.markdown(_(
    "Each step draws a fresh batch of random strings and nudges the weights to lower the "
    "**loss**: how surprised the decoder is by the next correct letter, fed the true previous "
    "one (teacher forcing). Every few steps each model reverses a fixed set of held-out "
    "strings on its own: **exact match** counts the strings it gets entirely right. In a race "
    "both models see the very same batches, one step each in turn. Training runs in its own "
    "process: reload, close the tab or come back tomorrow, and this page's link finds it."
))

store = open_store()
run_id = st.query_params.get("run")
if store is not None and run_id is not None and not valid_run_id(run_id):
    st.error(_("There is no run {run}: run ids look like r2x7k9q4mz.").format(
        run=escape_markdown(run_id, 40)))
    run_id = None
with st.expander(_("Settings"), expanded=run_id is None):
    presets = st.container(horizontal=True)
    presets.button(_("Lab settings"), on_click=load_preset, args=("seed",), key="train_lab",
                   help=_("The course lab: embedding 64, hidden 100, batch 64, length 10, "
                          "Adam 1e-3 constant, no clipping, 5000 steps."))
    presets.button(_("App defaults"), on_click=load_preset, args=("default",),
                   key="train_defaults",
                   help=_("Tuned for a model that reverses what you type: strings of 1 "
                          "to 16 letters, the longest growing from 4 over the first 30% of "
                          "the steps and long ones drawn more often; embedding 16 with scaled "
                          "initialization, Adam 7e-3 onecycle, clipping at 5; "
                          "{attention} steps for attention alone, {transformer} for the "
                          "Transformer alone, {plain} for plain or a race.").format(
                              **DEFAULT_STEPS))
    chosen = settings_form()
    on_file = False
    if chosen is not None and store is not None:
        chosen, on_file = pairs_upload(store, chosen)
    ready = chosen is not None and slow_settings_ok(*chosen)
    if on_file:
        st.caption(_("A run on an uploaded file has no share link: the file stays on this "
                     "server."))
    elif chosen is not None:
        kinds = [c.kind for c in chosen[0]]
        model = next((race for race, members in RACES.items() if tuple(kinds) == members),
                     kinds[0])
        default_model, default_training = defaults_for(model)
        query = settings.to_query(chosen[0][0], chosen[1], (
            replace(default_model, kind=chosen[0][0].kind), default_training))
        st.caption(_("A link that opens this page with these settings:"))
        st.code(settings.share_url(page_url("train"), {"model": model, **query}),
                language=None)
    if st.button(_("Start"), type="primary", key="train_start", icon=":material/play_arrow:",
                 disabled=store is None or not ready):
        try:
            start(store, *chosen)
        except scheduler.StartRefusedError as error:  # a queue limit, a run too long
            st.error(escape_markdown(error, 400))
        except RunStoreError as error:
            st.error(_("Could not start: {error}").format(error=escape_markdown(error, 300)))
        else:
            st.rerun()

if store is not None and run_id is not None:
    run_view(store, run_id)
elif store is not None:
    st.info(_("Choose settings and press **Start**. Earlier runs are on the **Runs** page."))

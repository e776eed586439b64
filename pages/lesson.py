"""Lesson: the lab's story in short chapters, on the selected (by default the shipped) models.

The URL keeps the chapter (``/lesson?chapter=3``), and chapter 5 its race
(``&run=ID&token=T``). Only the current chapter is computed; everything it computes is cached.

Longer than one screen because it draws seven chapters, each its own few controls and figures;
their words and numbers live in ``seqrev.teaching.lesson``.
"""

from __future__ import annotations

import streamlit as st

import seqrev.inspection.capacity as capacity
import seqrev.inspection.scaling as scaling
import seqrev.teaching.lesson as lesson
from pages.common import (
    checked_input,
    escape_markdown,
    require_router,
    selected,
    selected_name,
    shipped,
    trained_on_pairs,
    with_language,
)
from pages.run_common import open_store, remember_token, tokens
from pages.widgets import gallery_section
from seqrev.charts.attention import exact_match_figure, override_probability_figure, trace_heatmap
from seqrev.charts.decoding import marked_output_html
from seqrev.charts.lesson import prefix_figure, scaling_figure
from seqrev.charts.sweep import capacity_curve_chart
from seqrev.charts.training import accuracy_figure, loss_figure
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import greedy_trace
from seqrev.i18n import _, current_language, percent, sentence_separator
from seqrev.i18n.figures import translate_figure
from seqrev.inspection.analysis import step_summary
from seqrev.runs.history import CHART_POINTS, history_view
from seqrev.tasks.registry import DEFAULT_TASK
from seqrev.tasks.vocab import MAX_INPUT_LEN

require_router("pages/lesson.py")

ACTIVE = ("queued", "running")
RACE_POLL_SECONDS = 2.0  # each poll redraws two charts; the Train page redraws its every 2 s


def identity(checkpoint) -> str:
    return f"{checkpoint.name}@{checkpoint.meta.get('weights_sha256', '')}"


@st.cache_data(show_spinner=False, max_entries=64)
def printouts(ids: tuple[str, ...], text: str, _models: dict) -> list[lesson.Printout]:
    return [lesson.printout(kind, model, text) for kind, model in _models.items()]


@st.cache_data(show_spinner=False, max_entries=8)
def prefix_outcomes(ids: tuple[str, str], text: str, _models: dict):
    return lesson.prefix_outcomes(_models, text)


@st.cache_data(show_spinner=False, max_entries=32)
def attention_trace(checkpoint_id: str, text: str, _model):
    return greedy_trace(_model, text)


@st.cache_data(show_spinner=False, max_entries=16)
def surprise(checkpoint_id: str, text: str, step: int, position: int, _model):
    return lesson.surprise(_model, text, step, position)


@st.cache_data(show_spinner=False)
def random_scaling():
    return scaling.random_sweep()


@st.cache_data(show_spinner=False, max_entries=8)
def model_scaling(checkpoint_id: str, _model):
    return scaling.model_sweep(_model)


@st.cache_data(show_spinner=False)
def capacity_view():
    """The shipped sweep's curve, its hidden sizes and the sentence's numbers."""
    frame = capacity.load_results()
    return (capacity.capacity_curve(frame), sorted(int(h) for h in frame["hidden_dim"].unique()),
            lesson.capacity_numbers(frame))


@st.cache_data(show_spinner="Scoring both raced models on fresh strings of every length…",
               max_entries=16)
def race_by_length(run_ids: tuple[str, ...], steps_done: tuple[int, ...]):
    """The finished race's by-length table; keyed by its runs and how far they trained.

    Raises RunStoreError or StateError when a run or its saved weights can't be read.
    """
    from seqrev.runs.store import RunStore
    from seqrev.runs.worker import trainer_from_run

    store = RunStore()
    runs = [store.get(run_id) for run_id in run_ids]
    models = {run.kind: trainer_from_run(store, run).model for run in runs}
    return lesson.by_length_table(models, lesson.race_lengths(runs[0].train_config))


def go_to(number: int) -> None:
    st.query_params["chapter"] = str(number)


class MissingModelError(Exception):
    """A chapter's checkpoint could not be loaded; ``selected`` has shown the st.error."""


def both_models():
    """The sidebar's pair, or the shipped pair where the sidebar holds a model of another task:
    the Lesson tells the lab's story, reversal."""
    plain, attention = selected("plain"), selected("attention")
    if plain is None or attention is None:
        raise MissingModelError
    other = [cp.name for cp in (plain, attention) if not reverses(cp)]
    if other:
        st.caption(_("The Lesson tells the lab's story, reversal, so it uses the shipped models "
                     "here instead of {names}, trained on another task.").format(
                         names=escape_markdown(", ".join(other))))
        plain, attention = shipped("plain"), shipped("attention")
        if plain is None or attention is None:
            raise MissingModelError
    return plain, attention


def reverses(checkpoint) -> bool:
    return not trained_on_pairs(checkpoint.name) and task_of(checkpoint).spec == DEFAULT_TASK


def marked_outputs(rows) -> None:
    """Outputs as letter boxes, side by side: ``rows`` of (label, output, expected)."""
    for column, (label, output, expected) in zip(st.columns(len(rows)), rows, strict=True):
        with column:
            template = lesson.OUTPUT_RIGHT if output == expected else lesson.OUTPUT_WRONG
            st.markdown(_(template).format(label=_(label)))
            st.html(marked_output_html(output, expected))


# ---- the chapters: each draws its controls and figure, and returns its sentences' values and
# ---- its go-deeper link (page script, query parameters)
def chapter_task():
    plain, attention = both_models()
    raw = st.text_input(_(lesson.TEXT_LABEL).format(n=MAX_INPUT_LEN),
                        value=lesson.PRINTOUT_TEXT, key="lesson_text", max_chars=MAX_INPUT_LEN)
    text = checked_input(raw)
    if text is None:
        return {"text": escape_markdown(raw, 20), "length": len(raw), "sample": lesson.LAB_SAMPLE,
                "verdict": _(lesson.NO_VERDICT)}, ("pages/decode.py", {})
    models = {"plain": plain, "attention": attention}
    transformer = selected("transformer") if selected_name("transformer") else None
    if transformer is not None and reverses(transformer):
        models["transformer"] = transformer  # the next chapter of the course, beside the lab's
    lines = printouts(tuple(identity(cp) for cp in models.values()), text,
                      {kind: cp.model for kind, cp in models.items()})
    for line in lines:
        st.markdown(_(lesson.MODEL_LABELS[line.kind]))
        st.code(line.line, language=None, wrap_lines=True)
    marked_outputs([(lesson.MODEL_LABELS[p.kind], p.output, p.expected) for p in lines])
    return lesson.printout_values(lines, text), ("pages/decode.py", {"text": text})


def chapter_one_vector():
    plain, attention = both_models()
    text = lesson.LONG_TEXT
    length = st.slider(_(lesson.LENGTH_LABEL), 1, len(text), lesson.LONG_DEFAULT,
                       key="lesson_length")
    outcomes = prefix_outcomes((identity(plain), identity(attention)), text,
                               {"plain": plain.model, "attention": attention.model})
    prefix = text[:length]
    st.markdown(lesson.input_line(prefix, length))
    shown = outcomes[outcomes["length"] == length]
    marked_outputs([(lesson.MODEL_LABELS[row.model], row.output, row.expected)
                    for row in shown.itertuples()])
    st.plotly_chart(prefix_figure(outcomes, length, language=current_language()),
                    width="stretch", key="lesson_prefix")
    plain_summary = lesson.prefix_summary(outcomes, "plain")
    attention_summary = lesson.prefix_summary(outcomes, "attention")
    values = {"hidden": plain.model_config.hidden_dim, "plain_holds": plain_summary.holds,
              "plain_breaks": plain_summary.breaks, "attention_right": attention_summary.right,
              "n_lengths": len(text), "text": prefix}
    if plain_summary.breaks is None:
        st.info(_(lesson.PLAIN_NEVER_BREAKS).format(**values))
    return values, ("pages/attention.py", {"text": prefix, "section": "errors"})


def chapter_looks_back():
    attention = both_models()[1]
    raw = st.text_input(_(lesson.HEAT_TEXT_LABEL).format(n=MAX_INPUT_LEN),
                        value=lesson.SURPRISE_TEXT, key="lesson_heat_text",
                        max_chars=MAX_INPUT_LEN)
    text = checked_input(raw)
    if text is None:
        return {"text": escape_markdown(raw, 20)}, ("pages/attention.py", {"section": "heatmap"})
    trace = attention_trace(identity(attention), text, attention.model)
    step = st.slider(_(lesson.STEP_LABEL), 0, len(trace.steps) - 1, min(3, len(trace.steps) - 1),
                     key="lesson_step") if len(trace.steps) > 1 else 0
    summary = step_summary(trace, step)
    st.caption(lesson.step_sentence(summary, text))
    st.plotly_chart(translate_figure(trace_heatmap(
        trace, highlight_step=step, title=_(lesson.HEATMAP_TITLE).format(text=text))),
                    width="stretch", key="lesson_heatmap")
    gallery_section("lesson_gallery")
    return {"text": text}, ("pages/attention.py", {"text": text, "section": "heatmap"})


def chapter_surprise():
    attention = both_models()[1]
    text, step = lesson.SURPRISE_TEXT, lesson.SURPRISE_STEP
    outline, plus_one = lesson.surprise_positions(text, step)
    options = {outline: _(lesson.OUTLINE_CHOICE), plus_one: _(lesson.PLUS_ONE_CHOICE)}
    position = st.radio(_(lesson.FORCE_QUESTION).format(step=step), list(options),
                        key="lesson_force", horizontal=True,
                        format_func=lambda p: options[p].format(position=p, letter=text[p]))
    result = surprise(identity(attention), text, step, position, attention.model)
    st.markdown(lesson.surprise_sentence(result))
    marked_outputs([(lesson.OWN_RUN, result.own.output, result.own.expected),
                    (lesson.FORCED_RUN, result.forced.output, result.forced.expected)])
    st.plotly_chart(translate_figure(override_probability_figure(result.own, result.forced)),
                    width="stretch", key="lesson_surprise")
    values = {"outline_mass": percent(result.outline_mass),
              "plus_one_mass": percent(result.plus_one_mass), "step": step, "text": text}
    return values, ("pages/attention.py", {"text": text, "attend": f"{step}:{position}",
                                           "section": "whatif"})


def start_race(store) -> bool:
    """Queue the lesson's race; False (after an st.error) if a queue limit refuses it."""
    import seqrev.runs.scheduler as scheduler
    from pages.run_common import owner_key
    from seqrev.runs.store import new_token

    token = new_token()
    try:
        runs = scheduler.submit(store, *lesson.race_configs(), token=token, owner=owner_key())
    except scheduler.StartRefusedError as error:
        st.error(escape_markdown(error, 400))
        return False
    for run in runs:
        tokens()[run.id] = token
    st.query_params.update({"chapter": "5", "run": runs[0].id, "token": token})
    return True


def race_panel(run_ids: list[str], statuses: tuple[str, ...]) -> None:
    """Progress and curves of the race, read from the run store; polled while it trains."""
    import seqrev.runs.scheduler as scheduler
    from seqrev.runs.store import RunStoreError

    store = open_store()
    if store is None:
        return
    try:
        runs = [store.get(run_id) for run_id in run_ids]
        if any(run.silent or run.status == "queued" for run in runs):
            scheduler.try_launch_pending(store)
        views = {run.kind: history_view(store.history(run.id, CHART_POINTS)) for run in runs}
    except RunStoreError as error:
        st.error(escape_markdown(_(lesson.RACE_READ_ERROR).format(error=error), 300))
        return
    if tuple(run.status for run in runs) != statuses:
        st.rerun()
    done = min(run.steps_done for run in runs)
    total = runs[0].steps_total
    wall = max(run.wall_seconds for run in runs)
    st.progress(min(1.0, done / total),
                text=lesson.race_progress(runs[0].status, done, total, wall))
    if not done:  # no curve to draw yet: the worker is starting
        return
    loss_column, accuracy_column = st.columns(2)
    loss_column.plotly_chart(translate_figure(loss_figure(views, total)), width="stretch",
                             key="lesson_loss")
    accuracy_column.plotly_chart(translate_figure(accuracy_figure(views, total)),
                                 width="stretch", key="lesson_accuracy")


def chapter_race():
    from seqrev.runs.store import RunStoreError, valid_run_id

    model_configs, train_config = lesson.race_configs()
    values = {"steps": train_config.steps}
    store = open_store()
    if store is None:
        return values, ("pages/train.py", {})
    run_id = st.query_params.get("run")
    if run_id is not None and not valid_run_id(run_id):
        st.error(escape_markdown(_(lesson.NO_RACE).format(run=run_id[:40])))
        run_id = None
    runs = []
    if run_id is not None:
        try:
            runs = store.group(store.get(run_id))
        except RunStoreError:
            st.error(escape_markdown(_(lesson.NO_RACE).format(run=run_id)))
    active = any(run.status in ACTIVE for run in runs)
    if st.button(_(lesson.RACE_BUTTON).format(steps=train_config.steps), key="lesson_race",
                 type="primary", icon=":material/play_arrow:", disabled=active) and \
            start_race(store):
        st.rerun()
    if not runs:
        st.caption(lesson.race_what(train_config))
        return values, ("pages/train.py", {"model": "both", "steps": str(train_config.steps)})
    remember_token(store, runs[0], st.query_params.get("token"))
    st.fragment(run_every=RACE_POLL_SECONDS if active else None)(race_panel)(
        [run.id for run in runs], tuple(run.status for run in runs))
    if not active and all(run.steps_done for run in runs):
        from seqrev.runs.state import StateError

        try:
            table = race_by_length(tuple(run.id for run in runs),
                                   tuple(run.steps_done for run in runs))
        except (RunStoreError, StateError) as error:
            st.error(escape_markdown(_(lesson.RACE_NO_SCORES).format(error=error), 300))
        else:
            train = runs[0].train_config
            st.plotly_chart(translate_figure(exact_match_figure(
                table, (train.min_len, train.max_len))), width="stretch",
                key="lesson_race_by_length")
            st.caption(_(lesson.RACE_BY_LENGTH).format(n=lesson.RACE_N_PER_LENGTH))
    link = {"run": runs[0].id}
    if tokens().get(runs[0].id):
        link["token"] = tokens()[runs[0].id]
    return values, ("pages/train.py", link)


def chapter_scaling():
    attention = both_models()[1]
    choice = st.radio(_(lesson.VECTORS_LABEL), list(lesson.VECTOR_CHOICES), key="lesson_vectors",
                      horizontal=True, format_func=lambda c: _(lesson.VECTOR_CHOICES[c]))
    random_stats = random_scaling()
    stats = random_stats
    if choice == "model":
        try:
            stats = model_scaling(identity(attention), attention.model)
        except ValueError as error:
            st.error(escape_markdown(_(lesson.NO_MODEL_SCALING).format(error=error)))
        else:
            st.caption(lesson.model_scaling_sentence(stats))
    st.plotly_chart(scaling_figure(stats, language=current_language()), width="stretch",
                    key="lesson_scaling")
    return (lesson.scaling_values(random_stats),
            ("pages/attention.py", {"text": lesson.SURPRISE_TEXT, "section": "step"}))


def chapter_capacity():
    try:
        curve, hidden_sizes, numbers = capacity_view()
    except ValueError as error:
        st.error(escape_markdown(error))
        return {"summary": ""}, ("pages/sweep.py", {})
    st.plotly_chart(translate_figure(capacity_curve_chart(curve, hidden_sizes=hidden_sizes)),
                    width="stretch", key="lesson_capacity")
    summary = _(lesson.CAPACITY_SENTENCE).format(**numbers) if numbers else _(lesson.NO_CAPACITY)
    return {"summary": summary}, ("pages/sweep.py", {})


CHAPTER_VIEWS = {"task": chapter_task, "one-vector": chapter_one_vector,
                 "looks-back": chapter_looks_back, "surprise": chapter_surprise,
                 "race": chapter_race, "scaling": chapter_scaling, "capacity": chapter_capacity}


st.title(_(lesson.TITLE))
raw_chapter = st.query_params.get("chapter")
pick = lesson.parse_chapter(raw_chapter)
if pick.problem:
    st.warning(escape_markdown(_(pick.problem).format(value=str(raw_chapter)[:40],
                                                   last=len(lesson.CHAPTERS))))
current = lesson.chapter(pick.number)
last = len(lesson.CHAPTERS)
st.progress(current.number / last, text=_(lesson.CHAPTER_OF).format(
    number=current.number, last=last, title=_(current.title)))
st.header(_(current.title))
text_slot = st.container()
try:
    values, (page, query) = CHAPTER_VIEWS[current.key]()
except MissingModelError:  # the chapter's text needs the model's numbers: only the error shows
    pass
else:
    with text_slot:
        st.markdown(sentence_separator().join(
            _(sentence).format(**values) for sentence in current.sentences))
    st.page_link(page, label=_(current.deeper).format(**values),
                 icon=":material/arrow_forward:", query_params=with_language(query))
previous_column, next_column = st.columns(2)
previous_column.button(_(lesson.PREVIOUS), key="lesson_previous", icon=":material/arrow_back:",
                       disabled=current.number == 1, on_click=go_to,
                       args=(current.number - 1,), width="stretch")
next_column.button(_(lesson.NEXT), key="lesson_next", icon=":material/arrow_forward:",
                   disabled=current.number == last, on_click=go_to, args=(current.number + 1,),
                   width="stretch")
with st.expander(_(lesson.ALL_CHAPTERS)):
    for item in lesson.CHAPTERS:
        st.page_link("pages/lesson.py", label=_(lesson.CHAPTER_LINK).format(
            number=item.number, title=_(item.title)),
            query_params=with_language({"chapter": str(item.number)}),
            disabled=item.number == current.number)

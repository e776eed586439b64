"""The Attention page's sections; the page computes and draws only the one picked.

Each ``*_section`` takes a :class:`View` (the two checkpoints, the string and both models'
greedy traces) and draws its part. The session keys and the what-if callbacks live here too,
because the page's link handling and the sections share them.

Longer than one screen because the five sections share the page's session keys and what-if
callbacks; moving the position labels and force defaults into the library (issue 18) is what
will shorten it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pages.attention_heads import heads_section
from pages.common import escape_markdown, shipped_checkpoint
from pages.widgets import step_control
from seqrev.charts.attention import (
    error_rate_figure,
    exact_match_figure,
    override_probability_figure,
    standalone_html,
    trace_heatmap,
    wrong_steps_heatmap,
)
from seqrev.charts.decoding import marked_output_html
from seqrev.charts.mechanism import contributions_figure, scores_figure, vectors_figure
from seqrev.charts.projection import COLOR_BY, reference_figure, state_paths_figure
from seqrev.checkpoints.store import SHIPPED_BIDIRECTIONAL, Checkpoint
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import AttentionOverride, DecodeTrace, greedy_trace, override_steps
from seqrev.i18n import N_, _, current_language, sentence_separator, use_language
from seqrev.i18n.figures import translate_figure
from seqrev.inspection.alignment import align_letters, describe, summarize
from seqrev.inspection.analysis import (
    TraceNumbers,
    attention_frame,
    letters_right,
    step_summary,
    step_table,
    wrong_steps,
)
from seqrev.inspection.analysis_cache import (
    DEFAULT_N_PER_LENGTH,
    DEFAULT_SEED,
    default_lengths,
    stored_comparison,
    stored_state_map,
)
from seqrev.inspection.mechanism import override_outcome, step_mechanism
from seqrev.inspection.outline_offsets import fresh_strings, offset_masses
from seqrev.inspection.projection import (
    REFERENCE_LENGTHS,
    REFERENCE_N,
    progress_correlation,
    trace_path,
)
from seqrev.inspection.what_if import default_force, position_label, suggest_override
from seqrev.tasks.base import LetterTask
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import MAX_INPUT_LEN, token_label

INPUT_KEY, STEP_KEY, EXAMPLE_KEY = "att_input", "att_step", "att_example"
OVERRIDES_KEY, BLEND_KEY, LINK_ERRORS_KEY = "att_overrides", "att_blend", "att_link_errors"
FORCE_STEP_KEY, FORCE_POSITION_KEY = "att_force_step", "att_force_position"
HEATMAP_KEY, VIEW_KEY, COLOR_KEY = "att_heatmap", "att_mechanism_view", "att_color_by"
SECTION_KEY, SECTION_WARNING_KEY = "att_section", "att_section_warning"
OWN_RUN, WHAT_IF_RUN = N_("the model's own run"), N_("the what-if run")
SECTIONS = {  # URL value: label of the section picker
    "heatmap": N_("The heatmap"),
    "step": N_("Inside one step"),
    "whatif": N_("What if it looked elsewhere?"),
    "states": N_("Where the states go"),
    "errors": N_("The plain model's errors"),
    "heads": N_("The Transformer's heads"),
}
SCORE_NAMES = (N_("bilinear"), N_("dot"), N_("scaled_dot"), N_("additive"))  # model.config.score
# the words of seqrev.inspection.analysis: the comparison's outcomes and its tables' columns
OUTCOME_WORDS = (N_("both right"), N_("only attention right"), N_("only plain right"),
                 N_("both wrong"))
COLUMN_WORDS = (N_("step"), N_("expected"), N_("attention"), N_("plain"), N_("entropy (nats)"),
                N_("weight on correct letter"), N_("input"), N_("length"), N_("first_error"),
                N_("model"), N_("on the outline (0)"), N_("one column right (+1)"),
                N_("one column left (−1)"), N_("dimension"), N_("key"), N_("term"))
# the two outputs the what-if section lines up (seqrev.inspection.alignment.describe)
OWN_RUN, FORCED_RUN = N_("the model's own run"), N_("the forced run")
STOP_WORD = N_("(stop)")  # step_table's "expected" past the end
DEFAULT_SECTION = "heatmap"


@dataclass
class View:
    """What every section reads: both checkpoints, the string, and both greedy traces."""

    plain: Checkpoint
    attention: Checkpoint
    source: str | None  # None when the typed string was refused
    trace: DecodeTrace | None
    plain_trace: DecodeTrace | None
    numbers: TraceNumbers | None

    @property
    def model_offset(self) -> int | None:
        return self.numbers.best_offset if self.numbers else None

    @property
    def task(self) -> LetterTask:
        """The attention model's task: the one every section explains."""
        return task_of(self.attention)

    @property
    def same_task(self) -> bool:
        """Whether the plain model was trained on the attention model's task."""
        return task_of(self.plain).spec == self.task.spec


def html_download(label: str, figure, file_name: str, key: str) -> None:
    """A self-contained HTML file (plotly.js inside), so it opens without internet."""
    st.download_button(label, lambda: standalone_html(figure), file_name,
                       "text/html", key=key, on_click="ignore", icon=":material/download:")


def set_input(text: str) -> None:
    st.session_state[INPUT_KEY] = text
    clear_overrides()


def clear_overrides() -> None:
    st.session_state[OVERRIDES_KEY] = []
    st.session_state[LINK_ERRORS_KEY] = []


def set_override(step: int, position: int) -> None:
    """Force ``step`` onto ``position``, replacing any override already at that step."""
    kept = [o for o in st.session_state.get(OVERRIDES_KEY, []) if o[0] != step]
    st.session_state[OVERRIDES_KEY] = sorted([*kept, (step, position)])
    st.session_state[LINK_ERRORS_KEY] = []


def add_selected_override() -> None:
    set_override(int(st.session_state[FORCE_STEP_KEY]),
                 int(st.session_state[FORCE_POSITION_KEY]))


def apply_suggestion(step: int, position: int) -> None:
    set_override(step, position)
    st.session_state[FORCE_STEP_KEY] = step
    st.session_state[FORCE_POSITION_KEY] = position
    st.session_state[STEP_KEY] = step


def drop_last_override() -> None:
    st.session_state[OVERRIDES_KEY] = st.session_state.get(OVERRIDES_KEY, [])[:-1]


def on_heatmap_click() -> None:
    """A clicked heatmap cell carries ``[step, position]``: force that step onto that letter."""
    event = st.session_state.get(HEATMAP_KEY) or {}
    for point in (event.get("selection") or {}).get("points", []):
        data = point.get("customdata")
        if isinstance(data, list) and len(data) >= 2:
            apply_suggestion(int(data[0]), int(data[1]))


def both_outputs(view: View, trace: DecodeTrace | None = None,
                 name: str = N_("Attention")) -> None:
    """The plain model's output beside the attention model's (or ``trace``'s), marked."""
    trace = trace or view.trace
    plain_word = _("Plain")
    side_by_side([(f"**{plain_word}** (`{escape_markdown(view.plain.name)}`)",
                   view.plain_trace.output, view.plain_trace.expected),
                  (f"**{_(name)}** (`{escape_markdown(view.attention.name)}`)",
                   trace.output, trace.expected)])


def side_by_side(rows: list[tuple[str, str, str]]) -> None:
    """Outputs as marked letter boxes in columns: ``rows`` of (Markdown heading, output,
    expected)."""
    for column, (heading, output, expected) in zip(st.columns(len(rows)), rows, strict=True):
        with column:
            st.markdown(heading)
            st.html(marked_output_html(output, expected))


def shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column names in the reader's language (unchanged in English)."""
    return frame.rename(columns=lambda column: _(str(column)))


def chart(figure, **options) -> None:
    """``st.plotly_chart`` of ``figure`` with the words of ``seqrev.charts.attention`` (which
    does not take them through ``_()`` itself) in the reader's language."""
    st.plotly_chart(translate_figure(figure), **options)


def heatmap_section(view: View) -> None:
    """The numbers of the string, the heatmap with both diagonals, and a step slider."""
    trace, numbers, source = view.trace, view.numbers, view.source
    first, second, third, fourth, fifth = st.columns(5)
    for column, name, run in ((first, N_("Attention: letters"), trace),
                              (second, N_("Plain: letters"), view.plain_trace)):
        column.metric(_(name), f"{letters_right(run.output, run.expected)} / "
                      f"{len(run.expected)}", _("exact") if run.correct else _("not exact"),
                      delta_color="green" if run.correct else "red", delta_arrow="off")
    best = numbers.best_offset
    best_mass = numbers.offset_mass.get(best)
    third.metric(_("Best diagonal"), f"{best:+d}" if best else _("textbook (0)"),
                 "—" if best_mass is None
                 else _("{mass:.0%} of the weight").format(mass=best_mass),
                 delta_color="off", delta_arrow="off",
                 help=_("The model's own diagonal: shifted by this many columns from the "
                        "textbook outline, it holds the most weight on average. +1: the column "
                        "right of the outline."))
    fourth.metric(_("On the textbook outline"),
                  "—" if numbers.mean_correct_mass is None
                  else f"{numbers.mean_correct_mass:.0%}",
                  None if not best else _("it reads {best:+d} instead").format(best=best),
                  delta_color="off", delta_arrow="off",
                  help=_("Mean weight on the outline ({rule}) at each letter step t (the <eos> "
                         "step has none). A low number here is not a mistake when the model "
                         "reads its own diagonal: see Best diagonal.").format(
                             rule=_(view.task.outline_rule)))
    fifth.metric(_("Entropy (nats)"), f"{numbers.mean_entropy:.2f}",
                 help=_("Mean over the steps of each attention row's entropy. 0 = all weight on "
                        "one letter; {max:.2f} nats = spread evenly over all {n} letters.").format(
                            max=numbers.max_entropy, n=len(source)))
    step = step_control(STEP_KEY, len(trace.steps))
    summary = step_summary(trace, step)
    values = {"step": step, "emitted": escape_markdown(summary.emitted),
              "top": summary.top_position, "top_letter": source[summary.top_position],
              "top_weight": summary.top_weight, "want": summary.correct_position,
              "expected": summary.expected, "weight": summary.correct_weight or 0.0,
              "entropy": summary.entropy}
    if summary.correct_position is None:
        st.caption(_("Step {step} wrote **{emitted}**, where the string should end. Its "
                     "most-read letter is input {top} ({top_letter}, {top_weight:.0%}).")
                   .format(**values))
    else:
        st.caption(_("Step {step} wrote **{emitted}**; the textbook outline says it reads input "
                     "{want} ({expected}), which gets {weight:.0%} of its attention (entropy "
                     "{entropy:.2f} nats). Most-read letter: input {top} ({top_letter}, "
                     "{top_weight:.0%}).").format(**values))
    heatmap = translate_figure(trace_heatmap(
        trace, highlight_step=step, model_offset=view.model_offset,
        title=_("Attention of '{name}' on {task}: {text}").format(
            name=view.attention.name, task=view.task.spec, text=source)))
    st.plotly_chart(heatmap, width="stretch", key=HEATMAP_KEY)
    st.caption(_("Rows: output steps, top to bottom; columns: input letters; hover for the "
                 "weights. Green: the textbook outline, {rule}. Dotted purple: the model's own "
                 "diagonal, where its weight really goes. They differ because the encoder reads "
                 "left to right: its state at input i has just read letter i and still "
                 "remembers letter i−1, so the model can fetch the letter it needs from the "
                 "state one column to its right.").format(rule=_(view.task.outline_rule)))
    encoder_direction_note(view)
    with st.container(horizontal=True):
        st.download_button(_("Attention matrix (CSV)"), attention_frame(trace).to_csv(),
                           f"attention_{source}.csv", "text/csv", key="att_csv",
                           on_click="ignore", icon=":material/download:")
        html_download(_("Heatmap (HTML)"), heatmap, f"attention_{source}.html",
                      "att_heatmap_html")


@st.cache_data(show_spinner=False)
def _outline_offsets(checkpoint_ids: tuple[str, ...], _models: tuple) -> pd.DataFrame:
    task = make_task("reverse", 2, 16)
    strings = fresh_strings(task, 200, seed=20261203)
    rows = []
    for name, model in zip(checkpoint_ids, _models, strict=True):
        masses = offset_masses(model, task, strings)
        rows.append({"model": name.split("@")[0], "on the outline (0)": masses.get(0),
                     "one column right (+1)": masses.get(1),
                     "one column left (−1)": masses.get(-1)})
    return pd.DataFrame(rows)


def encoder_direction_note(view: View) -> None:
    """The question the +1 diagonal raises, answered by the shipped bidirectional model."""
    if view.task.spec != "reverse" or view.attention.model.config.bidirectional:
        return
    if not st.toggle(_("Compare with a bidirectional encoder"), key="att_bidirectional",
                     help=_("Does an encoder that also reads right to left move the attention "
                            "onto the textbook outline? The shipped 'attention-bidirectional' "
                            "model answers it, on this string and on 200 fresh ones.")):
        return
    other = shipped_checkpoint(SHIPPED_BIDIRECTIONAL)
    if other is None:
        return
    other_trace = greedy_trace(other.model, view.source, task=view.task)
    chart(trace_heatmap(other_trace, title=_("Attention of '{name}' on {task}: {text}").format(
        name=other.name, task=view.task.spec, text=view.source)),
        width="stretch", key="att_bidirectional_heatmap")
    with st.spinner(_("Placing both models' attention on 200 fresh strings…")):
        table = _outline_offsets((identity(view.attention), identity(other)),
                                 (view.attention.model, other.model))
    shown = shown_frame(table)
    st.dataframe(shown, hide_index=True, column_config={
        column: st.column_config.NumberColumn(format="percent")
        for column in shown.columns if column != _("model")})
    ours, theirs = table.iloc[0], table.iloc[1]
    st.caption(_(
        "Mean attention weight per step on 200 fresh strings of 2 to 16 letters (the same for "
        "both). **{name}** puts {ours_zero:.0%} on the outline and {ours_right:.0%} one column "
        "right of it; the bidirectional encoder's **{other}** puts {theirs_zero:.0%} on the "
        "outline itself. Its state at input i has read letter i from both sides, so the letter "
        "the step needs is in the state at its own position, not only in the one after it.")
        .format(name=escape_markdown(view.attention.name), other=escape_markdown(other.name),
                ours_zero=ours["on the outline (0)"] or 0.0,
                ours_right=ours["one column right (+1)"] or 0.0,
                theirs_zero=theirs["on the outline (0)"] or 0.0))


def step_section(view: View) -> None:
    """One decode step taken apart: query, keys, scores, softmax, context."""
    source = view.source
    what_if = what_if_trace(view)
    step = step_control(STEP_KEY, len(view.trace.steps))
    st.header(_("Inside step {step}: from query to context").format(step=step))
    views = [OWN_RUN] + ([WHAT_IF_RUN] if what_if is not None else [])
    if st.session_state.get(VIEW_KEY) not in views:
        st.session_state[VIEW_KEY] = OWN_RUN
    view_labels = {name: _(name) for name in views}
    chosen = st.radio(_("Take apart"), views, key=VIEW_KEY, horizontal=True,
                      format_func=view_labels.get) if len(views) > 1 else OWN_RUN
    inside = what_if if chosen == WHAT_IF_RUN else view.trace
    if step >= len(inside.steps):
        st.info(_("The what-if run stopped at step {step}.").format(step=len(inside.steps) - 1))
        return
    mechanism = step_mechanism(view.attention.model, inside, step)
    fed = token_label(mechanism.fed_token)
    query_from = (_("the encoder's last state") if step == 0
                  else _("after step {step}").format(step=step - 1))
    written, score = token_label(mechanism.written_token), _(mechanism.score_name)
    st.markdown(_(
        "Step {step} was fed `{fed}` and wrote `{written}`. The query **q** is the decoder's "
        "state before this step ({query_from}). Score function: **{score}**, one score per "
        "input letter:").format(step=step, fed=fed, written=written, query_from=query_from,
                                score=score))
    st.latex(mechanism.formula)
    st.plotly_chart(vectors_figure(mechanism, title=_("Step {step}: the numbers that meet")
                                   .format(step=step)), width="stretch", key="att_vectors")
    st.plotly_chart(scores_figure(mechanism, title=_("Step {step}: scores, then softmax")
                                  .format(step=step)), width="stretch", key="att_scores")
    st.caption(_("Purple: the highest score. Green outline: the letter the textbook outline "
                 "says this step reads ({rule}).").format(rule=_(view.task.outline_rule))
               + (sentence_separator() + _("Amber: the weights actually used after forcing.")
                  if mechanism.overridden else ""))
    st.markdown(_("**Check the winning score by hand.** Input {winner} ({letter}) wins. Its "
                  "score is a sum of {n} terms; the largest three, then the rest:").format(
                      winner=mechanism.winner, letter=source[mechanism.winner],
                      n=mechanism.contributions.numel()))
    st.latex(mechanism.worked_score())
    st.latex(mechanism.worked_softmax())
    left, right = st.columns([3, 2])
    left.plotly_chart(contributions_figure(mechanism), width="stretch", key="att_contributions")
    query_column = "q" if mechanism.score_name != "additive" else "W_q q + b"
    right.dataframe(shown_frame(pd.DataFrame(
        [{"dimension": d.dim, "key": d.key_value, query_column: d.query_value, "term": d.term}
         for d in mechanism.top_dims])),
        hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                        for c in (_("key"), "q", "W_q q + b", _("term"))})
    used_top = int(mechanism.used.argmax())
    share, letter = float(mechanism.used[used_top]), source[used_top]
    embedding = mechanism.embedding_dim
    pair = embedding + mechanism.context.numel()
    st.markdown(_(
        "**The context** c = Σ a_i h_i mixes the encoder states by those weights (here "
        "{share:.0%} from input {position}, {letter}). It is concatenated with the embedding "
        "of `{fed}` ({embedding} numbers) and the pair, {pair} numbers, is the decoder GRU's "
        "input; its new state scores the output letters, and is the next step's q.").format(
            share=share, position=used_top, letter=letter, fed=fed, embedding=embedding,
            pair=pair))
    numbers = pd.DataFrame({"position": range(len(source)), "letter": list(source),
                            "score": mechanism.scores.tolist(),
                            "own weight": mechanism.weights.tolist(),
                            "used weight": mechanism.used.tolist()})
    keys = pd.DataFrame(mechanism.keys.numpy(),
                        columns=[f"key_{d}" for d in range(mechanism.keys.shape[1])])
    vectors = pd.DataFrame({"q": mechanism.query.tolist(), "c": mechanism.context.tolist()})
    downloads = st.columns(2)
    downloads[0].download_button(
        _("This step's scores and keys (CSV)"), pd.concat([numbers, keys], axis=1).to_csv(
            index=False), f"step{step}_{source}.csv", "text/csv", key="att_step_csv",
        on_click="ignore", icon=":material/download:")
    downloads[1].download_button(
        _("This step's q and c (CSV)"), vectors.to_csv(index_label="dimension"),
        f"step{step}_q_c_{source}.csv", "text/csv", key="att_step_qc_csv",
        on_click="ignore", icon=":material/download:")


def active_overrides(view: View) -> list[AttentionOverride]:
    blend = float(st.session_state.get(BLEND_KEY, 1.0))
    return [AttentionOverride(t, p, blend) for t, p in st.session_state.get(OVERRIDES_KEY, [])]


def what_if_trace(view: View) -> DecodeTrace | None:
    active = active_overrides(view)
    if not active:
        return None
    return greedy_trace(view.attention.model, view.source, overrides=active, task=view.task)


@st.cache_data(show_spinner=False, max_entries=64)
def _suggestion(checkpoint_id: str, source: str, _model, _trace):
    return suggest_override(_model, _trace)


def whatif_section(view: View) -> None:
    """Force the attention of chosen steps, with a suggestion that says what it will do."""
    source, trace = view.source, view.trace
    st.markdown(_(
        "Force the attention at a step onto one input letter (Seq2Seq-Vis's *force "
        "attention*), or blend: the slider runs from the model's own weights (0) to the forced "
        "one-hot (1). The decoder then carries on greedily from the state that produces. "
        "Several steps can be forced at once, one letter per step; the address bar keeps "
        "them. **Click a cell** of the heatmap below to force it."))
    suggestion = _suggestion(f"{view.attention.name}@{view.attention.meta.get('weights_sha256')}",
                             source, view.attention.model, trace)
    if suggestion is not None and not st.session_state.get(OVERRIDES_KEY):
        with st.container(border=True):
            st.markdown(_("**Try this first.**") + sentence_separator()
                        + escape_markdown(suggestion.sentence(source)))
            st.button(_("Force step {step} onto input {position}").format(
                step=suggestion.step, position=suggestion.position),
                key="att_try_suggestion", on_click=apply_suggestion,
                args=(suggestion.step, suggestion.position), icon=":material/science:")
    chart(trace_heatmap(trace, title=_("Click a cell to force it ({text})").format(text=source),
                        clickable=True, model_offset=view.model_offset),
          width="stretch", key=HEATMAP_KEY, on_select=on_heatmap_click, selection_mode="points")
    control, forced_column = st.columns([3, 2])
    offset = view.model_offset or 0
    with control:
        n_override_steps = override_steps(len(source))
        pick_step, pick_position, pick_button = st.columns([2, 3, 2],
                                                           vertical_alignment="bottom")
        current = st.session_state.get(FORCE_STEP_KEY)
        step, position = default_force(len(source), current, trace.alignment)
        if current != step:
            st.session_state[FORCE_STEP_KEY] = step
        if st.session_state.get(FORCE_POSITION_KEY, len(source)) >= len(source):
            st.session_state[FORCE_POSITION_KEY] = position
        force_step = pick_step.selectbox(
            _("Step"), range(n_override_steps), key=FORCE_STEP_KEY,
            format_func=lambda t: f"{t}" if t < len(source) else f"{t} (<eos>)")
        pick_position.selectbox(
            _("Reads input letter"), range(len(source)), key=FORCE_POSITION_KEY,
            format_func=[position_label(source, i, force_step, offset, trace.alignment)
                         for i in range(len(source))].__getitem__)
        pick_button.button(_("Force"), on_click=add_selected_override, key="att_force",
                           icon=":material/ads_click:", width="stretch")
        st.slider(_("Blend: 0 = the model's own weights, 1 = the forced letter only"), 0.0, 1.0,
                  step=0.05, key=BLEND_KEY)
        st.caption(_("The plain model (`{name}`) has no attention to override: its decoder sees "
                     "the input only through the encoder's last state, so there is nothing to "
                     "force.").format(name=escape_markdown(view.plain.name)))
    active = active_overrides(view)
    with forced_column:
        if active:
            forced_list = _(", ").join(
                _("step {step} → input {position} ({letter})").format(
                    step=o.step, position=o.position, letter=source[o.position])
                for o in active)
            st.markdown(_("**Forced:** {forced}, blend {blend:g}").format(
                forced=forced_list, blend=active[0].blend))
            undo, clear = st.columns(2)
            undo.button(_("Undo last"), on_click=drop_last_override, key="att_undo",
                        icon=":material/undo:", width="stretch")
            clear.button(_("Clear all"), on_click=clear_overrides, key="att_clear",
                         icon=":material/clear_all:", width="stretch")
        else:
            st.info(_("Nothing forced yet: pick a step and a letter, click a heatmap cell, or "
                      "try the suggestion above."))
    what_if = what_if_trace(view)
    if what_if is None:
        return
    outcome = override_outcome(trace, what_if)
    side_by_side([(_("**The model's own run**"), trace.output, trace.expected),
                  (_("**With the forced attention**"), what_if.output, trace.expected)])
    cells = st.columns(4)
    if outcome.forced:
        first_forced = outcome.forced[0]
        cells[0].metric(
            _("Step {step} wrote").format(step=first_forced.step), first_forced.written,
            f"p = {first_forced.probability:.2f}"
            + ("" if first_forced.right
               else _("; right: {letter}").format(letter=first_forced.expected)),
            delta_color="green" if first_forced.right else "red", delta_arrow="off",
            help=_("The letter written at the (first) forced step and its probability; the "
                   "right letter is named when it differs. The model's own run wrote "
                   "{letter}.").format(letter=first_forced.original))
    changed = outcome.changed_steps
    cells[1].metric(_("Steps changed"), f"{len(changed)}",
                    _(", ").join(map(str, changed[:12])) + (" …" if len(changed) > 12 else "")
                    if changed else _("none"), delta_color="off", delta_arrow="off",
                    help=_("Steps where the forced run wrote a different token from the "
                           "model's own run (or one of the runs had already stopped)."))
    later = outcome.later_right
    cells[2].metric(_("Afterwards"), "—" if later is None else
                    (_("recovers") if outcome.recovered else _("right") if later
                     else _("derailed")),
                    help=_("After the last forced step, does every later step write the right "
                           "letter? 'recovers': a forced step went wrong and the model came "
                           "back; 'right': nothing went wrong; 'derailed': later letters are "
                           "wrong."))
    cells[3].metric(_("Whole output"), _("exact") if outcome.exact else _("not exact"))
    lined_up = summarize(align_letters(trace.output, what_if.output))
    sentence = describe(lined_up, OWN_RUN, FORCED_RUN)
    if lined_up.differing < len(changed):
        sentence += sentence_separator() + _("Step by step, a skipped letter makes every later "
                                             "step differ; lined up by letter, far fewer do.")
    st.caption(sentence)
    for unreached in outcome.unreached:
        st.caption(_("Step {step} was never reached: the forced run wrote <eos> at step "
                     "{last}.").format(step=unreached.step, last=len(what_if.steps) - 1))
    forced_heatmap = translate_figure(trace_heatmap(
        what_if, title=_("Attention used in the what-if run (forced cells framed)")))
    probability = translate_figure(override_probability_figure(trace, what_if))
    left, right = st.columns(2)
    left.plotly_chart(forced_heatmap, width="stretch", key="att_forced_heatmap")
    right.plotly_chart(probability, width="stretch", key="att_forced_probability")
    html_download(_("What-if heatmap (HTML)"), forced_heatmap, f"forced_{source}.html",
                  "att_forced_html")


@st.cache_resource(show_spinner=False, max_entries=8)
def state_map(checkpoint_id: str, _checkpoint):
    """One model's PCA planes, from its stored analysis (or fitted once); shared, read-only."""
    return stored_state_map(_checkpoint)


@st.cache_resource(show_spinner=False, max_entries=16)
def reference_cloud(plain_id: str, attention_id: str, color_by: str, language: str, _maps):
    """The reference states figure: it depends only on the two checkpoints, the colouring and
    the language of its words, so it is built once (about 13,000 points), not on every rerun;
    shared and never changed."""
    with use_language(language):
        return reference_figure(_maps, color_by, title=_(
            "{n} fresh strings on the same planes").format(n=REFERENCE_N))


def identity(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.name}@{checkpoint.meta.get('weights_sha256', '')}"


def states_section(view: View) -> None:
    """Both models' hidden states on PCA planes fitted once on a fixed reference set."""
    source = view.source
    st.markdown(_(
        "Each hidden state is 100 numbers; here they are projected onto their two main "
        "directions (PCA), fitted once on {n} fresh strings of {low}-{high} letters (a fixed "
        "seed), so the axes stay put when you change the string. Top: the encoder reading your "
        "string; bottom: the decoder writing it, each point after one step. Grey: the "
        "reference states.").format(n=REFERENCE_N, low=REFERENCE_LENGTHS[0],
                                    high=REFERENCE_LENGTHS[1]))
    with st.spinner(_("Fitting the state maps on fresh strings…")):
        maps = {"plain": state_map(identity(view.plain), view.plain),
                "attention": state_map(identity(view.attention), view.attention)}
    paths = {"plain": trace_path(maps["plain"], view.plain_trace),
             "attention": trace_path(maps["attention"], view.trace)}
    paths_figure = state_paths_figure(
        maps, paths, title=_("States of both models for {text}").format(text=source))
    st.plotly_chart(paths_figure, width="stretch", key="att_state_paths")
    color_by = st.radio(_("Colour the reference states by"), list(COLOR_BY), key=COLOR_KEY,
                        horizontal=True,
                        format_func={key: _(label) for key, label in COLOR_BY.items()}.get)
    cloud_figure = reference_cloud(identity(view.plain), identity(view.attention), color_by,
                                   current_language(), maps)
    st.plotly_chart(cloud_figure, width="stretch", key="att_state_cloud")
    tracking = _("; ").join(
        _("{kind}: correlation with the letters left {corr:.2f}, PC1 holds {share:.0%} of the "
          "state's variance").format(kind=_(kind), corr=corr, share=share)
        for kind, (corr, share) in ((k, progress_correlation(maps[k])) for k in maps))
    st.caption(_(
        "The plain model's decoder must know how far along it is from its state alone, and "
        "its states lie along a curve ordered by the letters still to write. Along the first "
        "direction (PC1) of each decoder plane: {tracking}. A share that is smaller means the "
        "count is a smaller part of what the state carries: the attention model can also find "
        "its place in the input.").format(tracking=tracking))
    with st.container(horizontal=True):
        html_download(_("State paths (HTML)"), paths_figure, f"states_{source}.html",
                      "att_paths_html")
        html_download(_("Reference states (HTML)"), cloud_figure, "reference_states.html",
                      "att_cloud_html")


@st.cache_data(show_spinner=False, max_entries=16)
def comparison(plain_id: str, attention_id: str, lengths: tuple[int, ...], n_per_length: int,
               seed: int, _plain, _attention):
    """Both models on the same fresh strings: from the stored analysis, or computed and kept."""
    return stored_comparison(_plain, _attention, lengths, n_per_length, seed)


def errors_section(view: View) -> None:
    """This string's plain-model errors, then many strings: where the plain model breaks."""
    if not view.same_task:
        st.info(_("The plain model (`{name}`) was trained on {plain_task}, the attention model "
                  "on {task}: their errors can only be compared on one task. Pick a plain model "
                  "of the same task in the sidebar.").format(
                      name=escape_markdown(view.plain.name), plain_task=task_of(view.plain).spec,
                      task=view.task.spec), icon=":material/info:")
        return
    if view.source:
        this_string_errors(view)
    many_strings(view)


def this_string_errors(view: View) -> None:
    st.subheader(_("The same string through both models"))
    both_outputs(view)
    wrong = wrong_steps(view.plain_trace)
    if wrong:
        st.markdown(_(
            "The plain model goes wrong at step(s) {steps}. These are the attention model's "
            "rows at the same steps (those it reached): weight on the model's own diagonal "
            "means it read the very letter that the plain model had to recall from its one "
            "state vector.").format(steps=_(", ").join(map(str, wrong))))
        plain_tokens = [token_label(s.chosen_token) for s in view.plain_trace.steps]
        figure = translate_figure(wrong_steps_heatmap(
            view.trace, wrong, plain_tokens,
            title=_("Attention at the plain model's wrong steps")))
        st.plotly_chart(figure, width="stretch", key="att_wrong_heatmap")
        html_download(_("Wrong-step rows (HTML)"), figure, f"plain_wrong_{view.source}.html",
                      "att_wrong_html")
    else:
        st.success(_("The plain model gets this string right. Its memory fails on longer "
                     "strings: try one longer than it was trained on."))
    with st.expander(_("Every step in numbers")):
        table = step_table(view.trace, view.plain_trace)
        table["expected"] = table["expected"].replace(STOP_WORD, _(STOP_WORD))
        st.dataframe(shown_frame(table), hide_index=True, column_config={
            _("entropy (nats)"): st.column_config.NumberColumn(format="%.3f"),
            _("weight on correct letter"): st.column_config.NumberColumn(format="%.3f")})


def many_strings(view: View) -> None:
    plain, attention = view.plain, view.attention
    st.header(_("Many strings: where the plain model breaks"))
    train = plain.train_config or attention.train_config
    train_range = (train.min_len, train.max_len) if train else None
    other = attention.train_config
    differ = (plain.train_config is not None and other is not None
              and (other.min_len, other.max_len) != train_range)
    default_low, default_high = default_lengths(plain, attention)
    with st.form("att_batch"):
        low_col, n_col, seed_col = st.columns([3, 1, 1])
        low, high = low_col.slider(_("Input lengths"), 1, MAX_INPUT_LEN,
                                   (default_low, default_high), key="att_lengths")
        n_per_length = n_col.number_input(
            _("Strings per length"), 10, 500, DEFAULT_N_PER_LENGTH, 10, key="att_n",
            help=_("All 64 lengths at 500 each (32,000 strings) take about 20 s on a 2-core "
                   "CPU; 1,000 strings well under a second. The default set is stored with the "
                   "checkpoint, so it shows at once."))
        seed = seed_col.number_input(_("Seed"), 0, 1_000_000, DEFAULT_SEED, key="att_seed")
        st.form_submit_button(_("Compare"), icon=":material/compare_arrows:")
    with st.spinner(_("Decoding fresh strings with both models…")):
        result = comparison(identity(plain), identity(attention), tuple(range(low, high + 1)),
                            int(n_per_length), int(seed), plain, attention)
    total = sum(result.outcomes.values())
    counts = st.columns(4)
    for column, (label, value) in zip(counts, result.outcomes.items(), strict=True):
        shown_label = _(label)
        column.metric(shown_label.capitalize() if shown_label == label else shown_label,
                      f"{value:,}", _("{share:.0%} of {total:,}").format(share=value / total,
                                                                          total=total),
                      delta_color="off", delta_arrow="off")
    how = (_("read from the analysis stored with the checkpoints (computed once in "
             "{seconds:.2f} s)") if result.stored
           else _("decoded greedily by both models in {seconds:.2f} s"))
    caption = _("{total:,} fresh strings ({n} per length, lengths {low}-{high}, seed {seed}), "
                "{how}.").format(total=total, n=result.n_per_length, low=low, high=high,
                                 seed=result.seed, how=how.format(seconds=result.seconds))
    if train_range and differ:
        caption += sentence_separator() + _(
            "Shaded: outside the training lengths {train_low}-{train_high} of the plain model "
            "(the attention model's: {other_low}-{other_high}).").format(
                train_low=train_range[0], train_high=train_range[1], other_low=other.min_len,
                other_high=other.max_len)
    elif train_range:
        caption += sentence_separator() + _(
            "Shaded: outside the training lengths {train_low}-{train_high}.").format(
                train_low=train_range[0], train_high=train_range[1])
    st.caption(caption)
    error_figure = translate_figure(
        error_rate_figure(result.per_position, train_range[1] if train_range else None))
    match_figure = translate_figure(exact_match_figure(result.by_length, train_range))
    left, right = st.columns(2)
    left.plotly_chart(error_figure, width="stretch", key="att_error_rate")
    right.plotly_chart(match_figure, width="stretch", key="att_exact_match")
    st.caption(_("Output position p is scored over every string longer than p. The plain "
                 "model's errors grow with position: the letters it must write last were read "
                 "first, and have been overwritten the most in its single state vector."))
    with st.container(horizontal=True):
        html_download(_("Error-rate chart (HTML)"), error_figure, "error_rate_by_position.html",
                      "att_error_html")
        html_download(_("Exact-match chart (HTML)"), match_figure, "exact_match_by_length.html",
                      "att_match_html")
    only_attention_right(view, result)


def only_attention_right(view: View, result) -> None:
    st.subheader(_("Strings only the attention model gets right"))
    examples = result.examples
    if examples.empty:
        st.info(_("No string in this set is wrong for the plain model and right for the "
                  "attention model. Try longer strings."))
        return
    n, shown = result.n_plain_only, len(examples)
    if n == shown:
        st.caption(_("{n:,} strings; {column} is the first output position the plain model got "
                     "wrong.").format(n=n, column=_("first_error")))
    else:
        st.caption(_("{n:,} strings (the first {shown:,}); {column} is the first output "
                     "position the plain model got wrong.").format(n=n, shown=shown,
                                                                   column=_("first_error")))
    st.dataframe(shown_frame(examples), hide_index=True, height=260)
    letters = _("{text} ({n} letters)")  # taken now: AppTest calls format_func after the run
    choice = st.selectbox(_("Look at one"), examples["input"].tolist(), key=EXAMPLE_KEY,
                          format_func=lambda s: letters.format(text=s, n=len(s)))
    chosen = greedy_trace(view.attention.model, choice, task=view.task)
    chosen_plain = greedy_trace(view.plain.model, choice, task=view.task)
    plain_word, attention_word = _("Plain"), _("Attention")
    side_by_side([(f"**{plain_word}**", chosen_plain.output, chosen.expected),
                  (f"**{attention_word}**", chosen.output, chosen.expected)])
    chart(trace_heatmap(chosen, title=_("Attention on {task}: {text}").format(
        task=view.task.spec, text=choice)), width="stretch", key="att_example_heatmap")
    st.button(_("Step through this string on the heatmap"), on_click=show_string,
              args=(choice,), key="att_use_example", icon=":material/arrow_upward:")


def show_string(text: str) -> None:
    set_input(text)
    st.session_state[SECTION_KEY] = DEFAULT_SECTION


RENDER = {"heatmap": heatmap_section, "step": step_section, "whatif": whatif_section,
          "states": states_section, "errors": errors_section, "heads": heads_section}

"""Attention: where each output letter looks, and why the plain model fails without it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import checked_input, escape_markdown, require_router, selected
from pages.widgets import step_control
from seqrev.analysis import (
    Comparison,
    attention_frame,
    compare_models,
    letters_right,
    step_summary,
    step_table,
    trace_numbers,
    wrong_steps,
)
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
from seqrev.decoding import (
    AttentionOverride,
    OverrideError,
    check_blend,
    check_overrides,
    greedy_trace,
    override_steps,
    parse_overrides,
)
from seqrev.mechanism import override_outcome, step_mechanism
from seqrev.projection import (
    REFERENCE_LENGTHS,
    REFERENCE_N,
    fit_state_map,
    progress_correlation,
    trace_path,
)
from seqrev.vocab import MAX_INPUT_LEN, token_label

require_router("pages/attention.py")

INPUT_KEY, STEP_KEY, EXAMPLE_KEY = "att_input", "att_step", "att_example"
OVERRIDES_KEY, BLEND_KEY, LINK_ERRORS_KEY = "att_overrides", "att_blend", "att_link_errors"
FORCE_STEP_KEY, FORCE_POSITION_KEY = "att_force_step", "att_force_position"
HEATMAP_KEY, VIEW_KEY, COLOR_KEY = "att_heatmap", "att_mechanism_view", "att_color_by"
OWN_RUN, WHAT_IF_RUN = "the model's own run", "the what-if run"
DEFAULT_INPUT = "ATTENTIONISALLYOUNEED"  # 21 letters: past where the shipped plain model holds
EXAMPLES = {  # button label: (string, tooltip)
    "ATTENTION…": ("ATTENTIONISALLYOUNEED", "21 letters, longer than training"),
    "MISSISSIPPIAN": ("MISSISSIPPIAN", "repeated letters"),
    "ABCDEFGHIJKL": ("ABCDEFGHIJKL", "a run of the alphabet"),
    "ZUPEIDWNVG": ("ZUPEIDWNVG", "the lab's sample answer"),
    "JJDDNZGZZF": ("JJDDNZGZZF", "the lab's wrong sample"),
    "24 letters": ("QWERTYUIOPASDFGHJKLZXCVB", "longer than most training strings"),
}


@st.cache_data(show_spinner="Decoding fresh strings with both models…", max_entries=16)
def comparison(plain_id: str, attention_id: str, lengths: tuple[int, ...], n_per_length: int,
               seed: int, _plain, _attention) -> Comparison:
    """Both models on the same fresh strings; cached by checkpoint identity and settings."""
    return compare_models(_plain, _attention, lengths, n_per_length, seed)


def identity(checkpoint) -> str:
    return f"{checkpoint.name}@{checkpoint.meta.get('weights_sha256', '')}"


def html_download(label: str, figure, file_name: str, key: str) -> None:
    """A self-contained HTML file (plotly.js inside), so it opens without internet."""
    st.download_button(label, lambda: standalone_html(figure), file_name,
                       "text/html", key=key, on_click="ignore", icon=":material/download:")


@st.cache_resource(show_spinner="Fitting the state maps on fresh strings…", max_entries=8)
def state_map(checkpoint_id: str, _model):
    """One model's PCA planes, fitted once on the fixed reference set; shared and read-only."""
    return fit_state_map(_model)


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


def drop_last_override() -> None:
    st.session_state[OVERRIDES_KEY] = st.session_state.get(OVERRIDES_KEY, [])[:-1]


def on_heatmap_click() -> None:
    """A clicked heatmap cell carries ``[step, position]``: force that step onto that letter."""
    event = st.session_state.get(HEATMAP_KEY) or {}
    for point in (event.get("selection") or {}).get("points", []):
        data = point.get("customdata")
        if isinstance(data, list) and len(data) >= 2:
            set_override(int(data[0]), int(data[1]))
            st.session_state[STEP_KEY] = int(data[0])
            st.session_state[FORCE_STEP_KEY] = int(data[0])
            st.session_state[FORCE_POSITION_KEY] = int(data[1])


def init_from_link() -> None:
    """On a fresh visit, fill the input and the overrides from ``?text=&attend=&blend=``."""
    if INPUT_KEY in st.session_state:
        return
    params = st.query_params
    st.session_state[INPUT_KEY] = params.get("text", DEFAULT_INPUT)
    errors, blend, overrides = [], 1.0, []
    try:
        blend = check_blend(params.get("blend", "1"))
    except OverrideError as error:
        errors.append(f"Ignored blend in the link: {error}.")
    try:
        overrides = parse_overrides(params.get("attend", ""), blend)
    except OverrideError as error:
        errors.append(f"Ignored attend in the link: {error}.")
    st.session_state[BLEND_KEY] = blend
    st.session_state[OVERRIDES_KEY] = sorted((o.step, o.position) for o in overrides)
    st.session_state[LINK_ERRORS_KEY] = errors
    if st.session_state[OVERRIDES_KEY]:  # open on the first forced step
        first_step, first_position = st.session_state[OVERRIDES_KEY][0]
        st.session_state[STEP_KEY] = first_step
        st.session_state[FORCE_STEP_KEY] = first_step
        st.session_state[FORCE_POSITION_KEY] = first_position


def sync_link(text: str, overrides: list[tuple[int, int]], blend: float) -> None:
    link = {"text": text}
    if overrides:
        link |= {"attend": ",".join(f"{t}:{p}" for t, p in overrides), "blend": f"{blend:g}"}
    if st.query_params.to_dict() != link:
        st.query_params.from_dict(link)


def position_label(source: str, position: int, step: int) -> str:
    marks = {len(source) - 1 - step: " (the outline)", len(source) - step: " (+1)"}
    return f"{position}: {source[position]}{marks.get(position, '')}"


st.title("Attention: where each output letter looks")
st.markdown(
    "To reverse a string, output step *t* must copy input letter *S−1−t*. The **plain** "
    "model cannot look back: everything it knows about the input has to pass through one "
    "100-number vector, the encoder's last state, and long strings no longer fit. The "
    "**attention** model scores every encoder state against its own previous state at each "
    "step (bilinear: `(W h_i)·q`), and reads the letters through those weights. Below, each "
    "row of the heatmap is one output step and each column one input letter; the outlined "
    "anti-diagonal is the ideal alignment, step *t* reading letter *S−1−t*."
)

plain, attention = selected("plain"), selected("attention")
if attention is None or plain is None:
    st.stop()

init_from_link()
st.session_state.setdefault(OVERRIDES_KEY, [])
st.session_state.setdefault(BLEND_KEY, 1.0)
text = st.text_input(f"String to reverse (letters A-Z, up to {MAX_INPUT_LEN})", key=INPUT_KEY,
                     on_change=clear_overrides)
columns = st.columns(len(EXAMPLES))
for column, (label, (example, note)) in zip(columns, EXAMPLES.items(), strict=True):
    column.button(label, help=f"{example}: {note}", on_click=set_input, args=(example,),
                  width="stretch", key=f"att_example_{example}")
source = checked_input(text)
if source and st.session_state[OVERRIDES_KEY]:
    try:
        check_overrides([AttentionOverride(t, p) for t, p in st.session_state[OVERRIDES_KEY]],
                        len(source), True)
    except OverrideError as error:
        st.session_state[LINK_ERRORS_KEY] = [
            *st.session_state.get(LINK_ERRORS_KEY, []), f"Dropped the overrides: {error}."]
        st.session_state[OVERRIDES_KEY] = []
for message in st.session_state.get(LINK_ERRORS_KEY, []):
    st.error(escape_markdown(message))
sync_link(text, st.session_state[OVERRIDES_KEY], st.session_state[BLEND_KEY])

if source:
    trace = greedy_trace(attention.model, source)
    plain_trace = greedy_trace(plain.model, source)
    numbers = trace_numbers(trace)
    expected = trace.expected

    st.header("One string, step by step")
    first, second, third, fourth, fifth = st.columns(5)
    for column, name, run in ((first, "Attention", trace), (second, "Plain", plain_trace)):
        column.metric(f"{name}: letters", f"{letters_right(run.output, expected)} / "
                      f"{len(expected)}", "exact" if run.correct else "not exact",
                      delta_color="green" if run.correct else "red", delta_arrow="off")
    third.metric("Entropy (nats)", f"{numbers.mean_entropy:.2f}",
                 help=f"Mean over the steps of each attention row's entropy. 0 = all weight on "
                      f"one letter; {numbers.max_entropy:.2f} nats = spread evenly over all "
                      f"{len(source)} letters.")
    fourth.metric("On the outline",
                  "—" if numbers.mean_correct_mass is None
                  else f"{numbers.mean_correct_mass:.0%}",
                  help="Mean weight on the correct letter, input S-1-t, at each letter step t "
                       "(the <eos> step has no correct letter).")
    best = numbers.best_offset
    fifth.metric("Best diagonal", f"{best:+d}" if best else "ideal (0)",
                 f"{numbers.offset_mass[best]:.0%} of the weight", delta_color="off",
                 delta_arrow="off",
                 help="The diagonal, shifted by this many columns from the ideal one, that holds "
                      "the most weight on average. +1: the column right of the outline.")
    if best == 1 and numbers.offset_mass[1] > (numbers.mean_correct_mass or 0):
        st.info("Most of this model's weight sits one column right of the outline: at each "
                "step it finds the letter it has just written, and that letter's encoder state "
                "still remembers the letter before it, the one to write next. Another road to "
                "the answer: judge this model by the +1 diagonal rather than the outline.",
                icon=":material/lightbulb:")

    step = step_control(STEP_KEY, len(trace.steps))
    summary = step_summary(trace, step)
    if summary.correct_position is None:
        st.caption(f"Step {step} wrote **{summary.emitted}**, where the string should end. "
                   f"Its most-read letter is input {summary.top_position} "
                   f"({source[summary.top_position]}, {summary.top_weight:.0%}).")
    else:
        want = f"should copy input {summary.correct_position} ({summary.expected})"
        st.caption(
            f"Step {step} wrote **{summary.emitted}**; it {want} and gives it "
            f"{summary.correct_weight:.0%} of its attention (entropy {summary.entropy:.2f} "
            f"nats). Most-read letter: input {summary.top_position} "
            f"({source[summary.top_position]}, {summary.top_weight:.0%})."
        )
    heatmap = trace_heatmap(trace, highlight_step=step,
                            title=f"Attention of '{attention.name}' reversing {source}",
                            clickable=True)
    st.plotly_chart(heatmap, width="stretch", key=HEATMAP_KEY, on_select=on_heatmap_click,
                    selection_mode="points")
    st.caption("Rows: output steps, top to bottom; columns: input letters; hover for the "
               "weights. The encoder reads left to right, so its state at position i also "
               "remembers the letters before i: a model can fetch letter i from a state just "
               "after it, which shows as weight one column right of the outline. **Click a "
               "cell** to force that step to read that letter (the what-if below).")

    st.header("What if it looked elsewhere?")
    st.markdown(
        "Force the attention at a step onto one input letter (Seq2Seq-Vis's *force attention*), "
        "or blend: the slider runs from the model's own weights (0) to the forced one-hot (1). "
        "The decoder then carries on greedily from the state that produces. Several steps can "
        "be forced at once, one letter per step; the address bar keeps them.")
    control, forced_column = st.columns([3, 2])
    with control:
        n_override_steps = override_steps(len(source))
        pick_step, pick_position, pick_button = st.columns([2, 3, 2],
                                                           vertical_alignment="bottom")
        # start on step 3 (or the last) and the letter the outline says it should read
        if st.session_state.get(FORCE_STEP_KEY, n_override_steps) >= n_override_steps:
            st.session_state[FORCE_STEP_KEY] = min(3, len(source) - 1)
        if st.session_state.get(FORCE_POSITION_KEY, len(source)) >= len(source):
            st.session_state[FORCE_POSITION_KEY] = len(source) - 1 - st.session_state[
                FORCE_STEP_KEY]
        force_step = pick_step.selectbox(
            "Step", range(n_override_steps), key=FORCE_STEP_KEY,
            format_func=lambda t: f"{t}" if t < len(source) else f"{t} (<eos>)")
        pick_position.selectbox(
            "Reads input letter", range(len(source)), key=FORCE_POSITION_KEY,
            format_func=lambda i: position_label(source, i, force_step))
        pick_button.button("Force", on_click=add_selected_override, key="att_force",
                           icon=":material/ads_click:", width="stretch")
        st.slider("Blend: 0 = the model's own weights, 1 = the forced letter only", 0.0, 1.0,
                  step=0.05, key=BLEND_KEY)
        st.caption(f"The plain model (`{escape_markdown(plain.name)}`) has no attention to "
                   "override: its decoder sees the input only through the encoder's last "
                   "state, so there is nothing to force.")
    blend = float(st.session_state[BLEND_KEY])
    active = [AttentionOverride(t, p, blend) for t, p in st.session_state[OVERRIDES_KEY]]
    with forced_column:
        if active:
            st.markdown("**Forced:** " + ", ".join(
                f"step {o.step} → input {o.position} ({source[o.position]})" for o in active)
                + f", blend {blend:g}")
            undo, clear = st.columns(2)
            undo.button("Undo last", on_click=drop_last_override, key="att_undo",
                        icon=":material/undo:", width="stretch")
            clear.button("Clear all", on_click=clear_overrides, key="att_clear",
                         icon=":material/clear_all:", width="stretch")
        else:
            st.info("Nothing forced yet: pick a step and a letter, or click a heatmap cell. "
                    f"Try step 3 on the outline: input {len(source) - 4} "
                    f"({source[len(source) - 4]})." if len(source) >= 4 else
                    "Nothing forced yet: pick a step and a letter, or click a heatmap cell.")
    what_if = greedy_trace(attention.model, source, overrides=active) if active else None
    if what_if is not None:
        outcome = override_outcome(trace, what_if)
        left, right = st.columns(2)
        with left:
            st.markdown("**The model's own run**")
            st.html(marked_output_html(trace.output, expected))
        with right:
            st.markdown("**With the forced attention**")
            st.html(marked_output_html(what_if.output, expected))
        cells = st.columns(4)
        if outcome.forced:
            first_forced = outcome.forced[0]
            cells[0].metric(
                f"Step {first_forced.step} wrote", first_forced.written,
                f"p = {first_forced.probability:.2f}"
                + ("" if first_forced.right else f"; right: {first_forced.expected}"),
                delta_color="green" if first_forced.right else "red", delta_arrow="off",
                help="The letter written at the (first) forced step and its probability; "
                     "the right letter is named when it differs. The model's own run wrote "
                     f"{first_forced.original}.")
        changed = outcome.changed_steps
        cells[1].metric("Steps changed", f"{len(changed)}",
                        ", ".join(map(str, changed[:12])) + (" …" if len(changed) > 12 else "")
                        if changed else "none", delta_color="off", delta_arrow="off",
                        help="Steps where the forced run wrote a different token from the "
                             "model's own run (or one of the runs had already stopped).")
        later = outcome.later_right
        cells[2].metric("Afterwards", "—" if later is None else
                        ("recovers" if outcome.recovered else "right" if later else "derailed"),
                        help="After the last forced step, does every later step write the "
                             "right letter? 'recovers': a forced step went wrong and the model "
                             "came back; 'right': nothing went wrong; 'derailed': later letters "
                             "are wrong.")
        cells[3].metric("Whole output", "exact" if outcome.exact else "not exact")
        for unreached in outcome.unreached:
            st.caption(f"Step {unreached.step} was never reached: the forced run wrote "
                       f"<eos> at step {len(what_if.steps) - 1}.")
        forced_heatmap = trace_heatmap(
            what_if, highlight_step=step if step < len(what_if.steps) else None,
            title="Attention used in the what-if run (forced cells framed)")
        probability = override_probability_figure(trace, what_if)
        left, right = st.columns(2)
        left.plotly_chart(forced_heatmap, width="stretch", key="att_forced_heatmap")
        right.plotly_chart(probability, width="stretch", key="att_forced_probability")
        html_download("What-if heatmap (HTML)", forced_heatmap, f"forced_{source}.html",
                      "att_forced_html")

    st.header(f"Inside step {step}: from query to context")
    views = [OWN_RUN] + ([WHAT_IF_RUN] if what_if is not None else [])
    if st.session_state.get(VIEW_KEY) not in views:
        st.session_state[VIEW_KEY] = OWN_RUN
    view = st.radio("Take apart", views, key=VIEW_KEY, horizontal=True) if len(views) > 1 \
        else OWN_RUN
    inside = what_if if view == WHAT_IF_RUN else trace
    if step >= len(inside.steps):
        st.info(f"The what-if run stopped at step {len(inside.steps) - 1}.")
    else:
        mechanism = step_mechanism(attention.model, inside, step)
        fed = token_label(mechanism.fed_token)
        st.markdown(
            f"Step {step} was fed `{fed}` and wrote `{token_label(mechanism.written_token)}`. "
            f"The query **q** is the decoder's state before this step ("
            + ("the encoder's last state" if step == 0 else f"after step {step - 1}")
            + f"). Score function: **{mechanism.score_name}**, one score per input letter:")
        st.latex(mechanism.formula)
        st.plotly_chart(vectors_figure(mechanism, title=f"Step {step}: the numbers that meet"),
                        width="stretch", key="att_vectors")
        st.plotly_chart(scores_figure(mechanism, title=f"Step {step}: scores, then softmax"),
                        width="stretch", key="att_scores")
        st.caption("Purple: the highest score. Green outline: the letter this step should copy "
                   "(input S−1−t)." + (" Amber: the weights actually used after forcing."
                                       if mechanism.overridden else ""))
        st.markdown(f"**Check the winning score by hand.** Input {mechanism.winner} "
                    f"({source[mechanism.winner]}) wins. Its score is a sum of "
                    f"{mechanism.contributions.numel()} terms; the largest three, then the "
                    "rest:")
        st.latex(mechanism.worked_score())
        st.latex(mechanism.worked_softmax())
        left, right = st.columns([3, 2])
        left.plotly_chart(contributions_figure(mechanism), width="stretch",
                          key="att_contributions")
        right.dataframe(pd.DataFrame(
            [{"dimension": d.dim, "key": d.key_value, "q" if mechanism.score_name != "additive"
              else "W_q q + b": d.query_value, "term": d.term} for d in mechanism.top_dims]),
            hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                            for c in ("key", "q", "W_q q + b", "term")})
        used_top = int(mechanism.used.argmax())
        st.markdown(
            f"**The context** c = Σ a_i h_i mixes the encoder states by those weights (here "
            f"{float(mechanism.used[used_top]):.0%} from input {used_top}, "
            f"{source[used_top]}). It is concatenated with the embedding of `{fed}` "
            f"({mechanism.embedding_dim} numbers) and the pair, "
            f"{mechanism.embedding_dim + mechanism.context.numel()} numbers, is the decoder "
            "GRU's input; its new state scores the output letters, and is the next step's q.")
        numbers = pd.DataFrame({"position": range(len(source)), "letter": list(source),
                                "score": mechanism.scores.tolist(),
                                "own weight": mechanism.weights.tolist(),
                                "used weight": mechanism.used.tolist()})
        keys = pd.DataFrame(mechanism.keys.numpy(), columns=[f"key_{d}" for d in
                                                             range(mechanism.keys.shape[1])])
        vectors = pd.DataFrame({"q": mechanism.query.tolist(), "c": mechanism.context.tolist()})
        downloads = st.columns(2)
        downloads[0].download_button(
            "This step's scores and keys (CSV)", pd.concat([numbers, keys], axis=1).to_csv(
                index=False), f"step{step}_{source}.csv", "text/csv", key="att_step_csv",
            on_click="ignore", icon=":material/download:")
        downloads[1].download_button(
            "This step's q and c (CSV)", vectors.to_csv(index_label="dimension"),
            f"step{step}_q_c_{source}.csv", "text/csv", key="att_step_qc_csv",
            on_click="ignore", icon=":material/download:")

    st.subheader("The same string through both models")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Plain** (`{plain.name}`)")
        st.markdown(marked_output_html(plain_trace.output, expected), unsafe_allow_html=True)
    with right:
        st.markdown(f"**Attention** (`{attention.name}`)")
        st.markdown(marked_output_html(trace.output, expected), unsafe_allow_html=True)
    wrong = wrong_steps(plain_trace)
    wrong_figure = None
    if wrong:
        st.markdown(
            f"The plain model goes wrong at step{'s' if len(wrong) > 1 else ''} "
            f"{', '.join(map(str, wrong))}. These are the attention model's rows at the same "
            "steps (those it reached). Weight on the outlined cell means it read the very "
            "letter that the plain model had to recall from its one state vector."
        )
        plain_tokens = [token_label(s.chosen_token) for s in plain_trace.steps]
        wrong_figure = wrong_steps_heatmap(trace, wrong, plain_tokens,
                                           title="Attention at the plain model's wrong steps")
        st.plotly_chart(wrong_figure, width="stretch", key="att_wrong_heatmap")
    else:
        st.success("The plain model gets this string right. Its memory fails on longer "
                   "strings: try one longer than it was trained on.")
    with st.expander("Every step in numbers"):
        st.dataframe(step_table(trace, plain_trace), hide_index=True,
                     column_config={"entropy (nats)": st.column_config.NumberColumn(format="%.3f"),
                                    "weight on correct letter":
                                        st.column_config.NumberColumn(format="%.3f")})
    buttons = st.columns(3)
    with buttons[0]:
        st.download_button("Attention matrix (CSV)", attention_frame(trace).to_csv(),
                           f"attention_{source}.csv", "text/csv", key="att_csv",
                           on_click="ignore", icon=":material/download:")
    with buttons[1]:
        html_download("Heatmap (HTML)", heatmap, f"attention_{source}.html", "att_heatmap_html")
    if wrong_figure is not None:
        with buttons[2]:
            html_download("Wrong-step rows (HTML)", wrong_figure, f"plain_wrong_{source}.html",
                          "att_wrong_html")

if source:
    st.header("Where the states go")
    st.markdown(
        "Each hidden state is 100 numbers; here they are projected onto their two main "
        f"directions (PCA), fitted once on {REFERENCE_N} fresh strings of "
        f"{REFERENCE_LENGTHS[0]}-{REFERENCE_LENGTHS[1]} letters (a fixed seed), so the axes "
        "stay put when you change the string. Top: the encoder reading your string; bottom: "
        "the decoder writing it, each point after one step. Grey: the reference states.")
    maps = {"plain": state_map(identity(plain), plain.model),
            "attention": state_map(identity(attention), attention.model)}
    paths = {"plain": trace_path(maps["plain"], plain_trace),
             "attention": trace_path(maps["attention"], trace)}
    paths_figure = state_paths_figure(maps, paths, title=f"States of both models for {source}")
    st.plotly_chart(paths_figure, width="stretch", key="att_state_paths")
    color_by = st.radio("Colour the reference states by", list(COLOR_BY), key=COLOR_KEY,
                        horizontal=True, format_func=lambda k: COLOR_BY[k])
    cloud_figure = reference_figure(
        maps, color_by, title=f"{REFERENCE_N} fresh strings on the same planes")
    st.plotly_chart(cloud_figure, width="stretch", key="att_state_cloud")
    tracking = {kind: progress_correlation(maps[kind]) for kind in maps}
    st.caption(
        "The plain model's decoder must know how far along it is from its state alone, and "
        "its states lie along a curve ordered by the letters still to write. Along the first "
        "direction (PC1) of each decoder plane: "
        + "; ".join(f"{kind}: correlation with the letters left {corr:.2f}, PC1 holds "
                    f"{share:.0%} of the state's variance"
                    for kind, (corr, share) in tracking.items())
        + ". A share that is smaller means the count is a smaller part of what the state "
          "carries: the attention model can also find its place in the input.")
    with st.container(horizontal=True):
        html_download("State paths (HTML)", paths_figure, f"states_{source}.html",
                      "att_paths_html")
        html_download("Reference states (HTML)", cloud_figure, "reference_states.html",
                      "att_cloud_html")

st.header("Many strings: where the plain model breaks")
train = plain.train_config or attention.train_config
train_range = (train.min_len, train.max_len) if train else None
other = attention.train_config
differ = (plain.train_config is not None and other is not None
          and (other.min_len, other.max_len) != train_range)
default_high = min(2 * train.max_len, MAX_INPUT_LEN) if train else 20
with st.form("att_batch"):
    low_col, n_col, seed_col = st.columns([3, 1, 1])
    low, high = low_col.slider("Input lengths", 1, MAX_INPUT_LEN, (1, default_high),
                               key="att_lengths")
    n_per_length = n_col.number_input("Strings per length", 10, 500, 100, 10, key="att_n",
                                      help="All 64 lengths at 500 each (32,000 strings) take "
                                           "about 20 s on a 2-core CPU; 1,000 strings well "
                                           "under a second.")
    seed = seed_col.number_input("Seed", 0, 1_000_000, 0, key="att_seed")
    st.form_submit_button("Compare", icon=":material/compare_arrows:")

result = comparison(identity(plain), identity(attention), tuple(range(low, high + 1)),
                    int(n_per_length), int(seed), plain.model, attention.model)
total = sum(result.outcomes.values())
counts = st.columns(4)
for column, (label, value) in zip(counts, result.outcomes.items(), strict=True):
    column.metric(label.capitalize(), f"{value:,}", f"{value / total:.0%} of {total:,}",
                  delta_color="off", delta_arrow="off")
st.caption(f"{total:,} fresh strings ({result.n_per_length} per length, lengths {low}-{high}, "
           f"seed {result.seed}) decoded greedily by both models in {result.seconds:.2f} s."
           + (f" Shaded: outside the training lengths {train_range[0]}-{train_range[1]}"
              if train_range else "")
           + (f" of the plain model (the attention model's: {other.min_len}-{other.max_len})"
              if differ else "") + ("." if train_range else ""))
error_figure = error_rate_figure(result.per_position, train_range[1] if train_range else None)
match_figure = exact_match_figure(result.by_length, train_range)
left, right = st.columns(2)
left.plotly_chart(error_figure, width="stretch", key="att_error_rate")
right.plotly_chart(match_figure, width="stretch", key="att_exact_match")
st.caption("Output position p is scored over every string longer than p. The plain model's "
           "errors grow with position: the letters it must write last were read first, and "
           "have been overwritten the most in its single state vector.")
with st.container(horizontal=True):
    html_download("Error-rate chart (HTML)", error_figure, "error_rate_by_position.html",
                  "att_error_html")
    html_download("Exact-match chart (HTML)", match_figure, "exact_match_by_length.html",
                  "att_match_html")

st.subheader("Strings only the attention model gets right")
examples = result.examples
if examples.empty:
    st.info("No string in this set is wrong for the plain model and right for the attention "
            "model. Try longer strings.")
else:
    shown = "" if result.n_plain_only == len(examples) else f" (the first {len(examples):,})"
    st.caption(f"{result.n_plain_only:,} strings{shown}; first_error is the first output "
               "position the plain model got wrong.")
    st.dataframe(examples, hide_index=True, height=260)
    choice = st.selectbox("Look at one", examples["input"].tolist(), key=EXAMPLE_KEY,
                          format_func=lambda s: f"{s} ({len(s)} letters)")
    chosen = greedy_trace(attention.model, choice)
    chosen_plain = greedy_trace(plain.model, choice)
    left, right = st.columns(2)
    with left:
        st.markdown("**Plain**")
        st.markdown(marked_output_html(chosen_plain.output, chosen.expected),
                    unsafe_allow_html=True)
    with right:
        st.markdown("**Attention**")
        st.markdown(marked_output_html(chosen.output, chosen.expected), unsafe_allow_html=True)
    st.plotly_chart(trace_heatmap(chosen, title=f"Attention reversing {choice}"),
                    width="stretch", key="att_example_heatmap")
    st.button("Step through this string above", on_click=set_input, args=(choice,),
              key="att_use_example", icon=":material/arrow_upward:")

"""Attention: where each output letter looks, and why the plain model fails without it."""

from __future__ import annotations

import streamlit as st

from pages.common import checked_input, require_router, selected
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
    trace_heatmap,
    wrong_steps_heatmap,
)
from seqrev.charts.decoding import marked_output_html
from seqrev.decoding import greedy_trace
from seqrev.vocab import MAX_INPUT_LEN, token_label

require_router("pages/attention.py")

INPUT_KEY, STEP_KEY, EXAMPLE_KEY = "att_input", "att_step", "att_example"
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
    st.download_button(label, lambda: figure.to_html(include_plotlyjs="cdn"), file_name,
                       "text/html", key=key, on_click="ignore", icon=":material/download:")


def set_input(text: str) -> None:
    st.session_state[INPUT_KEY] = text


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

st.session_state.setdefault(INPUT_KEY, DEFAULT_INPUT)
text = st.text_input(f"String to reverse (letters A-Z, up to {MAX_INPUT_LEN})", key=INPUT_KEY)
columns = st.columns(len(EXAMPLES))
for column, (label, (example, note)) in zip(columns, EXAMPLES.items(), strict=True):
    column.button(label, help=f"{example}: {note}", on_click=set_input, args=(example,),
                  width="stretch", key=f"att_example_{example}")
source = checked_input(text)

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
                            title=f"Attention of '{attention.name}' reversing {source}")
    st.plotly_chart(heatmap, width="stretch", key="att_heatmap")
    st.caption("Rows: output steps, top to bottom; columns: input letters; hover for the "
               "weights. The encoder reads left to right, so its state at position i also "
               "remembers the letters before i: a model can fetch letter i from a state just "
               "after it, which shows as weight one column right of the outline.")

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

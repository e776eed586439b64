"""Decode: both models decode the user's string side by side, step by step, greedy or beam."""

import streamlit as st

from pages.common import (
    checked_input,
    escape_markdown,
    require_router,
    selected,
    selected_name,
    shown_kinds,
    trained_on_pairs,
)
from pages.decode_pairs import decode_pairs, library_message
from pages.widgets import step_control
from seqrev.charts.compare import (
    PROBABILITY,
    aligned_html,
    comparison_figure,
    comparison_table,
    differing_positions,
    differing_steps,
)
from seqrev.charts.decoding import (
    attention_row_svg,
    beam_tree_figure,
    expected_token,
    marked_output_html,
    step_table,
    topk_svg,
)
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import beam_search, greedy_trace
from seqrev.i18n import N_, _, ngettext, sentence_separator
from seqrev.inspection.alignment import align_letters, describe, summarize
from seqrev.inspection.analysis import letters_right, training_length_warning
from seqrev.models.kinds import KIND_NAMES
from seqrev.tasks.vocab import MAX_INPUT_LEN, InputError, normalize, token_label

require_router("pages/decode.py")

TEXT_KEY, SAVED_KEY, METHOD_KEY, WIDTH_KEY, STEP_KEY = (
    "decode_text", "decode_saved_text", "decode_method", "decode_width", "decode_step")
PREFIX_KEY = "decode_prefix"
SECOND_KEY = "decode_second"
GREEDY, BEAM = "Greedy", "Beam search"  # the radio's values; shown through _()
METHOD_WORDS = (N_("Greedy"), N_("Beam search"))
HOW = {GREEDY: N_("greedy"), BEAM: N_("beam search")}  # the output caption's first word
MODEL_TITLES = {"plain": N_("Plain model"), "attention": N_("Attention model"),
                "transformer": N_("Transformer")}
# 16 letters, inside both shipped models' training lengths: the shipped plain model writes
# REVIRIPPISSISISM, the attention model the right answer
DEFAULT_TEXT = "MISSISSIPPIRIVER"
EXAMPLES = {
    "MISSISSIPPIRIVER": N_("the plain model gets it wrong, attention right (16)"),
    "ONEVECTORISNOTENOUGH": N_("longer than training: the plain model fails (20)"),
    "HELLO": N_("a short word"),
    "ZUPEIDWNVG": N_("the lab's sample (length 10)"),
    "JJDDNZGZZF": N_("the lab's failure: repeated letters"),
    "AAAAABBBBB": N_("runs of one letter"),
    "ABABABABABAB": N_("alternating letters"),
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ": N_("the alphabet (26)"),
    "THEQUICKBROWNFOXJUMPSOVERLAZY": N_("long (29)"),
}
TOP_K = 5
INTRO = N_(
    "Type a string of capital letters. Both selected models (sidebar) do the task they were "
    "trained on (reversal for the shipped pair; the sidebar names each model's task), and you "
    "can walk through the decoder one step at a time: what it was fed, how sure it was of each "
    "next letter, and, for the attention model, which input letter it looked at.")
LEGEND = N_(
    "- **Output**: each produced letter against the right answer: green is right, red is "
    "wrong (the expected letter underneath), dashed boxes are letters it never wrote, "
    "struck-through ones it should not have written. Hover a box for details.\n"
    "- **Decode step** *t* (counting from 0): the decoder is fed the token it chose at "
    "*t − 1* (`<sos>` at step 0) and outputs a probability for every next token. The bars "
    "show the {k} likeliest; the chosen one is green when right and red when wrong, "
    "and the expected one is outlined in green. A run stops at `<eos>`.\n"
    "- **Attention** (attention model only): the weights over the input letters. Reversal "
    "writes output letter *t* from input letter *S − 1 − t*; that bar is outlined in "
    "green, so a good model puts its tallest bar there.\n"
    "- **Greedy** takes the likeliest token at each step. **Beam search** keeps the "
    "*width* best partial outputs by total log-probability; the tree shows every kept "
    "candidate (squares emitted `<eos>`) and the winning path in green. Positions after "
    "a mistake are compared with the expected letter at the same position, so a dropped "
    "letter makes the rest of the row red.\n"
    "- The address bar keeps your string and beam width: copy it to share this view.")


def _restart(text: str | None = None) -> None:
    if text is not None:
        st.session_state[TEXT_KEY] = text
    st.session_state[STEP_KEY] = 0


def _init_from_link() -> None:
    """Fill the widgets from ``?text=...&beam=N&compare=...`` on a fresh visit, else from this
    session."""
    if TEXT_KEY not in st.session_state:
        st.session_state[TEXT_KEY] = st.query_params.get(
            "text", st.session_state.get(SAVED_KEY, DEFAULT_TEXT))
    if SECOND_KEY not in st.session_state:
        st.session_state[SECOND_KEY] = st.query_params.get("compare", "")
    if METHOD_KEY not in st.session_state:
        beam = st.query_params.get("beam", "")
        width = _link_beam_width(beam)
        if beam and width is None:
            st.warning(_("Ignored beam={value} in the link: the beam width is a whole number "
                         "from 1 to 8.").format(value=escape_markdown(beam, 40)))
        st.session_state[METHOD_KEY] = GREEDY if width is None else BEAM
        st.session_state[WIDTH_KEY] = width or 4


def _letters_or_error(raw: str, message: str) -> str | None:
    """``raw`` upper-cased, or None after an escaped st.error: ``message`` (translated) with
    ``{text}`` and ``{error}`` filled in."""
    try:
        return normalize(raw)
    except InputError as error:
        st.error(message.format(text=escape_markdown(raw, 40),
                                error=escape_markdown(library_message(error))))
        return None


def _link_beam_width(raw: str) -> int | None:
    """The beam width a link asks for, parsed strictly: ASCII digits, 1 to 8; else None."""
    if not (0 < len(raw) <= 2 and raw.isascii() and raw.isdigit()):
        return None
    width = int(raw)
    return width if 1 <= width <= 8 else None


def _decode(checkpoint, text: str, method: str, width: int, prefix: str = ""):
    try:
        if method == BEAM:
            return beam_search(checkpoint.model, text, width, task=task_of(checkpoint))
        return greedy_trace(checkpoint.model, text, prefix=prefix, task=task_of(checkpoint))
    except (RuntimeError, ValueError) as error:
        st.error(_("The {name} model could not decode {text}: {error}").format(
            name=escape_markdown(checkpoint.name), text=escape_markdown(text, 40),
            error=escape_markdown(error)))
        return None


def _step_view(kind: str, trace, step: int) -> None:
    if step >= len(trace.steps):
        st.info(_("The {kind} model had already stopped: it emitted <eos> at step {step}.")
                .format(kind=_(kind), step=len(trace.steps) - 1))
        return
    record = trace.steps[step]
    expected = expected_token(trace.expected, step)
    if record.chosen_token == expected:
        verdict = _("right")
    elif expected is None:
        verdict = _("wrong, expected `nothing`")
    else:
        verdict = _("wrong, expected `{token}`").format(token=token_label(expected))
    st.markdown(_("Step {step}: fed `{fed}` → chose `{chosen}` ({verdict})").format(
        step=step, fed=token_label(record.fed_token), chosen=token_label(record.chosen_token),
        verdict=verdict))
    # SVG, not Plotly: it draws with the text (docs/pages-speed.md); st.html would drop SVG
    st.markdown(topk_svg(record, expected, TOP_K), unsafe_allow_html=True)
    if record.attention is not None:
        st.markdown(attention_row_svg(record, trace.source, trace.outline_at(step)),
                    unsafe_allow_html=True)
    else:
        st.caption(_("The plain model has no attention: all it knows about the input is the "
                     "encoder's final hidden state, which started the decoder."))


def _mark_step(table, step: int):
    """The table with a first column pointing at the current step (a pandas Styler costs about
    0.1 s a rerun here, a third of the page's budget)."""
    marked = table.copy()
    marked.insert(0, _("now"), ["▶" if index == step else "" for index in marked.index])
    return marked


def contrast_callout(traces: dict) -> None:
    """Where the eye lands first: does the plain model fail where attention succeeds?"""
    marks = {kind: letters_right(trace.output, trace.expected) for kind, trace in traces.items()}
    plain, attention = traces.get("plain"), traces.get("attention")
    if plain is None or attention is None:
        return
    plain_task, attention_task = plain.task_or_default.spec, attention.task_or_default.spec
    if plain_task != attention_task:
        st.info(_("The two models were trained on different tasks (plain: {plain_task}, "
                  "attention: {attention_task}), so each is scored against its own task's "
                  "answer.").format(plain_task=plain_task, attention_task=attention_task)
                + sentence_separator()
                + _("Pick two models of one task in the sidebar to compare them."),
                icon=":material/info:")
        return
    n = len(plain.expected)
    if attention.correct and not plain.correct:
        st.success(_("The plain model gets {right} of {n} letters right and the attention model "
                     "all {n}: the plain model must recall the whole string from one vector, "
                     "the attention model looks back at the input at every step.").format(
                       right=marks["plain"], n=n), icon=":material/compare_arrows:")
    elif plain.correct and attention.correct:
        st.info(_("Both models get this string right.") + sentence_separator()
                + _("The plain model's one vector runs out on longer strings and repeated "
                    "letters: try {long} or {repeated}.").format(
                        long="ONEVECTORISNOTENOUGH", repeated="MISSISSIPPIRIVER"),
                icon=":material/lightbulb:")
    else:
        st.info(_("The plain model gets {plain} of {n} letters right, the attention model "
                  "{attention}.").format(plain=marks["plain"], attention=marks["attention"],
                                         n=n),
                icon=":material/info:")


st.title(_("Decode: step through your own string"))
st.markdown(_(INTRO))
with st.expander(_("What am I looking at?")):
    st.markdown(_(LEGEND).format(k=TOP_K))

pairs_kinds = [kind for kind in KIND_NAMES if trained_on_pairs(selected_name(kind))]
if pairs_kinds:
    decode_pairs(pairs_kinds)
    st.stop()
_init_from_link()
example_columns = st.columns(len(EXAMPLES))
for column, (example, why) in zip(example_columns, EXAMPLES.items(), strict=True):
    column.button(example if len(example) <= 12 else f"{example[:10]}…", key=f"ex_{example}",
                  help=f"{example}: {_(why)}", on_click=_restart, args=(example,),
                  width="stretch")
input_column, method_column, width_column = st.columns([3, 1, 1])
with input_column:
    raw = st.text_input(_("Your string (letters A-Z, up to {n})").format(n=MAX_INPUT_LEN),
                        key=TEXT_KEY, on_change=_restart,
                        placeholder=_("e.g. {text}").format(text="HELLO"))
with method_column:
    method_labels = {method: _(method) for method in (GREEDY, BEAM)}  # bound while drawn
    method = st.radio(_("Decoding"), (GREEDY, BEAM), key=METHOD_KEY, horizontal=True,
                      format_func=method_labels.get)
with width_column:
    width = st.slider(_("Beam width"), 1, 8, key=WIDTH_KEY, disabled=method != BEAM)
st.session_state[SAVED_KEY] = raw
link = ({"text": raw} | ({"beam": str(width)} if method == BEAM else {})
        | ({"compare": st.session_state[SECOND_KEY]} if st.session_state.get(SECOND_KEY) else {}))
if st.query_params.to_dict() != link:
    st.query_params.from_dict(link)

text = checked_input(raw)
prefix = ""
if text and method == GREEDY:
    with st.expander(_("What if? Force the first output letters")):
        raw_prefix = st.text_input(
            _("Letters to force at the start of the output (then greedy takes over)"),
            key=PREFIX_KEY, on_change=_restart, placeholder=_("e.g. a wrong first letter"),
            help=_("Seq2Seq-Vis's what-if: feed the decoder a prefix of your choice and see "
                   "whether each model recovers, and how surprised it was by each forced "
                   "letter."))
        if raw_prefix:
            prefix = _letters_or_error(raw_prefix, _("Cannot force “{text}”: {error}.")) or ""
models = {kind: selected(kind) for kind in shown_kinds()} if text else {}
traces = {kind: _decode(cp, text, method, width, prefix) for kind, cp in models.items() if cp}
traces = {kind: trace for kind, trace in traces.items() if trace}
if text and models:
    warning = training_length_warning(len(text), {
        kind: (cp.train_config.min_len, cp.train_config.max_len) if cp.train_config else None
        for kind, cp in models.items() if cp})
    if warning:
        st.warning(escape_markdown(library_message(warning)), icon=":material/straighten:")
if traces:
    contrast_callout(traces)
    expected = {trace.expected for trace in traces.values()}
    if len(expected) == 1:
        answers = f"**`{expected.pop()}`**"
    else:
        answers = [_("**`{expected}`** ({kind}: {task})").format(
            expected=trace.expected, kind=_(kind), task=trace.task_or_default.spec)
            for kind, trace in traces.items()]
        answers = _("{first}, {rest}").format(first=answers[0], rest=", ".join(answers[1:]))
    st.markdown(_("Input **`{text}`** ({length} letters) → expected {answers}").format(
        text=text, length=len(text), answers=answers))
    output_columns = dict(zip(traces, st.columns(len(traces)), strict=True))
    for kind, trace in traces.items():
        with output_columns[kind]:
            st.subheader(f"{_(MODEL_TITLES[kind])} · {escape_markdown(models[kind].name)}")
            st.html(marked_output_html(trace.output, trace.expected))
            verdict = _("correct") if trace.correct else _("wrong")
            how = (_("greedy after the forced `{prefix}`").format(prefix=prefix) if prefix
                   else _(HOW[method]))
            st.caption(_("{how} output `{output}`: {verdict}; {steps} steps, log-probability "
                         "{log_prob:.3f}").format(
                how=how, output=trace.output or _("(empty)"), verdict=verdict,
                steps=len(trace.steps), log_prob=trace.log_prob))
    step = step_control(STEP_KEY, max(len(t.steps) for t in traces.values()))
    step_columns = dict(zip(traces, st.columns(len(traces)), strict=True))
    for kind, trace in traces.items():
        with step_columns[kind]:
            _step_view(kind, trace, step)
    st.subheader(_("Every step"))
    st.caption(_("One row per decoder step; ▶ marks the current step."))
    tabs = st.tabs([_(MODEL_TITLES[kind]) for kind in traces])
    for tab, (kind, trace) in zip(tabs, traces.items(), strict=True):
        with tab:
            table = _mark_step(step_table(trace), step)
            st.dataframe(table, hide_index=True, key=f"decode_table_{kind}", column_config={
                name: st.column_config.NumberColumn(format="%.3f")
                for name in table.columns if table[name].dtype.kind == "f"})
    if method == BEAM:
        st.subheader(_("Beam search trees"))
        for kind, trace in traces.items():
            name = _("{model} ({name})").format(model=_(MODEL_TITLES[kind]),
                                                name=models[kind].name)
            st.plotly_chart(beam_tree_figure(trace, step, model_name=name), width="stretch",
                            key=f"decode_beam_{kind}")

    st.subheader(_("Compare two inputs"))
    second_raw = st.text_input(
        _("A second string, decoded beside the first (optional)"), key=SECOND_KEY,
        placeholder=_("e.g. {text} (one letter changed)").format(
            text=f"{text[:-1]}{'A' if text[-1] != 'A' else 'B'}"),
        help=_("Seq2Seq-Vis's comparison mode: the same models and decoding on a second input; "
               "the steps where the two runs write different tokens are marked."))
    second = _letters_or_error(
        second_raw, _("Cannot decode the second string “{text}”: {error}.")) if second_raw \
        else None
    if second:
        changed = differing_positions(text, second)
        positions = f"{', '.join(map(str, changed[:20]))}{' …' if len(changed) > 20 else ''}"
        st.caption(ngettext("Inputs differ at position {positions}.",
                            "Inputs differ at positions {positions}.", len(changed)).format(
                                positions=positions)
                   if changed else _("The two inputs are the same."))
        if prefix:
            st.info(_("The forced start `{prefix}` applies to both strings and both models: "
                      "each run below begins with it.").format(prefix=prefix),
                    icon=":material/info:")
        compare_columns = dict(zip(traces, st.columns(len(traces)), strict=True))
        for kind, trace in traces.items():
            other = _decode(models[kind], second, method, width, prefix)
            if other is None:
                continue
            with compare_columns[kind]:
                differ = differing_steps(trace, other)
                lined_up = summarize(align_letters(trace.output, other.output))
                st.markdown(_("{model}: {sentence}").format(
                    model=f"**{_(MODEL_TITLES[kind])}**",
                    sentence=library_message(
                        describe(lined_up, "the first output", "the second output"))))
                st.html(aligned_html(trace.output, other.output))
                n_steps = max(len(trace.steps), len(other.steps))
                st.caption(_("Step by step, {differ} of {steps} steps write different tokens: a "
                             "letter dropped early shifts every later step, which is why the "
                             "outputs are lined up by letter above.").format(
                                 differ=len(differ), steps=n_steps))
                st.plotly_chart(comparison_figure(trace, other), width="stretch",
                                key=f"decode_compare_{kind}")
                table = comparison_table(trace, other)
                differs = _("differs")
                shade = ["background-color: rgba(207, 34, 46, 0.12)", ""]
                st.dataframe(table.style.format(precision=3, subset=[
                                 _(PROBABILITY["first"]), _(PROBABILITY["second"])])
                             .apply(lambda row, differs=differs, shade=shade: [
                                 shade[0] if row[differs] else shade[1] for _cell in row],
                                    axis=1),
                             hide_index=True, key=f"decode_compare_table_{kind}")

"""The Decode page for models trained on your own pairs: input and output in the file's symbols,
the file's answer where it has one, and the held-out rows scored.

The models read letters; :class:`seqrev.tasks.pairs.PairsTask` maps the file's symbols onto
them both ways, so every text shown here is in the file's own symbols.
"""

from __future__ import annotations

import html

import streamlit as st

import seqrev.checkpoints.store as checkpoints
from pages.common import escape_markdown, selected
from seqrev.charts.attention import attention_heatmap
from seqrev.charts.decoding import marked_output_html
from seqrev.decoding.search import greedy_trace
from seqrev.i18n import N_, _, decimal, percent
from seqrev.i18n.figures import translate_figure
from seqrev.inspection.held_out import HeldOut, held_out_csv, score_held_out
from seqrev.tasks.pairs import PairsError, PairsTask
from seqrev.tasks.vocab import MAX_INPUT_LEN, token_label

TEXT_KEY = "decode_pairs_text"
ROWS_SHOWN = 200
NO_OUTLINE = N_("No outline: the file says what each input becomes, not which input symbols "
                "each output reads.")
# the held-out table's columns (seqrev.inspection.held_out.COLUMNS) as the reader sees them
COLUMN_NAMES = {"input": N_("input"), "expected": N_("expected"), "produced": N_("produced"),
                "correct": N_("correct")}


def library_message(text: object) -> str:
    """A message of the library's as the page shows it. seqrev.inspection and seqrev.tasks write
    theirs in the reader's language now, so this is ``str``; kept while pages/decode.py calls
    it."""
    return str(text)


@st.cache_data(show_spinner=False, max_entries=8)  # the spinner is the caller's, translated
def _held_out(checkpoint_id: str, _model, _task: PairsTask) -> HeldOut:
    return score_held_out(_model, _task)


def _symbols_labels(task: PairsTask, trace) -> list[str]:
    labels = []
    for step in trace.steps:
        token = token_label(step.chosen_token)
        labels.append(f"{step.position}: {task.to_symbols(token) if len(token) == 1 else token}")
    return labels


def _one_model(kind: str, checkpoint: checkpoints.Checkpoint, task: PairsTask, raw: str) -> None:
    st.subheader(f"{_(f'{kind.capitalize()} model')} · {escape_markdown(checkpoint.name)}")
    try:
        letters = task.to_letters(raw)
    except PairsError as error:
        st.error(_("Cannot decode “{text}”: {error} (the alphabet is {alphabet}).").format(
            text=escape_markdown(raw, 40), error=escape_markdown(library_message(error)),
            alphabet=escape_markdown(task.alphabet)))
        return
    if not 1 <= len(letters) <= MAX_INPUT_LEN:
        st.error(_("Type 1 to {limit} symbols; this input has {n}.").format(
            limit=MAX_INPUT_LEN, n=len(letters)))
        return
    trace = greedy_trace(checkpoint.model, letters, MAX_INPUT_LEN + 1)
    produced, expected = task.to_symbols(trace.output), task.known_output(raw)
    if expected is None:
        st.markdown(_("Output:"))
        st.code(produced or _("(empty)"), language=None)
        st.caption(_("The file has no row with this input, so there is nothing to score it "
                     "against."))
    else:
        st.html(marked_output_html(produced, expected))
        st.caption((_("Right: the file says {expected}.") if produced == expected else
                    _("Wrong: the file says {expected}.")).format(
                        expected=escape_markdown(expected)))
    matrix = trace.attention_matrix()
    if matrix is not None:
        title = _("Where each output symbol looks ({text})").format(text=html.escape(raw))
        st.plotly_chart(translate_figure(attention_heatmap(
                            matrix, raw, _symbols_labels(task, trace), title=title)),
                        width="stretch", key=f"decode_pairs_heatmap_{kind}")
        st.caption(_(NO_OUTLINE))
    with st.spinner(_("Scoring the held-out rows…")):
        result = _held_out(f"{checkpoint.name}@{checkpoint.meta.get('weights_sha256')}",
                           checkpoint.model, task)
    report = result.report
    left, right = st.columns(2)
    left.metric(_("Held-out rows exact"), percent(report.exact_match, 1),
                _("of {n} rows").format(n=decimal(report.n, 0)),
                delta_color="off", delta_arrow="off",
                help=_("Rows of the file set aside when the run started: never trained on."))
    right.metric(_("Held-out symbols right"), percent(report.char_accuracy, 1))
    shown = result.rows.head(ROWS_SHOWN)
    st.dataframe(shown.rename(columns=lambda name: _(COLUMN_NAMES.get(name, name))),
                 hide_index=True, key=f"decode_pairs_rows_{kind}")
    if len(result.rows) > len(shown):
        st.caption(_("The first {shown} of {total} held-out rows; the CSV holds them all.")
                   .format(shown=decimal(len(shown), 0), total=decimal(len(result.rows), 0)))
    st.download_button(_("Held-out rows with the model's outputs (CSV)"), held_out_csv(result),
                       f"{checkpoint.name}-held-out.csv", "text/csv",
                       key=f"decode_pairs_csv_{kind}", on_click="ignore",
                       icon=":material/download:")


def decode_pairs(kinds: list[str]) -> None:
    """The page for the sidebar's models of ``kinds`` that were trained on pairs."""
    models = {}
    for kind in kinds:
        checkpoint = selected(kind)
        if checkpoint is None:
            continue
        try:
            models[kind] = (checkpoint, checkpoints.pairs_task(checkpoint))
        except checkpoints.CheckpointError as error:
            st.error(_("Could not read the {kind} model's pairs: {error}").format(
                kind=_(kind), error=escape_markdown(error)))
    if not models:
        return
    first_task = next(task for _cp, task in models.values())
    name = first_task.source_info.get("name", _("your file"))
    values = {"name": escape_markdown(name, 60), "alphabet": escape_markdown(first_task.alphabet)}
    if len(models) > 1:
        values |= dict(zip(("kind", "other"), map(_, models), strict=True))
        said = _("The sidebar's {kind} and {other} models were trained on your own pairs "
                 "({name}): type an input in the file's symbols ({alphabet}).")
    else:
        values["kind"] = _(next(iter(models)))
        said = _("The sidebar's {kind} model was trained on your own pairs ({name}): type an "
                 "input in the file's symbols ({alphabet}).")
    st.info(said.format(**values), icon=":material/table_rows:")
    st.session_state.setdefault(TEXT_KEY, first_task.held_out[0][0])
    raw = st.text_input(_("Input, in the file's symbols (up to {n})").format(n=MAX_INPUT_LEN),
                        key=TEXT_KEY)
    if not raw:
        st.info(_("Type an input, or take one from the held-out rows below."))
        return
    for column, (kind, (checkpoint, task)) in zip(st.columns(len(models)), models.items(),
                                                  strict=True):
        with column:
            _one_model(kind, checkpoint, task, raw)

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
from seqrev.inspection.held_out import HeldOut, held_out_csv, score_held_out
from seqrev.tasks.pairs import PairsError, PairsTask
from seqrev.tasks.vocab import MAX_INPUT_LEN, token_label

TEXT_KEY = "decode_pairs_text"
ROWS_SHOWN = 200
NO_OUTLINE = ("No outline: the file says what each input becomes, not which input symbols "
              "each output reads.")


@st.cache_data(show_spinner="Scoring the held-out rows…", max_entries=8)
def _held_out(checkpoint_id: str, _model, _task: PairsTask) -> HeldOut:
    return score_held_out(_model, _task)


def _symbols_labels(task: PairsTask, trace) -> list[str]:
    labels = []
    for step in trace.steps:
        token = token_label(step.chosen_token)
        labels.append(f"{step.position}: {task.to_symbols(token) if len(token) == 1 else token}")
    return labels


def _one_model(kind: str, checkpoint: checkpoints.Checkpoint, task: PairsTask, raw: str) -> None:
    st.subheader(f"{kind.capitalize()} model · {escape_markdown(checkpoint.name)}")
    try:
        letters = task.to_letters(raw)
    except PairsError as error:
        st.error(f"Cannot decode “{escape_markdown(raw, 40)}”: {escape_markdown(error)} "
                 f"(the alphabet is {escape_markdown(task.alphabet)}).")
        return
    if not 1 <= len(letters) <= MAX_INPUT_LEN:
        st.error(f"Type 1 to {MAX_INPUT_LEN} symbols; this input has {len(letters)}.")
        return
    trace = greedy_trace(checkpoint.model, letters, MAX_INPUT_LEN + 1)
    produced, expected = task.to_symbols(trace.output), task.known_output(raw)
    if expected is None:
        st.markdown("Output:")
        st.code(produced or "(empty)", language=None)
        st.caption("The file has no row with this input, so there is nothing to score it "
                   "against.")
    else:
        st.html(marked_output_html(produced, expected))
        st.caption(f"{'Right' if produced == expected else 'Wrong'}: the file says "
                   f"{escape_markdown(expected)}.")
    matrix = trace.attention_matrix()
    if matrix is not None:
        st.plotly_chart(attention_heatmap(matrix, raw, _symbols_labels(task, trace),
                                          title="Where each output symbol looks "
                                                f"({html.escape(raw)})"),
                        width="stretch", key=f"decode_pairs_heatmap_{kind}")
        st.caption(NO_OUTLINE)
    result = _held_out(f"{checkpoint.name}@{checkpoint.meta.get('weights_sha256')}",
                       checkpoint.model, task)
    report = result.report
    left, right = st.columns(2)
    left.metric("Held-out rows exact", f"{report.exact_match:.1%}", f"of {report.n:,} rows",
                delta_color="off", delta_arrow="off",
                help="Rows of the file set aside when the run started: never trained on.")
    right.metric("Held-out symbols right", f"{report.char_accuracy:.1%}")
    shown = result.rows.head(ROWS_SHOWN)
    st.dataframe(shown, hide_index=True, key=f"decode_pairs_rows_{kind}")
    if len(result.rows) > len(shown):
        st.caption(f"The first {len(shown):,} of {len(result.rows):,} held-out rows; the CSV "
                   "holds them all.")
    st.download_button("Held-out rows with the model's outputs (CSV)", held_out_csv(result),
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
            st.error(f"Could not read the {kind} model's pairs: {escape_markdown(error)}")
    if not models:
        return
    first_task = next(task for _, task in models.values())
    name = first_task.source_info.get("name", "your file")
    st.info(f"The sidebar's {' and '.join(models)} model{'s were' if len(models) > 1 else ' was'}"
            f" trained on your own pairs ({escape_markdown(name, 60)}): type an input in the "
            f"file's symbols ({escape_markdown(first_task.alphabet)}).",
            icon=":material/table_rows:")
    st.session_state.setdefault(TEXT_KEY, first_task.held_out[0][0])
    raw = st.text_input(f"Input, in the file's symbols (up to {MAX_INPUT_LEN})", key=TEXT_KEY)
    if not raw:
        st.info("Type an input, or take one from the held-out rows below.")
        return
    for column, (kind, (checkpoint, task)) in zip(st.columns(len(models)), models.items(),
                                                  strict=True):
        with column:
            _one_model(kind, checkpoint, task, raw)

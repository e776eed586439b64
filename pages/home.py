"""Home: what seqrev is, and the two selected models' headline numbers."""

import streamlit as st

from pages.common import require_router, selected, shown_kinds, with_language
from pages.widgets import checkpoint_report_download, column_config, gallery_section
from seqrev.charts import HEADLINE_COLUMNS, headline_table, sidecar_accuracy_by_length
from seqrev.charts.attention import exact_match_figure
from seqrev.i18n import N_, _
from seqrev.i18n.figures import translate_figure

require_router("pages/home.py")

TITLE = N_("seqrev: watch a seq2seq model learn to reverse, copy, sort and rotate strings")
INTRO = N_(
    "A GRU encoder-decoder reads a string of capital letters and writes it out again: "
    "backwards in the course lab (`ABCDEFGHIJ` → `JIHGFEDCBA`), or copied, sorted or rotated. "
    "The **plain** model must squeeze the whole string into one hidden vector; the "
    "**attention** model looks back at every input letter with a bilinear score `(W h_i)·q` "
    "at each step. Train both side by side, decode your own strings step by step, and see "
    "where attention fixes the plain model's mistakes.")
EXACT_TITLE = N_("Exact match by input length (from each checkpoint's own evaluation; shaded: "
                 "beyond the attention model's training lengths)")
LINKS = (
    ("pages/train.py", N_("Train: race both models live"), ":material/model_training:"),
    ("pages/decode.py", N_("Decode: step through your own string"),
     ":material/text_rotation_none:"),
    ("pages/attention.py", N_("Attention: why the plain model fails on long strings"),
     ":material/grid_on:"),
)

st.title(_(TITLE))
st.markdown(_(INTRO))
models = {kind: selected(kind) for kind in shown_kinds()}
rows = [cp.meta | {"name": cp.name, "kind": kind} for kind, cp in models.items() if cp]
if rows:
    st.subheader(_("The selected models"))
    st.dataframe(headline_table(rows), hide_index=True,
                 column_config=column_config(list(HEADLINE_COLUMNS)))
    downloads = st.container(horizontal=True)
    for kind, checkpoint in models.items():
        if checkpoint:
            checkpoint_report_download(checkpoint, f"home_report_{kind}", downloads)
    by_length = sidecar_accuracy_by_length(rows)
    if len(by_length):
        attention = models.get("attention")
        trained = attention.train_config if attention and attention.train_config else None
        figure = exact_match_figure(
            by_length, (trained.min_len, trained.max_len) if trained else None)
        figure.update_layout(title={"text": _(EXACT_TITLE)})
        st.plotly_chart(translate_figure(figure), width="stretch")
gallery_section("home_gallery")
for script, label, icon in LINKS:
    st.page_link(script, label=_(label), icon=icon, query_params=with_language({}))

"""Home: what seqrev is, and the two selected models' headline numbers."""

import streamlit as st

from pages.common import require_router, selected
from pages.widgets import checkpoint_report_download, column_config, gallery_section
from seqrev.charts import HEADLINE_COLUMNS, headline_table, sidecar_accuracy_by_length
from seqrev.charts.attention import exact_match_figure

require_router("pages/home.py")


st.title("seqrev: watch a seq2seq model learn to reverse strings")
st.markdown(
    "A GRU encoder-decoder reads a string of capital letters and writes it backwards "
    "(`ABCDEFGHIJ` → `JIHGFEDCBA`). The **plain** model must squeeze the whole string into "
    "one hidden vector; the **attention** model looks back at every input letter with a "
    "bilinear score `(W h_i)·q` at each step. Train both side by side, decode your own "
    "strings step by step, and see where attention fixes the plain model's mistakes."
)
models = {kind: selected(kind) for kind in ("plain", "attention")}
rows = [cp.meta | {"name": cp.name, "kind": kind} for kind, cp in models.items() if cp]
if rows:
    st.subheader("The selected models")
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
        figure.update_layout(title={"text": "Exact match by input length (from each "
                                            "checkpoint's own evaluation; shaded: beyond the "
                                            "attention model's training lengths)"})
        st.plotly_chart(figure, width="stretch")
gallery_section("home_gallery")
for script, label, icon in (
    ("pages/train.py", "Train: race both models live", ":material/model_training:"),
    ("pages/decode.py", "Decode: step through your own string", ":material/text_rotation_none:"),
    ("pages/attention.py", "Attention: why the plain model fails on long strings",
     ":material/grid_on:"),
):
    st.page_link(script, label=label, icon=icon)

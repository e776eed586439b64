"""Home: what seqrev is, and the two selected models' headline numbers."""

import streamlit as st

from pages.common import selected
from seqrev.charts import headline_table

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
    st.dataframe(headline_table(rows), hide_index=True)
for script, label, icon in (
    ("pages/train.py", "Train: race both models live", ":material/model_training:"),
    ("pages/decode.py", "Decode: step through your own string", ":material/text_rotation_none:"),
    ("pages/attention.py", "Attention: why the plain model fails on long strings",
     ":material/grid_on:"),
):
    st.page_link(script, label=label, icon=icon)

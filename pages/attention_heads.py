"""The Attention page's Transformer section: the GRU's attention and the Transformer's for one
string, every head as a grid, one head enlarged, its self-attention, and one head's arithmetic."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import escape_markdown, selected
from pages.widgets import step_control
from seqrev.charts.attention import trace_heatmap
from seqrev.charts.heads import head_grid_figure, head_heatmap_figure, head_step_figure
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import greedy_trace
from seqrev.i18n import N_, _
from seqrev.inspection.analysis import letters_right, source_labels, step_labels
from seqrev.inspection.heads import head_step, head_weights

LAYER_KEY, HEAD_KEY, HEAD_STEP_KEY = "att_heads_layer", "att_heads_head", "att_heads_step"
SELF_VIEWS = {"encoder": N_("Encoder: each input letter reads the input"),
              "decoder": N_("Decoder: each output step reads the steps before it")}


def heads_section(view) -> None:
    """Both models' attention for the typed string, then the Transformer's heads."""
    transformer = selected("transformer")
    if transformer is None:
        return
    model, source = transformer.model, view.source
    trace = greedy_trace(model, source, task=task_of(transformer))
    config = model.config
    st.markdown(_(
        "The Transformer (`{name}`) has no recurrence: {layers} layers of {heads} heads each "
        "score every input letter with a scaled dot product, `q·k/√d` with d = {d_head}. "
        "Below, the GRU's one attention and the mean of the Transformer's last-layer heads on "
        "the same string; then every head.").format(
            name=escape_markdown(transformer.name), layers=config.n_layers,
            heads=config.n_heads, d_head=config.d_head))
    left, right = st.columns(2)
    for column, run, title in ((left, view.trace, N_("GRU attention ({right} of {n} right)")),
                               (right, trace, N_("Transformer, last layer's mean "
                                                 "({right} of {n} right)"))):
        heading = _(title).format(right=letters_right(run.output, run.expected),
                                  n=len(run.expected))
        column.plotly_chart(trace_heatmap(run, title=heading), width="stretch",
                            key=f"att_heads_compare_{run is trace}")
    weights = head_weights(model, trace)
    pick_layer, pick_head = st.columns(2)
    layer = pick_layer.selectbox(_("Layer"), list(range(config.n_layers)),
                                 index=config.n_layers - 1, key=LAYER_KEY)
    head = pick_head.selectbox(_("Head"), list(range(config.n_heads)), key=HEAD_KEY)
    rows, columns = step_labels(trace), source_labels(source)
    st.plotly_chart(head_grid_figure(
        weights.cross, rows, columns, chosen=(layer, head),
        title=_("Cross-attention of every head: rows are output steps, columns input letters")),
        width="stretch", key="att_heads_grid")
    st.plotly_chart(head_heatmap_figure(
        weights.cross[layer, head], rows, columns,
        _("Layer {layer}, head {head}: where each output step reads").format(
            layer=layer, head=head), _("step: output"), _("input letter")),
        width="stretch", key="att_heads_one")
    st.subheader(_("Self-attention"))
    for tab, part in zip(st.tabs([_(label) for label in SELF_VIEWS.values()]), SELF_VIEWS,
                         strict=True):
        labels = columns if part == "encoder" else rows
        with tab:
            st.plotly_chart(head_grid_figure(getattr(weights, part), labels, labels,
                                             chosen=(layer, head)),
                            width="stretch", key=f"att_heads_self_{part}")
    st.subheader(_("Inside one step, one head"))
    step = step_control(HEAD_STEP_KEY, len(trace.steps))
    numbers = head_step(model, trace, step, layer, head)
    st.markdown(_(
        "At step {step}, head {head} of layer {layer} compares its query q with each letter's "
        "key k_i: the dot products are multiplied by 1/√{d} = **{scale:.3f}** before the "
        "softmax, so that their spread does not grow with d and the softmax keeps a gradient. "
        "It reads input {winner} ({letter}) most, with weight {weight:.0%}.").format(
            step=step, head=head, layer=layer, d=numbers.d_head, scale=numbers.scale,
            winner=numbers.winner, letter=source[numbers.winner],
            weight=float(numbers.weights[numbers.winner])))
    st.plotly_chart(head_step_figure(numbers, columns), width="stretch",
                    key="att_heads_step_figure")
    table = pd.DataFrame({
        _("input"): columns, _("q·k"): numbers.dots.tolist(),
        _("q·k/√d"): numbers.scores.tolist(), _("weight"): numbers.weights.tolist()})
    st.dataframe(table, hide_index=True, key="att_heads_step_table", column_config={
        name: st.column_config.NumberColumn(format="%.4f") for name in table.columns[1:]})
    st.caption(_("The context this head hands on is Σ weight_i · v_i, a vector of {d} numbers: "
                 "{context}").format(d=numbers.d_head, context=", ".join(
                     f"{value:+.2f}" for value in numbers.context.tolist())))

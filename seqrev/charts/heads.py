"""A Transformer's attention drawn per layer and head: a grid of small heatmaps, one head
enlarged, one head's scaled dot-product at one step, and one head forced (the what-if). Pure
functions of tensors and strings."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from seqrev.charts.attention import HEATMAP_SCALE
from seqrev.i18n import _
from seqrev.inspection.alignment import SAME, align_letters
from seqrev.inspection.heads import HeadStep

GRID_CELL_PX = 150  # a small heatmap's height in the grid
GRID_TITLE_PX = 40  # room between grid rows for the next row's head titles


def head_grid_figure(weights: torch.Tensor, row_labels: Sequence[str],
                     column_labels: Sequence[str], title: str = "",
                     chosen: tuple[int, int] | None = None) -> go.Figure:
    """``weights`` (layers, heads, rows, columns) as a grid: one small heatmap per head, a
    row of the grid per layer; the ``chosen`` (layer, head) gets a frame."""
    layers, heads, n_rows, n_columns = weights.shape
    if len(row_labels) != n_rows or len(column_labels) != n_columns:
        raise ValueError("weights and labels must agree in size")
    titles = [_("layer {layer}, head {head}").format(layer=layer, head=head)
              for layer in range(layers) for head in range(heads)]
    figure = make_subplots(rows=layers, cols=heads, subplot_titles=titles,
                           horizontal_spacing=0.03,
                           vertical_spacing=GRID_TITLE_PX / (GRID_CELL_PX * max(layers, 1)))
    hover = _("row %{y}<br>reads %{x}<br>weight %{z:.3f}<extra></extra>")
    for layer in range(layers):
        for head in range(heads):
            figure.add_trace(go.Heatmap(
                z=weights[layer, head].tolist(), x=list(column_labels), y=list(row_labels),
                zmin=0.0, zmax=1.0, colorscale=HEATMAP_SCALE, showscale=False,
                hovertemplate=hover, xgap=1, ygap=1), row=layer + 1, col=head + 1)
    figure.update_xaxes(showticklabels=False, type="category")
    figure.update_yaxes(showticklabels=False, type="category", autorange="reversed")
    if chosen is not None:
        layer, head = chosen
        index = layer * heads + head + 1
        suffix = "" if index == 1 else str(index)
        figure.add_shape(type="rect", xref=f"x{suffix} domain", yref=f"y{suffix} domain",
                         x0=-0.02, x1=1.02, y0=-0.02, y1=1.02,
                         line={"color": "#d62728", "width": 3})
    figure.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"},
                         height=80 + (GRID_CELL_PX + GRID_TITLE_PX) * layers, plot_bgcolor="white",
                         margin={"l": 10, "r": 10, "b": 10, "t": 70 if title else 40})
    return figure


def head_heatmap_figure(weights: torch.Tensor, row_labels: Sequence[str],
                        column_labels: Sequence[str], title: str, row_title: str,
                        column_title: str) -> go.Figure:
    """One head's ``weights`` (rows, columns), large, with every weight written in its cell."""
    n_rows, n_columns = weights.shape
    figure = go.Figure(go.Heatmap(
        z=weights.tolist(), x=list(column_labels), y=list(row_labels), zmin=0.0, zmax=1.0,
        colorscale=HEATMAP_SCALE, colorbar={"title": {"text": _("weight")}, "thickness": 12},
        texttemplate="%{z:.2f}" if n_columns <= 20 else None, textfont={"size": 10},
        hovertemplate=_("row %{y}<br>reads %{x}<br>weight %{z:.3f}<extra></extra>"),
        xgap=1, ygap=1))
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"}, plot_bgcolor="white",
        height=max(260, 140 + 24 * n_rows), margin={"l": 10, "r": 10, "b": 10, "t": 80},
        xaxis={"side": "top", "type": "category", "title": column_title,
               "tickangle": -90 if n_columns > 14 else 0},
        yaxis={"title": row_title, "autorange": "reversed", "type": "category"})
    return figure


def head_step_figure(numbers: HeadStep, column_labels: Sequence[str]) -> go.Figure:
    """One head at one step: q·k_i, the scaled scores q·k_i/√d and the softmax weights."""
    if len(column_labels) != numbers.dots.shape[0]:
        raise ValueError("one label per input letter")
    figure = make_subplots(rows=1, cols=2, subplot_titles=(
        _("scores: q·k and q·k/√d (×{scale:.3f})").format(scale=numbers.scale),
        _("softmax of the scaled scores")))
    labels = list(column_labels)
    figure.add_trace(go.Bar(x=labels, y=numbers.dots.tolist(), name=_("q·k"),
                            marker_color="#c7c7c7"), row=1, col=1)
    figure.add_trace(go.Bar(x=labels, y=numbers.scores.tolist(), name=_("q·k/√d"),
                            marker_color="#2ca02c"), row=1, col=1)
    figure.add_trace(go.Bar(x=labels, y=numbers.weights.tolist(), name=_("weight"),
                            marker_color="#ff7f0e"), row=1, col=2)
    figure.update_xaxes(type="category", tickangle=-90 if len(labels) > 14 else 0)
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    figure.update_layout(barmode="group", height=340, plot_bgcolor="white",
                         margin={"l": 10, "r": 10, "b": 10, "t": 60},
                         legend={"orientation": "h", "yanchor": "top", "y": -0.25})
    return figure


def head_override_figure(own: torch.Tensor, used: torch.Tensor, column_labels: Sequence[str],
                         forced_position: int, title: str = "") -> go.Figure:
    """One head's row at the forced step: its own weights (grey) and the ones it read with
    (amber), the forced letter's column marked."""
    labels = list(column_labels)
    if not len(labels) == own.shape[0] == used.shape[0]:
        raise ValueError("one label per input letter")
    figure = go.Figure([
        go.Bar(x=labels, y=own.tolist(), name=_("its own weights"), marker_color="#c7c7c7"),
        go.Bar(x=labels, y=used.tolist(), name=_("after the override"),
               marker_color="#ff7f0e")])
    figure.add_vrect(x0=forced_position - 0.5, x1=forced_position + 0.5,
                     line={"color": "#d62728", "width": 2}, fillcolor="rgba(0,0,0,0)")
    figure.update_xaxes(type="category", tickangle=-90 if len(labels) > 14 else 0)
    figure.update_yaxes(range=[0, 1.05], title=_("weight"))
    figure.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, barmode="group",
                         height=300, plot_bgcolor="white",
                         margin={"l": 10, "r": 10, "b": 10, "t": 60 if title else 20},
                         legend={"orientation": "h", "yanchor": "bottom", "y": 1.0,
                                 "x": 1.0, "xanchor": "right"})
    return figure


def _box(letter: str | None, changed: bool) -> str:
    colour = "#ffe8cc;border-color:#ff7f0e" if changed else "#f6f8fa;border-color:#d0d7de"
    return (f'<span data-changed="{int(changed)}" style="display:inline-block;min-width:1.4em;'
            f'margin:1px;padding:1px 3px;text-align:center;font-family:monospace;'
            f'border:1px solid;background:{colour}">{html.escape(letter or "·")}</span>')


def changed_letters_html(own: str, forced: str, own_label: str, forced_label: str) -> str:
    """The two outputs lined up by letter, one row each; letters that changed are amber, a
    letter one output lacks is a dot. Render with ``st.html``."""
    columns = align_letters(own, forced)
    rows = []
    for label, side in ((own_label, "first"), (forced_label, "second")):
        boxes = "".join(_box(getattr(c, side), c.status != SAME) for c in columns)
        rows.append(f'<div style="display:flex;align-items:center;flex-wrap:wrap">'
                    f'<span style="min-width:9em">{html.escape(label)}</span>{boxes}</div>')
    changed = sum(c.status != SAME for c in columns)
    return f'<div class="seqrev-head-what-if" data-changed="{changed}">{"".join(rows)}</div>'

"""Pictures of attention and of the plain-vs-attention comparison.

Heatmaps: one row per decode step, one column per input letter, the task's alignment (the
letters each step should read; for reversal step t reads source ``S-1-t``) outlined. Lines:
per-position error rates and exact match by length, one line per model in ``MODEL_COLORS``.
Positions count from 0. Data in, Figure out; the words in the current language (``_()`` at
build time), the same in English as ever.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd
import plotly.graph_objects as go
import torch

from seqrev.charts.decoding import TARGET_EDGE
from seqrev.charts.training import model_color
from seqrev.decoding.search import DecodeTrace
from seqrev.i18n import N_, _
from seqrev.inspection.analysis import MODELS, source_labels, step_labels
from seqrev.models.kinds import KIND_NAMES
from seqrev.tasks.vocab import token_label

IDEAL_NAME = N_("textbook outline: {rule}")
OWN_DIAGONAL_NAME = N_("the model's own diagonal: the outline shifted {offset:+d}")
UNNAMED_RULE = N_("the letters each step should read")
HIGHLIGHT_NAME, OUTSIDE_NAME = N_("selected step"), N_("outside training")
FORCED_NAME, CLICK_NAME = N_("forced"), N_("cells")
OWN_NAME = N_("model's own")
HIGHLIGHT_EDGE, FORCED_EDGE, OWN_DIAGONAL_EDGE = "#24292f", "#bf8700", "#c297ff"
OUTSIDE_FILL = "rgba(110, 119, 129, 0.15)"
HEATMAP_SCALE = "Blues"
ROW_PX, MAX_VALUE_COLUMNS = 30, 16


def standalone_html(figure: go.Figure) -> str:
    """The figure as one HTML file with plotly.js inside: it opens without internet."""
    return figure.to_html(include_plotlyjs=True, full_html=True)


def _rect(name: str, x0: float, x1: float, y0: float, y1: float, color: str, width: float,
          dash: str = "solid", legend: bool = False) -> dict:
    return {"type": "rect", "name": name, "xref": "x", "yref": "y", "x0": x0, "x1": x1,
            "y0": y0, "y1": y1, "line": {"color": color, "width": width, "dash": dash},
            "fillcolor": "rgba(0,0,0,0)", "layer": "above", "showlegend": legend,
            "legendgroup": name}


def attention_heatmap(
    matrix: torch.Tensor | Sequence[Sequence[float]], source: str, row_labels: Sequence[str],
    steps: Sequence[int] | None = None, highlight_step: int | None = None, title: str = "",
    forced_cells: Sequence[tuple[int, int]] = (), clickable: bool = False,
    model_offset: int | None = None, outline: Sequence[Collection[int]] | None = None,
    outline_rule: str = UNNAMED_RULE,
) -> go.Figure:
    """Heatmap of ``matrix`` (rows, S): rows are decode steps ``steps`` (default 0..rows-1).

    ``outline[t]`` holds the source positions step ``t`` should read (the task's alignment;
    for reversal ``{S-1-t}``); those cells are outlined (the textbook outline), and with
    ``outline=None`` (a task that cannot say) none are. A non-zero ``model_offset`` (the
    model's own best diagonal, e.g. +1) adds a second, dotted purple outline on the outline's
    cells shifted by ``offset``. The legend names the outline by ``outline_rule``. The row of
    ``highlight_step`` (a step number, not a row index) gets a dark frame; each ``(step,
    position)`` of ``forced_cells`` (attention overrides) a dashed amber frame. ``clickable``
    lays an invisible marker on every cell, carrying ``[step, position]`` as customdata, so a
    page can read a clicked cell from the chart's selection.
    """
    z = torch.as_tensor(matrix, dtype=torch.float64)  # (rows, S)
    n_rows, width = z.shape
    steps = list(range(n_rows)) if steps is None else list(steps)
    if len(steps) != n_rows or len(row_labels) != n_rows or len(source) != width:
        raise ValueError("matrix, steps, row labels and source must agree in size")
    columns = source_labels(source)
    show_values = width <= MAX_VALUE_COLUMNS
    vertical_ticks = width > 14
    figure = go.Figure(go.Heatmap(
        z=z.tolist(), x=columns, y=list(row_labels), zmin=0.0, zmax=1.0,
        colorscale=HEATMAP_SCALE, colorbar={"title": {"text": _("weight")}, "thickness": 12},
        texttemplate="%{z:.2f}" if show_values else None, textfont={"size": 10},
        hovertemplate=_("output %{y}<br>reads input %{x}<br>weight %{z:.3f}<extra></extra>"),
        xgap=1, ygap=1,
    ))
    shapes = []
    outline_cells = [(row, column) for row, step in enumerate(steps)
                     for column in sorted(_outline_at(outline, step)) if 0 <= column < width]
    ideal_name = _(IDEAL_NAME).format(rule=_(outline_rule))
    for row, column in outline_cells:
        shapes.append(_rect(ideal_name, column - 0.5, column + 0.5, row - 0.5, row + 0.5,
                            TARGET_EDGE, 2.5, legend=not shapes))
    if model_offset:
        own_name = _(OWN_DIAGONAL_NAME).format(offset=model_offset)
        first_own = True
        for row, column in outline_cells:
            column += model_offset
            if 0 <= column < width:
                shapes.append(_rect(own_name, column - 0.38, column + 0.38, row - 0.38,
                                    row + 0.38, OWN_DIAGONAL_EDGE, 3, dash="dot",
                                    legend=first_own))
                first_own = False
    if highlight_step is not None and highlight_step in steps:
        row = steps.index(highlight_step)
        shapes.append(_rect(_(HIGHLIGHT_NAME), -0.5, width - 0.5, row - 0.5, row + 0.5,
                            HIGHLIGHT_EDGE, 3, dash="dot", legend=True))
    first_forced = True
    for step, position in forced_cells:
        if step in steps and 0 <= position < width:
            row = steps.index(step)
            shapes.append(_rect(_(FORCED_NAME), position - 0.45, position + 0.45, row - 0.45,
                                row + 0.45, FORCED_EDGE, 3, dash="dash", legend=first_forced))
            first_forced = False
    if clickable:  # the markers take the hover and the clicks; the heatmap only draws
        cells = [(row, step, column) for row, step in enumerate(steps) for column in range(width)]
        figure.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
        figure.add_trace(go.Scatter(
            x=[columns[c] for _, _, c in cells], y=[row_labels[r] for r, _, _ in cells],
            customdata=[[step, c, float(z[r, c])] for r, step, c in cells], mode="markers",
            name=_(CLICK_NAME), marker={"size": 18, "symbol": "square", "opacity": 0},
            showlegend=False,
            hovertemplate=_("output %{y}<br>reads input %{x}<br>weight %{customdata[2]:.3f}"
                            "<br>click to force this cell<extra></extra>")))
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"}, shapes=shapes,
        height=max(260, 140 + ROW_PX * n_rows + (40 if vertical_ticks else 0)),
        margin={"l": 10, "r": 10, "b": 10,
                "t": (80 if title else 40) + (40 if vertical_ticks else 0)},
        xaxis={"side": "top", "type": "category", "tickangle": -90 if vertical_ticks else 0},
        yaxis={"title": _("step: output"), "autorange": "reversed", "type": "category"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.02, "xanchor": "left", "x": 0.0},
        plot_bgcolor="white",
    )
    return figure


def _outline_at(outline: Sequence[Collection[int]] | None, step: int) -> Collection[int]:
    return outline[step] if outline is not None and 0 <= step < len(outline) else ()


def trace_heatmap(trace: DecodeTrace, highlight_step: int | None = None,
                  title: str = "", clickable: bool = False,
                  model_offset: int | None = None) -> go.Figure:
    """The whole attention matrix of an attention model's ``trace`` (the weights used).

    The trace's task draws the outline. Steps where an override forced the attention get their
    forced cell framed; a non-zero ``model_offset`` outlines the model's own diagonal beside
    the textbook one.
    """
    matrix = trace.attention_matrix()
    if matrix is None:
        raise ValueError("a plain model's trace has no attention to draw")
    forced = [(s.position, s.forced_position) for s in trace.steps if s.overridden]
    return attention_heatmap(matrix, trace.source, step_labels(trace),
                             highlight_step=highlight_step, title=title, forced_cells=forced,
                             clickable=clickable, model_offset=model_offset,
                             outline=trace.alignment,
                             outline_rule=trace.task_or_default.outline_rule)


def override_probability_figure(original: DecodeTrace, forced: DecodeTrace,
                                title: str = "") -> go.Figure:
    """Probability of the expected token at each step, the model's own run against the forced
    one; forced steps marked. A line that comes back up after a forced step is a recovery."""
    want = original.expected_ids
    figure = _line_figure(title or _("Probability of the right letter, step by step"),
                          _("decode step"), _("p(expected token)"))
    figure.update_layout(hovermode="closest")
    for kind, trace, color in ((OWN_NAME, original, model_color("attention")),
                               (FORCED_NAME, forced, FORCED_EDGE)):
        name = _(kind)
        steps = [t for t in range(min(len(trace.steps), len(want)))]
        values = [float(trace.steps[t].probabilities[want[t]]) for t in steps]
        written = [token_label(trace.steps[t].chosen_token) for t in steps]
        figure.add_trace(go.Scatter(
            x=steps, y=values, name=name, mode="lines+markers", customdata=written,
            line={"color": color, "dash": "dot" if kind == FORCED_NAME else "solid"},
            hovertemplate=_("{run}: step %{{x}} wrote %{{customdata}}, "
                            "p(right) %{{y:.3f}}<extra></extra>").format(run=name)))
    for override in forced.overrides:
        figure.add_vline(x=override.step, line={"color": FORCED_EDGE, "width": 1, "dash": "dash"})
    last = max(len(original.steps), len(forced.steps), 1) - 1
    figure.update_xaxes(dtick=1 if len(want) <= 24 else None, range=[-0.5, last + 0.5])
    return figure


def wrong_steps_heatmap(attention: DecodeTrace, steps: Sequence[int],
                        plain_tokens: Sequence[str] | None = None, title: str = "") -> go.Figure:
    """Rows of ``attention``'s matrix at ``steps`` (where the plain model went wrong).

    A row is labelled by the attention model's token and, given ``plain_tokens`` (the plain
    model's token per step, "" where it had stopped), the plain model's: ``"7: C | plain D"``.
    Steps the attention trace never reached are left out.
    """
    matrix = attention.attention_matrix()
    if matrix is None:
        raise ValueError("a plain model's trace has no attention to draw")
    kept = [t for t in steps if 0 <= t < matrix.shape[0]]
    labels = []
    for t in kept:
        token = token_label(attention.steps[t].chosen_token)
        if plain_tokens is None:
            labels.append(f"{t}: {token}")
            continue
        got = plain_tokens[t] if t < len(plain_tokens) and plain_tokens[t] else _("(none)")
        labels.append(_("{step}: {token} | plain {plain}").format(step=t, token=token, plain=got))
    if not kept:
        figure = go.Figure()
        figure.add_annotation(text=_("no wrong steps to show"), showarrow=False, xref="paper",
                              yref="paper", x=0.5, y=0.5)
        figure.update_layout(height=160, title={"text": title, "x": 0.0},
                             xaxis={"visible": False}, yaxis={"visible": False})
        return figure
    rows = matrix[kept]  # (len(kept), S)
    return attention_heatmap(rows, attention.source, labels, steps=kept, title=title,
                             outline=attention.alignment,
                             outline_rule=attention.task_or_default.outline_rule)


def _outside_shapes(low: float, high: float, first: float, last: float) -> list[dict]:
    """Shaded bands over x < ``low`` and x > ``high`` within ``[first, last]`` (paper height)."""
    bands = []
    if first < low:
        bands.append((first, min(low, last)))
    if last > high:
        bands.append((max(high, first), last))
    name = _(OUTSIDE_NAME)
    return [{"type": "rect", "name": name, "xref": "x", "yref": "paper", "x0": x0,
             "x1": x1, "y0": 0, "y1": 1, "fillcolor": OUTSIDE_FILL, "line": {"width": 0},
             "layer": "below", "showlegend": i == 0, "legendgroup": name}
            for i, (x0, x1) in enumerate(bands)]


def _line_figure(title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"}, height=340,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        xaxis={"title": x_title}, yaxis={"title": y_title, "tickformat": ".0%",
                                         "range": [-0.03, 1.03]},
        hovermode="x unified", plot_bgcolor="white",
    )
    figure.update_xaxes(showgrid=True, gridcolor="#eaeef2")
    figure.update_yaxes(showgrid=True, gridcolor="#eaeef2")
    return figure


def _add_model_lines(figure: go.Figure, frame: pd.DataFrame, x: str, y: str, hover: str
                     ) -> None:
    """One line per model of ``frame[y]`` against ``frame[x]``, with n on hover: the lab's two
    always, a Transformer where the frame holds one.

    ``hover`` is a translated template with a ``{kind}`` placeholder (plotly's fields doubled).
    """
    shown = set(frame["model"])
    for model in (kind for kind in KIND_NAMES if kind in MODELS or kind in shown):
        part = frame[frame["model"] == model]
        name = _(model)
        figure.add_trace(go.Scatter(
            x=part[x].tolist(), y=part[y].tolist(), name=name,
            mode="lines+markers", line={"color": model_color(model)}, marker={"size": 5},
            customdata=part["n"].tolist(), hovertemplate=hover.format(kind=name),
        ))


def error_rate_figure(per_position: pd.DataFrame, train_max: int | None = None) -> go.Figure:
    """Share of wrong letters at each output position, one line per model.

    ``per_position`` has columns position, model, n, error_rate. Positions ``>= train_max``
    only occur in strings longer than any seen in training; they are shaded.
    """
    figure = _line_figure(_("Error rate by output position"),
                          _("output position (0 = first written)"), _("letters wrong"))
    _add_model_lines(figure, per_position, "position", "error_rate",
                     _("{kind}: %{{y:.1%}} wrong of %{{customdata}}<extra></extra>"))
    if train_max is not None and len(per_position):
        last = float(per_position["position"].max()) + 0.5
        figure.update_layout(shapes=_outside_shapes(-0.5, train_max - 0.5, -0.5, last))
    return figure


def exact_match_figure(by_length: pd.DataFrame,
                       train_range: tuple[int, int] | None = None) -> go.Figure:
    """Exact-match accuracy by input length, one line per model, shaded outside ``train_range``.

    ``by_length`` has columns length, model, n, exact_match (and more, ignored).
    """
    figure = _line_figure(_("Exact match by input length"), _("input length (letters)"),
                          _("strings fully right"))
    _add_model_lines(figure, by_length, "length", "exact_match",
                     _("{kind}: %{{y:.1%}} of %{{customdata}}<extra></extra>"))
    if train_range is not None and len(by_length):
        first = float(by_length["length"].min()) - 0.5
        last = float(by_length["length"].max()) + 0.5
        low, high = train_range
        figure.update_layout(shapes=_outside_shapes(low - 0.5, high + 0.5, first, last))
    return figure

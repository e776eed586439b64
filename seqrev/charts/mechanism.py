"""Pictures of one attention step: the vectors, the scores and weights, the winning terms.

Input is a :class:`seqrev.inspection.mechanism.StepMechanism`; output a plotly Figure.
Input positions count from 0; hidden dimensions too. Words come through ``_()`` when a
figure is built, in the current language.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from seqrev.charts.decoding import ATTENTION, CHOSEN_RIGHT, OTHER, TARGET_EDGE
from seqrev.i18n import _, current_language, translations
from seqrev.inspection.analysis import source_labels
from seqrev.inspection.mechanism import StepMechanism
from seqrev.tasks.vocab import token_label

VECTOR_SCALE = "RdBu"
FORCED_COLOR = "#bf8700"
WINNER_COLOR = "#8250df"


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart from the same English word elsewhere
    ("score" is the score function on the Home page, one score s_i here)."""
    return translations(current_language()).pgettext(context, message)


def _edge_colors(mechanism: StepMechanism) -> list[str]:
    """Bar outlines: green on the letter this step should copy, none elsewhere."""
    return [TARGET_EDGE if i in mechanism.outline else "rgba(0,0,0,0)"
            for i in range(len(mechanism.source))]


def vectors_figure(mechanism: StepMechanism, title: str = "") -> go.Figure:
    """The query ``q``, the keys (one row per input letter) and the context ``c``, as strips.

    Shared x axis: hidden dimension. The winning letter's key row is framed; the top
    contributing dimensions are marked on the query strip.
    """
    size = mechanism.query.numel()
    rows = len(mechanism.source)
    dims = list(range(size))
    key_labels = source_labels(mechanism.source)
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        row_heights=[1.4, max(rows, 2), 1.4],
        subplot_titles=(_("query q: the decoder's previous state"),
                        _("keys {key}, one row per input letter").format(key=mechanism.key_name),
                        _("context c = Σ a_i h_i, into the decoder GRU")),
    )
    query_limit = max(float(mechanism.query.abs().max()), 1e-6)
    key_limit = max(float(mechanism.keys.abs().max()), 1e-6)
    strip = {"colorscale": VECTOR_SCALE, "reversescale": True, "xgap": 0, "ygap": 1}
    figure.add_trace(go.Heatmap(
        z=[mechanism.query.tolist()], x=dims, y=["q"], zmin=-query_limit, zmax=query_limit,
        showscale=False,
        hovertemplate="q[%{x}] = %{z:.3f}<extra></extra>", **strip), row=1, col=1)
    figure.add_trace(go.Heatmap(
        z=mechanism.keys.tolist(), x=dims, y=key_labels, zmin=-key_limit, zmax=key_limit,
        colorbar={"title": {"text": _("key")}, "thickness": 10, "len": 0.5, "y": 0.5},
        hovertemplate=_("input %{y}<br>key[%{x}] = %{z:.3f}<extra></extra>"), **strip),
        row=2, col=1)
    figure.add_trace(go.Heatmap(
        z=[mechanism.context.tolist()], x=dims, y=["c"], zmin=-query_limit, zmax=query_limit,
        showscale=False, hovertemplate="c[%{x}] = %{z:.3f}<extra></extra>", **strip),
        row=3, col=1)
    top = [d.dim for d in mechanism.top_dims]
    figure.add_trace(go.Scatter(
        x=top, y=["q"] * len(top), mode="markers", name=_("top terms of the winning score"),
        marker={"symbol": "triangle-down", "size": 9, "color": WINNER_COLOR,
                "line": {"color": "white", "width": 1}},
        hovertemplate=_("dimension %{x}<extra>top term</extra>")), row=1, col=1)
    winner = mechanism.winner
    figure.add_shape(type="rect", x0=-0.5, x1=size - 0.5, y0=winner - 0.5, y1=winner + 0.5,
                     line={"color": WINNER_COLOR, "width": 2}, row=2, col=1)
    figure.update_yaxes(autorange="reversed", type="category", row=2, col=1)
    figure.update_xaxes(title_text=_("hidden dimension"), row=3, col=1)
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=260 + 18 * max(rows, 2), margin={"l": 10, "r": 10, "t": 90 if title else 50,
                                                 "b": 10},
        showlegend=False, plot_bgcolor="white",
    )
    return figure


def scores_figure(mechanism: StepMechanism, title: str = "") -> go.Figure:
    """Scores ``s_i`` as bars, then the softmax weights (and the forced ones, if any)."""
    labels = source_labels(mechanism.source)
    edges = _edge_colors(mechanism)
    winner = mechanism.winner
    score_colors = [WINNER_COLOR if i == winner else OTHER for i in range(len(labels))]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=(_("scores s_i"), _("weights a_i = softmax(s)_i")))
    figure.add_trace(go.Bar(
        x=labels, y=mechanism.scores.tolist(), name=pgettext("one score s_i", "score"), marker={
            "color": score_colors, "line": {"color": edges, "width": 3}},
        hovertemplate=_("input %{x}<br>s = %{y:.3f}<extra></extra>")), row=1, col=1)
    figure.add_trace(go.Bar(
        x=labels, y=mechanism.weights.tolist(), name=_("model's own weights"),
        marker={"color": ATTENTION, "line": {"color": edges, "width": 3}},
        hovertemplate=_("input %{x}<br>own weight %{y:.3f}<extra></extra>")), row=2, col=1)
    if mechanism.overridden:
        figure.add_trace(go.Bar(
            x=labels, y=mechanism.used.tolist(),
            name=_("used (forced, blend {blend:g})").format(blend=mechanism.blend),
            marker={"color": FORCED_COLOR},
            hovertemplate=_("input %{x}<br>used weight %{y:.3f}<extra></extra>")), row=2, col=1)
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%", row=2, col=1)
    figure.update_xaxes(type="category", tickangle=-90 if len(labels) > 14 else 0)
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"}, barmode="group", height=460,
        margin={"l": 10, "r": 10, "t": 90 if title else 50, "b": 10}, plot_bgcolor="white",
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.25, "x": 0.0},
        showlegend=mechanism.overridden,
    )
    return figure


def contributions_figure(mechanism: StepMechanism, title: str = "") -> go.Figure:
    """The largest per-dimension terms of the winning score, largest at the top."""
    terms = mechanism.top_dims
    if mechanism.score_name == "additive":
        text = [f"v·tanh({t.key_value:.2f}{t.query_value:+.2f})" for t in terms]
    else:
        text = [f"{t.key_value:.2f} × {t.query_value:.2f}" for t in terms]
    figure = go.Figure(go.Bar(
        x=[t.term for t in terms], y=[f"d{t.dim}" for t in terms], orientation="h",
        text=text, textposition="auto",
        marker={"color": [CHOSEN_RIGHT if t.term > 0 else "#cf222e" for t in terms]},
        hovertemplate=_("dimension %{y}<br>term %{x:.3f}<extra></extra>")))
    total = float(mechanism.scores[mechanism.winner])
    figure.update_layout(
        title={"text": title or _("Largest terms of s_{winner} = {total:.2f}").format(
            winner=mechanism.winner, total=total), "x": 0.0, "xanchor": "left"},
        height=120 + 32 * len(terms), margin={"l": 10, "r": 10, "t": 50, "b": 10},
        yaxis={"autorange": "reversed"}, xaxis={"title": _("term (adds to the score)")},
        plot_bgcolor="white",
    )
    return figure


def written_caption(mechanism: StepMechanism) -> str:
    """Plain text: what this step was fed and wrote."""
    return _("fed {fed}, wrote {written}").format(fed=token_label(mechanism.fed_token),
                                                  written=token_label(mechanism.written_token))

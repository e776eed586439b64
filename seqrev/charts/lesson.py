"""The Lesson's own pictures: one string's prefixes through both models, and the scaling of
the dot product. Data in, Figure out; the other chapters reuse the pages' chart builders."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from seqrev.charts.training import model_color
from seqrev.i18n import N_, _, current_language, use_language
from seqrev.inspection.analysis import MODELS
from seqrev.inspection.scaling import ScoreStats

CHART_HEIGHT = 360
SCALED_DASH = {False: "solid", True: "dot"}
SCALING_PANELS = (("spread", N_("Score spread (std across keys)")),
                  ("entropy", N_("Softmax entropy (nats)")),
                  ("grad_norm", N_("Softmax gradient norm")))
SOURCE_NAMES = {"random": N_("random vectors"), "model": N_("the trained model's q and keys")}


def prefix_figure(outcomes: pd.DataFrame, length: int | None = None, title: str = "",
                  language: str | None = None) -> go.Figure:
    """Share of letters right against the prefix length, one line per model; ``length``
    marked. ``outcomes`` has columns length, model, letters_right, correct (and more).
    Words in ``language`` (default: the current one)."""
    with use_language(language or current_language()):
        return _prefix_figure(outcomes, length, title)


def _prefix_figure(outcomes: pd.DataFrame, length: int | None, title: str) -> go.Figure:
    figure = go.Figure()
    for kind in MODELS:
        rows = outcomes[outcomes["model"] == kind].sort_values("length")
        if rows.empty:
            continue
        share = (rows["letters_right"] / rows["length"]).tolist()
        verdict = [_("right") if ok else _("wrong") for ok in rows["correct"]]
        figure.add_trace(go.Scatter(
            x=rows["length"].tolist(), y=share, name=_(kind), mode="lines+markers",
            line={"color": model_color(kind)}, customdata=verdict,
            marker={"size": 7, "symbol": ["circle" if ok else "x" for ok in rows["correct"]]},
            hovertemplate=_("{kind}: %{{x}} letters, %{{y:.0%}} of the letters in place, "
                            "%{{customdata}}<extra></extra>").format(kind=_(kind))))
    if length is not None:
        figure.add_vline(x=length, line={"color": "#24292f", "width": 1, "dash": "dash"})
    figure.update_layout(
        title={"text": title or _("Letters in place when the input is the string's first N "
                                  "letters"),
               "x": 0.0, "xanchor": "left"},
        height=CHART_HEIGHT, margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        xaxis={"title": _("N: letters of the string in the input (x: the output is wrong)"),
               "dtick": 2},
        yaxis={"title": _("letters in place"), "tickformat": ".0%", "range": [-0.03, 1.05]},
        plot_bgcolor="white", hovermode="x unified")
    return figure


def scaling_figure(stats: Sequence[ScoreStats], title: str = "", language: str | None = None
                   ) -> go.Figure:
    """Spread, softmax entropy and gradient norm against the vector size D, unscaled (solid)
    and divided by √D (dotted), one colour per source of vectors (random, the model's).
    Words in ``language`` (default: the current one)."""
    with use_language(language or current_language()):
        return _scaling_figure(stats, title)


def _scaling_figure(stats: Sequence[ScoreStats], title: str) -> go.Figure:
    panels = [(field, _(label)) for field, label in SCALING_PANELS]
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[label for _f, label in panels])
    colors = {"random": "#6e7781", "model": model_color("attention")}
    names = {source: _(name) for source, name in SOURCE_NAMES.items()}
    for source in ("random", "model"):
        for scaled in (False, True):
            rows = sorted((s for s in stats if s.source == source and s.scaled == scaled),
                          key=lambda s: s.dim)
            if not rows:
                continue
            name = (_("{vectors}, ÷ √D") if scaled else _("{vectors}, unscaled")).format(
                vectors=names[source])
            for column, (field, label) in enumerate(panels, start=1):
                figure.add_trace(go.Scatter(
                    x=[s.dim for s in rows], y=[getattr(s, field) for s in rows], name=name,
                    legendgroup=name, showlegend=column == 1, mode="lines+markers",
                    line={"color": colors[source], "dash": SCALED_DASH[scaled]},
                    hovertemplate=f"{name}<br>D = %{{x}}<br>{label}: %{{y:.3f}}<extra></extra>"),
                    row=1, col=column)
    figure.update_xaxes(type="log", title_text=_("vector size D"), dtick=0.30103)
    figure.update_yaxes(rangemode="tozero")
    figure.update_layout(
        title={"text": title or _("Scores of size-D vectors, with and without ÷ √D"), "x": 0.0,
               "xanchor": "left"},
        height=CHART_HEIGHT + 40, margin={"l": 10, "r": 10, "t": 90, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
        plot_bgcolor="white")
    return figure

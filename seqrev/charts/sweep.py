"""Pictures of a capacity sweep: exact match by test length and hidden size, and the curve.

Inputs are the tables of ``seqrev.inspection.capacity`` (``aggregate`` and
``capacity_curve``): plain DataFrames in, plotly Figures out, their words in the current
language (``_()`` at build time).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from seqrev.charts.training import model_color
from seqrev.i18n import _

HEATMAP_SCALE = "Viridis"
CHART_HEIGHT = 380


def capacity_heatmap(table: pd.DataFrame, kind: str, *, train_max: int | None = None,
                     threshold: float = 0.95) -> go.Figure:
    """Exact match of ``kind``: hidden size (rows) x test length (columns), from ``aggregate``.

    Cells not yet measured stay empty, so a running sweep fills in. ``train_max`` draws a line
    after the longest training length; cells at or above ``threshold`` are marked with a dot.
    """
    rows = table[table["kind"] == kind]
    figure = go.Figure()
    name = _(kind)
    title = _("{kind}: exact match by test length and hidden size").format(kind=name)
    if rows.empty:
        figure.add_annotation(text=_("no finished trials yet"), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    else:
        grid = rows.pivot_table(index="hidden_dim", columns="test_length",
                                values="exact_match", aggfunc="max").sort_index()
        hidden = [str(int(h)) for h in grid.index]
        lengths = [int(n) for n in grid.columns]
        figure.add_trace(go.Heatmap(
            z=grid.to_numpy().tolist(), x=lengths, y=hidden, zmin=0.0, zmax=1.0,
            colorscale=HEATMAP_SCALE, colorbar={"title": {"text": _("exact")}, "thickness": 12},
            hovertemplate=_("hidden %{y}<br>length %{x}<br>exact %{z:.1%}<extra></extra>"),
            xgap=1, ygap=1, name=name,
        ))
        reached = rows[rows["exact_match"] >= threshold]
        figure.add_trace(go.Scatter(
            x=reached["test_length"].astype(int).tolist(),
            y=[str(int(h)) for h in reached["hidden_dim"]], mode="markers",
            marker={"size": 5, "color": "white", "line": {"width": 0}},
            name=f">= {threshold:.0%}", hoverinfo="skip",
        ))
        if train_max is not None:
            figure.add_vline(x=train_max + 0.5, line={"color": "white", "dash": "dash"},
                             annotation_text=_("training max"), annotation_position="top left")
    figure.update_layout(
        title={"text": title}, height=CHART_HEIGHT, margin={"l": 60, "r": 20, "t": 50, "b": 50},
        xaxis={"title": {"text": _("test length (letters)")}, "dtick": 2},
        yaxis={"title": {"text": _("hidden size")}, "type": "category"},
        legend={"orientation": "h", "y": -0.25}, showlegend=not rows.empty,
    )
    return figure


def capacity_curve_chart(curve: pd.DataFrame, *, threshold: float = 0.95,
                         hidden_sizes: list[int] | None = None) -> go.Figure:
    """The smallest hidden size reaching ``threshold`` exact at length N, one line per model.

    ``curve`` is ``capacity.capacity_curve``'s table; lengths no hidden size reaches are gaps,
    marked with an x above the axis (one row per model). ``hidden_sizes`` (the sweep's)
    become the ticks.
    """
    figure = go.Figure()
    top = max(hidden_sizes) if hidden_sizes else None
    kinds = sorted(curve["kind"].unique()) if not curve.empty else []
    reach = f"{threshold:.0%}"
    for row, kind in enumerate(kinds):
        rows = curve[curve["kind"] == kind].sort_values("test_length")
        color, name = model_color(kind), _(kind)
        figure.add_trace(go.Scatter(
            x=rows["test_length"].tolist(), y=rows["hidden_dim"].tolist(),
            mode="lines+markers", line={"color": color, "shape": "hv"}, name=name,
            connectgaps=False,
            hovertemplate=_("{kind}<br>length %{{x}}<br>smallest hidden %{{y}}<extra></extra>"
                            ).format(kind=name),
        ))
        missing = rows[rows["hidden_dim"].isna()]
        if top is not None and not missing.empty:
            figure.add_trace(go.Scatter(
                x=missing["test_length"].tolist(), y=[top * (1.25 + 0.25 * row)] * len(missing),
                mode="markers", marker={"symbol": "x", "color": color, "size": 8},
                name=_("{kind}: none reaches {threshold}").format(kind=name, threshold=reach),
                hovertemplate=_("{kind}<br>length %{{x}}<br>no hidden size in the sweep "
                                "reaches {threshold}<extra></extra>").format(
                                    kind=name, threshold=reach),
            ))
    if curve.empty:
        figure.add_annotation(text=_("no finished trials yet"), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    elif curve["hidden_dim"].isna().all():
        figure.add_annotation(text=_("no hidden size in the sweep reaches {threshold} yet"
                                     ).format(threshold=reach),
                              showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    yaxis = {"title": {"text": _("smallest hidden size")}, "type": "log"}
    if hidden_sizes:
        # a fixed range, so the axis is drawn even when no point (or only the x marks) is
        yaxis["tickvals"] = sorted(hidden_sizes)
        yaxis["range"] = [math.log10(min(hidden_sizes) / 1.5),
                          math.log10(max(hidden_sizes) * (1.25 + 0.25 * max(len(kinds), 1)) * 1.2)]
    figure.update_layout(
        title={"text": _("Smallest hidden size reaching {threshold} exact match at length N"
                         ).format(threshold=reach)},
        height=CHART_HEIGHT, margin={"l": 60, "r": 20, "t": 50, "b": 50},
        xaxis={"title": {"text": _("length N (letters)")}, "dtick": 2},
        yaxis=yaxis, legend={"orientation": "h", "y": -0.25},
    )
    return figure


def seed_spread_chart(spread: pd.DataFrame, by_seed: pd.DataFrame, *,
                      threshold: float = 0.95) -> go.Figure:
    """Longest N reaching ``threshold`` against hidden size: each seed a dot, its range a bar.

    ``spread`` is ``capacity.seed_spread``'s table and ``by_seed`` ``capacity.longest_by_seed``'s.
    The line joins the medians; a bar shows lowest to highest over the seeds.
    """
    figure = go.Figure()
    reach = f"{threshold:.0%}"
    kinds = sorted(spread["kind"].unique()) if not spread.empty else []
    for offset, kind in zip((0.97, 1.03), kinds, strict=False):
        rows = spread[spread["kind"] == kind].sort_values("hidden_dim")
        dots = by_seed[by_seed["kind"] == kind]
        color, name = model_color(kind), _(kind)
        figure.add_trace(go.Scatter(
            x=(rows["hidden_dim"] * offset).tolist(), y=rows["median"].tolist(),
            mode="lines+markers", line={"color": color}, marker={"size": 9}, name=name,
            error_y={"type": "data", "symmetric": False,
                     "array": (rows["highest"] - rows["median"]).tolist(),
                     "arrayminus": (rows["median"] - rows["lowest"]).tolist(),
                     "thickness": 2, "width": 6, "color": color},
            customdata=[", ".join(map(str, r.per_seed)) for r in rows.itertuples()],
            hovertemplate=_("{kind}, hidden %{{x:.0f}}<br>median %{{y}} letters<br>"
                            "seeds: %{{customdata}}<extra></extra>").format(kind=name),
        ))
        figure.add_trace(go.Scatter(
            x=(dots["hidden_dim"] * offset).tolist(), y=dots["longest"].tolist(),
            mode="markers", marker={"size": 5, "color": color, "opacity": 0.5,
                                    "symbol": "circle-open"},
            name=_("{kind}: one seed").format(kind=name),
            customdata=dots["seed"].tolist(),
            hovertemplate=_("{kind}, hidden %{{x:.0f}}, seed %{{customdata}}<br>"
                            "%{{y}} letters<extra></extra>").format(kind=name),
        ))
    if spread.empty:
        figure.add_annotation(text=_("no finished trials yet"), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    hidden_sizes = sorted(int(h) for h in spread["hidden_dim"].unique()) if kinds else []
    figure.update_layout(
        title={"text": _("Longest N reaching {threshold} at every length 1..N, seed by seed"
                         ).format(threshold=reach)},
        height=CHART_HEIGHT, margin={"l": 60, "r": 20, "t": 50, "b": 50},
        xaxis={"title": {"text": _("hidden size")}, "type": "log",
               **({"tickvals": hidden_sizes} if hidden_sizes else {})},
        yaxis={"title": {"text": _("longest N (letters)")}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure

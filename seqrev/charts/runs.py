"""Comparing runs: several runs' curves overlaid, against steps or against wall time.

Labels are marked ``N_()`` here and taken through ``_()`` when a figure is built, so it comes
out in the current language.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from seqrev.charts.training import CHART_HEIGHT, RunSeries, set_log_ticks
from seqrev.i18n import N_, _

# Distinct, colour-blind-friendly colours for up to ten runs (Okabe-Ito, then Tableau).
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
              "#000000", "#8c564b", "#7f7f7f")
METRICS = {  # metric -> (title, y-axis title), both marked: shown with _()
    "smoothed_loss": (N_("Training loss (smoothed)"), N_("cross-entropy per symbol (log)")),
    "exact_match": (N_("Held-out exact match"), N_("exact match")),
    "char_accuracy": (N_("Held-out character accuracy"), N_("character accuracy")),
}
X_AXES = {"step": N_("step"), "wall": N_("wall seconds")}  # shown with _()


def run_color(index: int) -> str:
    """The colour of the ``index``-th run in a comparison."""
    return RUN_COLORS[index % len(RUN_COLORS)]


def compare_figure(runs: Mapping[str, RunSeries], metric: str = "exact_match",
                   x_axis: str = "step") -> go.Figure:
    """One line per run (keyed by its label) of ``metric`` against ``x_axis``."""
    if metric not in METRICS or x_axis not in X_AXES:
        raise ValueError(f"metric must be one of {list(METRICS)}, x_axis one of {list(X_AXES)}")
    title, y_title = METRICS[metric]
    on_evals = metric != "smoothed_loss"
    figure = go.Figure()
    for index, (label, run) in enumerate(runs.items()):
        if on_evals:
            x = run.eval_steps if x_axis == "step" else run.eval_wall_seconds
        else:
            x = run.steps if x_axis == "step" else run.wall_seconds
        figure.add_trace(go.Scatter(
            x=list(x), y=list(getattr(run, metric)), name=label,
            mode="lines+markers" if on_evals else "lines", marker={"size": 4},
            line={"color": run_color(index), "width": 2},
            hovertemplate=("%{y:.1%}" if on_evals else "%{y:.4f}") + f"<extra>{label}</extra>",
        ))
    figure.update_layout(
        title={"text": _(title), "x": 0.0, "xanchor": "left"}, height=CHART_HEIGHT,
        margin={"l": 10, "r": 10, "t": 50, "b": 10}, xaxis_title=_(X_AXES[x_axis]),
        yaxis_title=_(y_title), hovermode="x unified",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0},
    )
    if on_evals:
        figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        set_log_ticks(figure, [v for run in runs.values() for v in run.smoothed_loss])
    if not runs:
        figure.add_annotation(text=_("pick runs to compare"), showarrow=False, xref="paper",
                              yref="paper", x=0.5, y=0.5)
    return figure

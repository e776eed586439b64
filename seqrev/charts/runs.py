"""Comparing runs: several runs' curves overlaid, against steps or against wall time."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from seqrev.charts.training import CHART_HEIGHT, RunSeries, set_log_ticks

# Distinct, colour-blind-friendly colours for up to ten runs (Okabe-Ito, then Tableau).
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
              "#000000", "#8c564b", "#7f7f7f")
METRICS = {
    "smoothed_loss": ("Training loss (smoothed)", "cross-entropy per symbol (log)"),
    "exact_match": ("Held-out exact match", "exact match"),
    "char_accuracy": ("Held-out character accuracy", "character accuracy"),
}
X_AXES = {"step": "step", "wall": "wall seconds"}


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
        title={"text": title, "x": 0.0, "xanchor": "left"}, height=CHART_HEIGHT,
        margin={"l": 10, "r": 10, "t": 50, "b": 10}, xaxis_title=X_AXES[x_axis],
        yaxis_title=y_title, hovermode="x unified",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0},
    )
    if on_evals:
        figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        set_log_ticks(figure, [v for run in runs.values() for v in run.smoothed_loss])
    if not runs:
        figure.add_annotation(text="pick runs to compare", showarrow=False, xref="paper",
                              yref="paper", x=0.5, y=0.5)
    return figure

"""Live training charts: loss, held-out accuracy and speed, one line per model.

Every function takes plain per-model data (``seqrev.runs.history.HistoryView`` or anything with the
same fields) keyed by model kind, and optionally the run's length in steps to fix the x axis
while it grows, and returns a ``plotly.graph_objects.Figure``. When two
models race they share each chart, always in the colours of ``MODEL_COLORS``. Words (titles,
axes, legends, hover texts) come through ``_()`` when a figure is built, in the current language.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import plotly.graph_objects as go

from seqrev.i18n import N_, _
from seqrev.models.kinds import KINDS
from seqrev.runs.history import SPEED_WINDOW

# One colour per model kind, for every page (colour-blind-safe blue and orange).
MODEL_COLORS: dict[str, str] = {kind.name: kind.color for kind in KINDS.values()}
FALLBACK_COLOR = "#7f7f7f"
CHART_HEIGHT = 380
MAX_LOG_TICKS = 6  # more labels than this stack on a chart CHART_HEIGHT tall
# Tick stops per decade on a log axis, coarse to fine.
LOG_TICK_STOPS = ((1,), (1, 3), (1, 2, 5))
# The three live charts' titles, and what each one shows before its first point arrives
# (marked only: shown with ``_()``).
CHART_TITLES = {"loss": N_("Training loss"), "accuracy": N_("Held-out accuracy"),
                "speed": N_("Speed")}
WAITING_NOTES = {
    "loss": N_("Each step's loss appears here from the first step on, bold when smoothed."),
    "accuracy": N_("Exact match and character accuracy on the held-out strings appear here at "
                   "each evaluation."),
    "speed": N_("Steps per wall second appear here once the first steps are done."),
}
NICE_STEPS = (5, 2, 1)  # linear tick steps, per decade, for a range narrower than one stop


class RunSeries(Protocol):
    """What a chart reads for one model (``seqrev.runs.history.HistoryView`` has these fields)."""

    steps: Sequence[int]
    loss: Sequence[float]
    smoothed_loss: Sequence[float]
    steps_per_second: Sequence[float]
    eval_steps: Sequence[int]
    exact_match: Sequence[float]
    char_accuracy: Sequence[float]


def has_points(runs: Mapping[str, RunSeries]) -> bool:
    """Whether any run has recorded a step: before that a page shows ``WAITING_NOTES``."""
    return any(len(run.steps) for run in runs.values())


def model_color(kind: str) -> str:
    """The colour of ``kind`` ("plain" or "attention"); grey for anything else."""
    return MODEL_COLORS.get(kind, FALLBACK_COLOR)


def _decimals(value: float) -> int:
    """Decimals that show ``value`` (a nice tick step or stop) exactly."""
    return max(0, -math.floor(math.log10(value) + 1e-9))


def _label(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def log_ticks(low: float, high: float, max_ticks: int = MAX_LOG_TICKS
              ) -> tuple[list[float], list[str]]:
    """A few readable ticks for a log axis over ``[low, high]``: values and distinct labels.

    Whole decades, then 1-3 and 1-2-5 stops per decade, whichever gives the most ticks up to
    ``max_ticks``; a range too narrow for two such stops (a loss between 3.3 and 3.4) gets
    evenly spaced nice values instead, labelled with just enough decimals to tell them apart.
    """
    if not (0 < low <= high) or not math.isfinite(high):
        raise ValueError(f"a log axis needs 0 < low <= high, got {low!r} and {high!r}")
    if high == low:
        low, high = low * 0.95, high * 1.05
    best: list[float] = []
    for stops in LOG_TICK_STOPS:
        ticks = [float(f"{stop * 10.0 ** decade:.12g}")
                 for decade in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                 for stop in stops if low <= stop * 10.0 ** decade <= high]
        if len(ticks) <= max_ticks and len(ticks) >= len(best):
            best = ticks
    if len(best) >= 3 or (len(best) == 2 and best[1] / best[0] >= 3):
        return best, [_label(v, _decimals(v)) for v in best]
    top = math.floor(math.log10(high - low))
    for decade in (top, top - 1, top - 2):
        for nice in NICE_STEPS:
            step = nice * 10.0 ** decade
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            ticks = [float(f"{i * step:.12g}") for i in range(first, last + 1)]
            if 3 <= len(ticks) <= max_ticks:
                decimals = _decimals(step)
                return ticks, [_label(v, decimals) for v in ticks]
    decimals = _decimals((high - low) / 2)
    return [low, high], [_label(low, decimals + 1), _label(high, decimals + 1)]


def set_log_ticks(figure: go.Figure, values: Iterable[float]) -> None:
    """Make ``figure``'s y axis logarithmic with a few readable ticks for ``values``."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    figure.update_yaxes(type="log")
    if positive:
        tick_values, tick_text = log_ticks(min(positive), max(positive))
        figure.update_yaxes(tickmode="array", tickvals=tick_values, ticktext=tick_text)


def _title(chart: str) -> str:
    """``CHART_TITLES[chart]`` in the current language."""
    return _(CHART_TITLES[chart])


def _figure(title: str, subtitle: str, y_title: str, empty_note: str | None,
            total_steps: int | None) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}, "x": 0.0, "xanchor": "left"},
        height=CHART_HEIGHT,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0.0},
        xaxis_title=_("step"),
        yaxis_title=y_title,
        hovermode="x unified",
    )
    if total_steps:
        figure.update_xaxes(range=[0, total_steps])
    if empty_note:
        figure.add_annotation(text=empty_note, showarrow=False, xref="paper", yref="paper",
                              x=0.5, y=0.5, font={"color": FALLBACK_COLOR})
    return figure


def loss_figure(runs: Mapping[str, RunSeries], total_steps: int | None = None) -> go.Figure:
    """Training loss per model: the smoothed curve, with each step's raw loss faint behind it."""
    has_points = any(len(run.steps) for run in runs.values())
    figure = _figure(_title("loss"), _("faint: each step · bold: smoothed"),
                     _("cross-entropy per symbol (log)"),
                     None if has_points else _("no steps yet"), total_steps)
    for kind, run in runs.items():
        color, name = model_color(kind), _(kind)
        figure.add_trace(go.Scatter(
            x=list(run.steps), y=list(run.loss), name=_("{kind} raw").format(kind=name),
            legendgroup=kind,
            mode="lines", line={"color": color, "width": 1}, opacity=0.25, showlegend=False,
            hoverinfo="skip",
        ))
        figure.add_trace(go.Scatter(
            x=list(run.steps), y=list(run.smoothed_loss), name=name, legendgroup=kind,
            mode="lines", line={"color": color, "width": 2.5},
            hovertemplate="%{y:.4f}",
        ))
    set_log_ticks(figure, [v for run in runs.values() for v in [*run.loss, *run.smoothed_loss]])
    return figure


def accuracy_figure(runs: Mapping[str, RunSeries], total_steps: int | None = None) -> go.Figure:
    """Exact match (solid) and character accuracy (dotted) on the fixed held-out set."""
    has_points = any(len(run.eval_steps) for run in runs.values())
    figure = _figure(_title("accuracy"), _("solid: exact match · dotted: characters"),
                     _("accuracy"), None if has_points else _("no evaluation yet"), total_steps)
    for kind, run in runs.items():
        color, name = model_color(kind), _(kind)
        figure.add_trace(go.Scatter(
            x=list(run.eval_steps), y=list(run.exact_match),
            name=_("{kind} exact match").format(kind=name),
            legendgroup=kind, mode="lines+markers", marker={"size": 5},
            line={"color": color, "width": 2.5}, hovertemplate="%{y:.1%}",
        ))
        figure.add_trace(go.Scatter(
            x=list(run.eval_steps), y=list(run.char_accuracy),
            name=_("{kind} characters").format(kind=name),
            legendgroup=kind, mode="lines", line={"color": color, "width": 1.5, "dash": "dot"},
            hovertemplate="%{y:.1%}",
        ))
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return figure


def speed_figure(runs: Mapping[str, RunSeries], total_steps: int | None = None) -> go.Figure:
    """Real progress: optimizer steps per wall second of each run, over its recent steps."""
    has_points = any(len(run.steps) for run in runs.values())
    figure = _figure(_title("speed"),
                     _("steps per wall second, over the last {n} steps").format(n=SPEED_WINDOW),
                     _("steps per second"), None if has_points else _("no steps yet"),
                     total_steps)
    for kind, run in runs.items():
        figure.add_trace(go.Scatter(
            x=list(run.steps), y=list(run.steps_per_second), name=_(kind), legendgroup=kind,
            mode="lines", line={"color": model_color(kind), "width": 2},
            hovertemplate=_("%{y:.1f} steps/s"),
        ))
    figure.update_yaxes(rangemode="tozero")
    return figure

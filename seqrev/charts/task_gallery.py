"""The task gallery: one attention model per task, its heatmaps side by side on one string.

Each panel is a heatmap of one model's attention (one row per decode step, one column per
source letter) with the task's expected alignment outlined: every source position
``alignment[t]`` names for step t gets a cell outline; a step with an empty set (``<eos>``)
gets none. Data in, Figure out.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from seqrev.charts.attention import HEATMAP_SCALE, ROW_PX
from seqrev.charts.decoding import TARGET_EDGE
from seqrev.i18n import N_, _, current_language, use_language

OUTLINE_NAME = N_("the task's expected alignment")
DESCRIPTION_WIDTH = 38  # characters per line of a panel's description under its task name


@dataclass(frozen=True)
class GalleryPanel:
    """What one panel draws: plain data, no model."""

    task: str  # the task's spec, e.g. "sort"
    description: str  # the task's one-line description
    source: str  # the input string
    matrix: list[list[float]]  # (steps, S) attention weights, one row per decode step
    row_labels: list[str]  # one per row, e.g. "0: A"
    alignment: list[frozenset[int]]  # per step, the source positions the task says it reads


def panel_title(panel: GalleryPanel) -> str:
    """The task's name in bold over its description, wrapped to fit a third of the width."""
    lines = (_wrap_wide(panel.description) if any(_is_wide(c) for c in panel.description)
             else textwrap.wrap(panel.description, DESCRIPTION_WIDTH))
    return f"<b>{panel.task}</b><br><span style='font-size:11px'>{'<br>'.join(lines)}</span>"


def _is_wide(character: str) -> bool:
    return ord(character) >= 0x2E80  # CJK and full-width punctuation: two columns each


def _wrap_wide(text: str) -> list[str]:
    """Chinese text in lines of DESCRIPTION_WIDTH columns (a wide character takes two),
    breaking between wide characters or at spaces but never inside a run such as ABCDE."""
    pieces = re.findall(r"[^\s\u2e80-\uffff]+|\s+|[\u2e80-\uffff]", text)
    lines, line, width = [], "", 0
    for piece in pieces:
        size = sum(2 if _is_wide(c) else 1 for c in piece)
        if width + size > DESCRIPTION_WIDTH and line.strip():
            lines.append(line.strip())
            line, width = "", 0
        line, width = line + piece, width + size
    return [*lines, line.strip()] if line.strip() else lines


def outline_cells(alignment: Sequence[frozenset[int]], n_rows: int, width: int
                  ) -> list[tuple[int, int]]:
    """``(row, column)`` of every outlined cell: the alignment's positions on rows that exist."""
    return [(row, column) for row, positions in enumerate(alignment[:n_rows])
            for column in sorted(positions) if 0 <= column < width]


def task_gallery_figure(panels: Sequence[GalleryPanel], title: str = "",
                        language: str | None = None) -> go.Figure:
    """One heatmap per panel, side by side, sharing one colour scale from 0 to 1.

    Axes are numeric (cells centred on whole numbers) with the letters as tick text, so a
    string with a repeated letter still gets one column per position. Words in ``language``
    (default: the current one); the panels bring their own task names and descriptions.
    """
    with use_language(language or current_language()):
        return _task_gallery_figure(panels, title)


def _task_gallery_figure(panels: Sequence[GalleryPanel], title: str) -> go.Figure:
    if not panels:
        raise ValueError("the gallery needs at least one panel")
    for panel in panels:
        n_rows = len(panel.matrix)
        if len(panel.row_labels) != n_rows or any(len(r) != len(panel.source)
                                                  for r in panel.matrix):
            raise ValueError(f"panel {panel.task!r}: matrix, row labels and source disagree")
    figure = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.09,
                           subplot_titles=[panel_title(p) for p in panels])
    shapes, first = [], True
    for index, panel in enumerate(panels, start=1):
        width, n_rows = len(panel.source), len(panel.matrix)
        figure.add_trace(go.Heatmap(
            z=panel.matrix, x=list(range(width)), y=list(range(n_rows)), coloraxis="coloraxis",
            customdata=[[[label, letter] for letter in panel.source]
                        for label in panel.row_labels],
            hovertemplate=_("output %{customdata[0]}<br>reads input %{x}: %{customdata[1]}"
                            "<br>weight %{z:.3f}<extra></extra>"),
            xgap=1, ygap=1, name=panel.task), row=1, col=index)
        suffix = "" if index == 1 else str(index)
        for row, column in outline_cells(panel.alignment, n_rows, width):
            shapes.append({"type": "rect", "name": _(OUTLINE_NAME), "xref": f"x{suffix}",
                           "yref": f"y{suffix}", "x0": column - 0.5, "x1": column + 0.5,
                           "y0": row - 0.5, "y1": row + 0.5,
                           "line": {"color": TARGET_EDGE, "width": 2.5},
                           "fillcolor": "rgba(0,0,0,0)", "layer": "above",
                           "showlegend": first, "legendgroup": OUTLINE_NAME})
            first = False
        figure.update_xaxes(tickvals=list(range(width)), ticktext=list(panel.source),
                            side="top", showgrid=False, zeroline=False, row=1, col=index)
        figure.update_yaxes(tickvals=list(range(n_rows)), ticktext=list(panel.row_labels),
                            autorange="reversed", showgrid=False, zeroline=False,
                            row=1, col=index)
    figure.update_yaxes(title_text=_("step: output"), row=1, col=1)
    longest = max(len(p.matrix) for p in panels)
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"} if title else None,
        shapes=shapes, plot_bgcolor="white",
        coloraxis={"colorscale": HEATMAP_SCALE, "cmin": 0.0, "cmax": 1.0,
                   "colorbar": {"title": {"text": _("weight")}, "thickness": 12}},
        height=max(320, 190 + ROW_PX * longest),
        margin={"l": 10, "r": 10, "b": 10, "t": 130 if title else 110},
        legend={"orientation": "h", "yanchor": "top", "y": -0.02, "xanchor": "left", "x": 0.0},
    )
    for annotation in figure.layout.annotations:  # the subplot titles: above the letter ticks
        annotation.update(yshift=28, font={"size": 13})
    return figure

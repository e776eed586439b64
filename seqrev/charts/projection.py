"""Hidden states on 2-D PCA planes: one string's paths, and the reference cloud.

Both figures are a 2 x 2 grid: rows encoder / decoder, columns one per model. Inputs are
:class:`seqrev.inspection.projection.StateMap` and
:class:`seqrev.inspection.projection.TracePath`, keyed by model. Words come through ``_()``
when a figure is built, in the current language.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from seqrev.charts.training import model_color
from seqrev.i18n import N_, _
from seqrev.inspection.projection import StateMap, TracePath

POSITION_SCALE = "Viridis"
SUBPLOT_TITLES = {"encoder": N_("{model}: encoder states (PC1+PC2 hold {share:.0%} of the "
                                "variance)"),
                  "decoder": N_("{model}: decoder states (PC1+PC2 hold {share:.0%} of the "
                                "variance)")}
COLOR_BY = {"position": N_("input position i / decode step t"),
            "left": N_("letters still to write (decoder); letters still to read (encoder)")}
COLOR_TITLES = {"position": N_("position"), "left": N_("left")}  # the colour bar's title
PART_NAMES = {"encoder": N_("{model} encoder"), "decoder": N_("{model} decoder")}
LABEL_LIMIT = 32  # past this many points a path's text labels are left to the hover
BACKGROUND_POINTS = 1200  # the grey cloud behind a path: every k-th reference state, at most this
DECIMALS = 3  # coordinates sent to the browser: the figures are re-sent on every rerun


def _coords(values: torch.Tensor) -> list[float]:
    return [round(v, DECIMALS) for v in values.tolist()]


def _grid(models: list[str], maps: Mapping[str, StateMap], title: str) -> go.Figure:
    names = []
    for part in ("encoder", "decoder"):
        for model in models:
            pca = getattr(maps[model], f"{part}_pca")
            share = float(pca.explained.sum())
            names.append(_(SUBPLOT_TITLES[part]).format(model=_(model), share=share))
    figure = make_subplots(rows=2, cols=len(models), subplot_titles=names,
                           horizontal_spacing=0.08, vertical_spacing=0.12)
    figure.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, height=820,
                         margin={"l": 10, "r": 10, "t": 90, "b": 10}, plot_bgcolor="white")
    figure.update_xaxes(title_text="PC1", showgrid=True, gridcolor="#eaeef2", zeroline=False)
    figure.update_yaxes(title_text="PC2", showgrid=True, gridcolor="#eaeef2", zeroline=False)
    return figure


def state_paths_figure(maps: Mapping[str, StateMap], paths: Mapping[str, TracePath],
                       title: str = "") -> go.Figure:
    """Each model's states for one string: the encoder path (reading) and the decoder path
    (writing), every point labelled ``position: letter``, on that model's fixed planes, over
    the reference cloud in grey."""
    models = [m for m in paths if m in maps]
    figure = _grid(models, maps, title)
    for column, model in enumerate(models, start=1):
        state_map, path = maps[model], paths[model]
        color = model_color(model)
        for row, (cloud, xy, labels, part) in enumerate((
                (state_map.encoder_xy, path.encoder_xy, path.encoder_labels, "encoder"),
                (state_map.decoder_xy, path.decoder_xy, path.decoder_labels, "decoder")),
                start=1):
            cloud = cloud[:: max(1, -(-cloud.shape[0] // BACKGROUND_POINTS))]  # (<= 1200, 2)
            figure.add_trace(go.Scattergl(
                x=_coords(cloud[:, 0]), y=_coords(cloud[:, 1]), mode="markers",
                marker={"size": 3, "color": "rgba(140,149,159,0.25)"}, hoverinfo="skip",
                showlegend=False, name=_("reference")), row=row, col=column)
            text = labels if len(labels) <= LABEL_LIMIT else None
            name = _(PART_NAMES[part]).format(model=_(model))
            figure.add_trace(go.Scatter(
                x=_coords(xy[:, 0]), y=_coords(xy[:, 1]), mode="lines+markers+text",
                text=text, textposition="top center", textfont={"size": 10},
                customdata=labels, name=name, showlegend=False,
                line={"color": color, "width": 1.5}, marker={"size": 7, "color": color},
                hovertemplate=f"{name}<br>%{{customdata}}<br>"
                              "(%{x:.2f}, %{y:.2f})<extra></extra>"), row=row, col=column)
            figure.add_trace(go.Scatter(
                x=[float(xy[0, 0])], y=[float(xy[0, 1])], mode="markers", showlegend=False,
                marker={"symbol": "circle-open", "size": 16, "color": "#24292f",
                        "line": {"width": 2}},
                hovertemplate=_("first point") + "<extra></extra>"), row=row, col=column)
    return figure


def reference_figure(maps: Mapping[str, StateMap], color_by: str = "position",
                     title: str = "") -> go.Figure:
    """Every reference state on its model's planes, coloured by position (or letters left)."""
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}")
    models = list(maps)
    figure = _grid(models, maps, title)
    for column, model in enumerate(models, start=1):
        state_map = maps[model]
        reference = state_map.reference
        encoder_value = (reference.encoder_position if color_by == "position"
                         else reference.encoder_length - 1 - reference.encoder_position)
        decoder_value = (reference.decoder_step if color_by == "position"
                         else reference.decoder_left)
        high = max(int(encoder_value.max()), int(decoder_value.max()))
        for row, (xy, value, part) in enumerate((
                (state_map.encoder_xy, encoder_value, "encoder"),
                (state_map.decoder_xy, decoder_value, "decoder")), start=1):
            show_scale = row == 1 and column == len(models)
            name = _(PART_NAMES[part]).format(model=_(model))
            figure.add_trace(go.Scattergl(
                x=_coords(xy[:, 0]), y=_coords(xy[:, 1]), mode="markers",
                name=name, showlegend=False,
                marker={"size": 4, "color": value.tolist(), "colorscale": POSITION_SCALE,
                        "cmin": min(0, int(value.min())), "cmax": high, "opacity": 0.7,
                        "showscale": show_scale,
                        "colorbar": {"title": {"text": _(COLOR_TITLES[color_by])},
                                     "thickness": 10}},
                hovertemplate=f"{name}<br>{_(COLOR_TITLES[color_by])} %{{marker.color}}"
                              "<extra></extra>"), row=row, col=column)
    return figure

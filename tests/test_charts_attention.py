"""The attention figures: the data they draw, their labels, outlines and shading."""

import json
import re

import pandas as pd
import pytest
import torch

from seqrev.charts.attention import (
    HIGHLIGHT_NAME,
    IDEAL_NAME,
    OUTSIDE_NAME,
    OWN_DIAGONAL_NAME,
    attention_heatmap,
    error_rate_figure,
    exact_match_figure,
    trace_heatmap,
    wrong_steps_heatmap,
)
from seqrev.charts.training import MODEL_COLORS
from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import greedy_trace
from seqrev.inspection.analysis import step_labels
from seqrev.tasks.registry import make_task


@pytest.fixture(scope="module")
def trace():
    return greedy_trace(load_checkpoint("attention").model, "MISSISSIPPIAN")


def shapes_named(figure, name):
    return [s for s in figure.layout.shapes if s.name == name]


def outline_shapes(figure):
    return [s for s in figure.layout.shapes if s.name.startswith(IDEAL_NAME.format(rule=""))]


def outlined_cells(figure):
    """(row index, column index) of every ideal-alignment rectangle."""
    return [(round(s.y0 + 0.5), round(s.x0 + 0.5)) for s in outline_shapes(figure)]


def test_heatmap_draws_the_trace_attention_matrix(trace):
    figure = trace_heatmap(trace, title="t")
    heatmap = figure.data[0]
    assert heatmap.type == "heatmap"
    assert torch.tensor(heatmap.z, dtype=torch.float64).allclose(
        trace.attention_matrix().double(), atol=1e-7)
    assert list(heatmap.x) == [f"{i}: {ch}" for i, ch in enumerate("MISSISSIPPIAN")]
    assert list(heatmap.y) == step_labels(trace)
    tokens = [label.split(": ")[1] for label in heatmap.y]
    assert "".join(t for t in tokens if t != "<eos>") == trace.output
    assert (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)
    json.loads(figure.to_json())


def test_ideal_outline_is_the_anti_diagonal(trace):
    figure = trace_heatmap(trace)
    steps, width = len(trace.steps), len(trace.source)
    cells = outlined_cells(figure)
    assert len(cells) == min(steps, width)
    assert cells == [(t, width - 1 - t) for t in range(min(steps, width))]


@pytest.mark.parametrize(("rows", "width"), [(3, 5), (5, 5), (7, 4), (1, 1)])
def test_outline_has_min_steps_width_cells(rows, width):
    matrix = torch.softmax(torch.randn(rows, width), dim=1)
    source = "ABCDEFG"[:width]
    figure = attention_heatmap(matrix, source, [f"{t}: X" for t in range(rows)],
                               outline=make_task("reverse").alignment(source))
    assert len(outlined_cells(figure)) == min(rows, width)
    assert sum(bool(s.showlegend) for s in outline_shapes(figure)) == 1


def test_no_outline_is_drawn_when_the_task_cannot_say():
    figure = attention_heatmap(torch.ones(3, 3) / 3, "ABC", ["0: A", "1: B", "2: C"])
    assert outlined_cells(figure) == []


@pytest.mark.parametrize(("spec", "source", "cells"), [
    ("copy", "QWERT", [(t, t) for t in range(5)]),
    ("rotate:2", "QWERT", [(0, 2), (1, 3), (2, 4), (3, 0), (4, 1)]),
    ("sort", "DBCA", [(0, 3), (1, 1), (2, 2), (3, 0)]),  # A B C D sit at 3 1 2 0
    ("sort", "BAB", [(0, 1), (1, 0), (1, 2), (2, 0), (2, 2)]),  # either B is right
])
def test_each_tasks_outline_is_drawn_from_its_alignment(spec, source, cells):
    trace = greedy_trace(load_checkpoint("attention").model, source, task=make_task(spec))
    figure = trace_heatmap(trace, model_offset=1)
    assert outlined_cells(figure) == cells
    assert {s.name for s in outline_shapes(figure)} == {
        f"textbook outline: {make_task(spec).outline_rule}"}
    own = shapes_named(figure, OWN_DIAGONAL_NAME.format(offset=1))
    assert [(round(s.y0 + 0.5), round(s.x0 + 0.5)) for s in own] == [
        (row, column + 1) for row, column in cells if column + 1 < len(source)]


def test_highlight_frames_the_selected_row_only(trace):
    assert not shapes_named(trace_heatmap(trace), HIGHLIGHT_NAME)
    framed = shapes_named(trace_heatmap(trace, highlight_step=4), HIGHLIGHT_NAME)
    assert len(framed) == 1
    assert (framed[0].y0, framed[0].y1) == (3.5, 4.5)
    assert (framed[0].x0, framed[0].x1) == (-0.5, len(trace.source) - 0.5)
    assert not shapes_named(trace_heatmap(trace, highlight_step=99), HIGHLIGHT_NAME)


def test_mismatched_sizes_are_refused():
    with pytest.raises(ValueError):
        attention_heatmap(torch.ones(2, 3) / 3, "ABCD", ["0: A", "1: B"])
    with pytest.raises(ValueError):
        attention_heatmap(torch.ones(2, 3) / 3, "ABC", ["0: A"])


def test_wrong_steps_heatmap_keeps_those_rows_and_their_ideal_cells(trace):
    matrix = trace.attention_matrix()
    steps = [1, 4, len(trace.steps) + 3]  # the last one was never reached: left out
    plain_tokens = ["N", "X", "Y", "Z", "Q"]
    figure = wrong_steps_heatmap(trace, steps, plain_tokens)
    heatmap = figure.data[0]
    assert torch.tensor(heatmap.z, dtype=torch.float64).allclose(
        matrix[[1, 4]].double(), atol=1e-7)
    assert list(heatmap.y) == [step_labels(trace)[1] + " | plain X",
                               step_labels(trace)[4] + " | plain Q"]
    width = len(trace.source)
    assert outlined_cells(figure) == [(0, width - 2), (1, width - 5)]  # by step, not by row


def test_wrong_steps_heatmap_with_nothing_to_show(trace):
    figure = wrong_steps_heatmap(trace, [])
    assert not figure.data and "no wrong steps" in figure.layout.annotations[0].text


def comparison_frames(lengths):
    by_length = pd.DataFrame(
        [{"length": n, "model": m, "n": 10, "exact_match": 1.0 if m == "attention" else 0.5}
         for m in ("plain", "attention") for n in lengths])
    per_position = pd.DataFrame(
        [{"position": p, "model": m, "n": 10, "error_rate": p / 20}
         for m in ("plain", "attention") for p in range(max(lengths))])
    return by_length, per_position


def bands(figure):
    return sorted((s.x0, s.x1) for s in shapes_named(figure, OUTSIDE_NAME))


def test_exact_match_lines_per_model_in_house_colours():
    by_length, _ = comparison_frames(range(1, 21))
    figure = exact_match_figure(by_length, (3, 8))
    assert [t.name for t in figure.data] == ["plain", "attention"]
    assert [t.line.color for t in figure.data] == [MODEL_COLORS["plain"],
                                                  MODEL_COLORS["attention"]]
    assert list(figure.data[0].x) == list(range(1, 21))
    assert list(figure.data[0].y) == [0.5] * 20 and list(figure.data[1].y) == [1.0] * 20


@pytest.mark.parametrize(("lengths", "train", "expected"), [
    (range(1, 21), (3, 8), [(0.5, 2.5), (8.5, 20.5)]),
    (range(1, 17), (1, 8), [(8.5, 16.5)]),
    (range(2, 6), (1, 8), []),
    (range(12, 15), (1, 8), [(11.5, 14.5)]),  # all outside: the band stays within the data
])
def test_shading_spans_exactly_the_lengths_outside_training(lengths, train, expected):
    by_length, _ = comparison_frames(lengths)
    figure = exact_match_figure(by_length, train)
    assert bands(figure) == expected
    inside = [n for n in lengths if train[0] <= n <= train[1]]
    for n in lengths:
        shaded = any(x0 < n < x1 for x0, x1 in bands(figure))
        assert shaded == (n not in inside)


def test_error_rate_lines_and_positions_past_training_shaded():
    _, per_position = comparison_frames(range(1, 13))
    figure = error_rate_figure(per_position, train_max=8)
    assert [t.name for t in figure.data] == ["plain", "attention"]
    assert list(figure.data[0].x) == list(range(12))
    assert list(figure.data[0].y) == pytest.approx([p / 20 for p in range(12)])
    assert bands(figure) == [(7.5, 11.5)]
    assert not bands(error_rate_figure(per_position))


# --- forced attention and offline downloads (issue 9) -----------------------------------------

def test_forced_cells_are_framed_and_cells_are_clickable():
    from seqrev.charts.attention import FORCED_NAME, standalone_html  # noqa: F401
    from seqrev.decoding.search import AttentionOverride

    model = load_checkpoint("attention").model
    forced = greedy_trace(model, "MISSISSIPPIAN", overrides=[AttentionOverride(2, 0),
                                                             AttentionOverride(3, 12, 0.5)])
    figure = trace_heatmap(forced, clickable=True)
    frames = shapes_named(figure, FORCED_NAME)
    reached = [(s.forced_position, s.position) for s in forced.steps if s.overridden]
    assert (0, 2) in reached
    assert [(f.x0 + 0.45, f.y0 + 0.45) for f in frames] == reached
    assert sum(bool(f.showlegend) for f in frames) == 1
    cells = next(t for t in figure.data if t.name == "cells")
    assert len(cells.customdata) == len(forced.steps) * 13
    assert list(cells.customdata[13 * 2 + 5])[:2] == [2, 5]
    assert cells.customdata[13 * 2 + 5][2] == pytest.approx(float(forced.steps[2].attention[5]))
    assert cells.x[13 * 2 + 5] == "5: S" and cells.y[13 * 2 + 5] == step_labels(forced)[2]
    assert not any(t.name == "cells" for t in trace_heatmap(forced).data)


def test_override_probability_figure_follows_both_runs():
    from seqrev.charts.attention import override_probability_figure
    from seqrev.decoding.search import AttentionOverride
    from seqrev.tasks.vocab import expected_tokens

    model = load_checkpoint("attention").model
    own = greedy_trace(model, "ATTENTIONISALLYOUNEED")
    forced = greedy_trace(model, "ATTENTIONISALLYOUNEED", overrides=[AttentionOverride(3, 17)])
    figure = override_probability_figure(own, forced)
    want = expected_tokens("ATTENTIONISALLYOUNEED")
    own_line, forced_line = figure.data
    assert list(forced_line.y) == pytest.approx(
        [float(forced.steps[t].probabilities[want[t]]) for t in range(len(forced.steps))])
    assert len(own_line.x) == len(own.steps)
    assert [s.x0 for s in figure.layout.shapes] == [3]


def test_downloaded_html_embeds_plotly_js(trace):
    from seqrev.charts.attention import standalone_html

    page = standalone_html(trace_heatmap(trace))
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and not any("src=" in tag for tag in scripts)  # nothing loaded from outside
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # the library is inside


def test_model_offset_adds_a_named_outline_on_its_own_diagonal(trace):
    figure = trace_heatmap(trace, model_offset=1)
    own = shapes_named(figure, OWN_DIAGONAL_NAME.format(offset=1))
    width = len(trace.source)
    cells = [(round(s.y0 + 0.5), round(s.x0 + 0.5)) for s in own]
    assert cells == [(t, width - t) for t in range(1, min(len(trace.steps), width))]
    assert sum(bool(s.showlegend) for s in own) == 1 and own[0].line.dash == "dot"
    assert outlined_cells(figure) == outlined_cells(trace_heatmap(trace))  # textbook kept
    assert not [s for s in trace_heatmap(trace, model_offset=0).layout.shapes
                if s.name and "own diagonal" in s.name]

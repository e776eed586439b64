"""Training charts: the right traces, in the right colours, holding the data they were given."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from seqrev.charts.training import (
    FALLBACK_COLOR,
    MAX_LOG_TICKS,
    MODEL_COLORS,
    accuracy_figure,
    log_ticks,
    loss_figure,
    model_color,
    speed_figure,
)
from seqrev.runs.history import CHART_POINTS, HistoryView, downsample
from seqrev.runs.smoothing import ema


def history(offset: float = 0.0, n: int = 5, evals: int = 2) -> HistoryView:
    steps = list(range(1, n + 1))
    loss = [3.0 / s + offset for s in steps]
    return HistoryView(
        steps=steps, loss=loss, smoothed_loss=ema(loss), steps_per_second=[10.0 + offset] * n,
        wall_seconds=[0.1 * s for s in steps],
        eval_steps=[10 * (i + 1) for i in range(evals)],
        eval_wall_seconds=[1.0 * (i + 1) for i in range(evals)],
        exact_match=[0.1 * (i + 1) for i in range(evals)],
        char_accuracy=[0.2 * (i + 1) for i in range(evals)],
    )


@pytest.fixture
def race() -> dict[str, HistoryView]:
    return {"plain": history(0.5), "attention": history(0.0)}


def traces(figure: go.Figure) -> dict[str, go.Scatter]:
    return {trace.name: trace for trace in figure.data}


def test_every_model_kind_has_its_own_fixed_colour():
    assert set(MODEL_COLORS) == {"plain", "attention", "transformer"}
    assert len(set(MODEL_COLORS.values())) == 3
    assert model_color("attention") == MODEL_COLORS["attention"]
    assert model_color("something else") == FALLBACK_COLOR


def test_loss_figure_draws_smoothed_and_faint_raw_loss_per_model(race):
    figure = loss_figure(race)
    by_name = traces(figure)
    assert list(by_name) == ["plain raw", "plain", "attention raw", "attention"]
    for kind, run in race.items():
        smooth, raw = by_name[kind], by_name[f"{kind} raw"]
        assert list(smooth.x) == run.steps and list(smooth.y) == pytest.approx(run.smoothed_loss)
        assert list(raw.y) == pytest.approx(run.loss)
        assert smooth.line.color == raw.line.color == MODEL_COLORS[kind]
        assert raw.opacity < 0.5 and raw.showlegend is False
        assert smooth.legendgroup == raw.legendgroup == kind
    assert figure.layout.yaxis.type == "log"
    assert not figure.layout.annotations


def test_accuracy_figure_shows_exact_and_character_accuracy(race):
    figure = accuracy_figure(race)
    by_name = traces(figure)
    assert set(by_name) == {"plain exact match", "plain characters",
                            "attention exact match", "attention characters"}
    exact, chars = by_name["attention exact match"], by_name["attention characters"]
    assert list(exact.x) == [10, 20] and list(exact.y) == pytest.approx([0.1, 0.2])
    assert list(chars.y) == pytest.approx([0.2, 0.4])
    assert chars.line.dash == "dot" and exact.line.dash is None
    assert chars.showlegend is not False and chars.legendgroup == exact.legendgroup == "attention"
    assert exact.line.color == MODEL_COLORS["attention"]
    assert tuple(figure.layout.yaxis.range) == (0, 1.02)
    assert figure.layout.yaxis.tickformat == ".0%"


def test_speed_figure_has_one_line_per_model(race):
    figure = speed_figure(race)
    by_name = traces(figure)
    assert set(by_name) == {"plain", "attention"}
    assert list(by_name["plain"].y) == [10.5] * 5
    assert by_name["plain"].line.color == MODEL_COLORS["plain"]
    assert figure.layout.yaxis.rangemode == "tozero"


def test_a_single_model_gets_only_its_own_traces():
    figure = accuracy_figure({"plain": history()})
    assert {t.name for t in figure.data} == {"plain exact match", "plain characters"}


@pytest.mark.parametrize("make", [loss_figure, accuracy_figure, speed_figure])
def test_empty_charts_say_so(make):
    empty = {"plain": history(n=0, evals=0)}
    figure = make(empty)
    assert len(figure.layout.annotations) == 1
    assert "yet" in figure.layout.annotations[0].text
    assert all(len(t.x) == 0 for t in figure.data)


@pytest.mark.parametrize("make", [loss_figure, accuracy_figure, speed_figure])
def test_the_run_length_fixes_the_x_axis(make, race):
    assert tuple(make(race, total_steps=1500).layout.xaxis.range) == (0, 1500)
    assert make(race).layout.xaxis.range is None


def test_a_long_downsampled_history_makes_a_small_figure():
    n = 20_000
    full = history(n=n)
    capped = HistoryView(
        steps=downsample(full.steps), loss=downsample(full.loss),
        smoothed_loss=downsample(full.smoothed_loss),
        steps_per_second=downsample(full.steps_per_second),
        wall_seconds=downsample(full.wall_seconds), eval_steps=full.eval_steps,
        eval_wall_seconds=full.eval_wall_seconds, exact_match=full.exact_match,
        char_accuracy=full.char_accuracy,
    )
    runs = {"plain": capped, "attention": capped}
    figure = loss_figure(runs, n)
    assert all(len(t.x) == CHART_POINTS for t in figure.data)
    assert len(figure.to_json()) < 120_000
    assert len(loss_figure({"plain": full, "attention": full}, n).to_json()) > 500_000


def test_every_accuracy_line_is_named_in_the_legend(race):
    figure = accuracy_figure(race)
    assert all(trace.showlegend is not False for trace in figure.data)
    assert len({trace.name for trace in figure.data}) == 4


@pytest.mark.parametrize(("low", "high"), [
    (0.6, 1.0), (3.3, 3.4), (3.31, 3.39), (0.59, 1.02), (0.01, 3.3), (0.0005, 3.4), (2.0, 2.0),
    (0.0123, 0.0125), (1e-4, 40.0)])
def test_a_log_axis_gets_a_few_distinct_labels_inside_its_range(low, high):
    values, labels = log_ticks(low, high)
    assert 2 <= len(values) <= MAX_LOG_TICKS
    assert len(set(labels)) == len(labels)  # never "3.3 3.3 3.3 3.4"
    assert values == sorted(values)
    assert all(low * 0.95 <= v <= high * 1.05 for v in values)
    assert [float(label) for label in labels] == pytest.approx(values)


def test_the_loss_axis_labels_a_narrow_range_readably():
    flat = HistoryView(steps=[1, 2, 3], loss=[3.31, 3.36, 3.39], smoothed_loss=[3.31, 3.33, 3.35],
                       steps_per_second=[1.0] * 3, wall_seconds=[0.1, 0.2, 0.3], eval_steps=[],
                       eval_wall_seconds=[], exact_match=[], char_accuracy=[])
    axis = loss_figure({"plain": flat}).layout.yaxis
    assert axis.type == "log" and axis.tickmode == "array"
    assert 2 <= len(axis.ticktext) <= MAX_LOG_TICKS
    assert len(set(axis.ticktext)) == len(axis.ticktext)

"""A Transformer's heads: the weights every view draws, one head's arithmetic recomputed by
hand, and the figures built from them."""

import math

import pytest
import torch

from seqrev.charts.heads import (
    changed_letters_html,
    head_grid_figure,
    head_heatmap_figure,
    head_override_figure,
    head_step_figure,
)
from seqrev.decoding.search import AttentionOverride, OverrideError, greedy_trace
from seqrev.inspection.analysis import source_labels, step_labels
from seqrev.inspection.head_what_if import BREAK, REPAIR, check_pick, default_pick, head_what_if
from seqrev.inspection.heads import head_step, head_weights
from seqrev.models.seq2seq import ModelConfig, build_model

TEXT = "ABCDEFG"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    return build_model(ModelConfig(kind="transformer", d_model=16, n_heads=4, n_layers=2,
                                   ff_dim=32)).eval()


def test_every_weight_sums_to_one_and_matches_what_decoding_used(model):
    trace = greedy_trace(model, TEXT, max_steps=6)
    weights = head_weights(model, trace)
    steps = len(trace.steps)
    assert weights.cross.shape == (2, 4, steps, len(TEXT))
    assert weights.encoder.shape == (2, 4, len(TEXT), len(TEXT))
    assert weights.decoder.shape == (2, 4, steps, steps)
    for part in (weights.cross, weights.encoder, weights.decoder):
        assert torch.allclose(part.sum(dim=-1), torch.ones(part.shape[:-1]), atol=1e-5)
    used = torch.stack([step.heads for step in trace.steps], dim=2)  # (layers, heads, T, S)
    assert torch.allclose(weights.cross, used, atol=1e-5)
    assert torch.equal(weights.decoder.triu(1), torch.zeros_like(weights.decoder))  # causal


@pytest.mark.parametrize(("step", "layer", "head"), [(0, 0, 0), (3, 1, 2), (5, 1, 3)])
def test_one_heads_step_recomputes_by_hand(model, step, layer, head):
    trace = greedy_trace(model, TEXT, max_steps=6)
    numbers = head_step(model, trace, step, layer, head)
    assert torch.allclose(numbers.weights, trace.steps[step].heads[layer, head], atol=1e-5)
    winner = numbers.winner
    by_hand = sum(q * k for q, k in zip(numbers.query.tolist(), numbers.keys[winner].tolist(),
                                        strict=True)) / math.sqrt(model.config.d_head)
    assert by_hand == pytest.approx(float(numbers.scores[winner]), abs=1e-5)
    assert numbers.scale == pytest.approx(1 / math.sqrt(4))
    total = sum(math.exp(s) for s in numbers.scores.tolist())
    assert math.exp(float(numbers.scores[winner])) / total == pytest.approx(
        float(numbers.weights[winner]), abs=1e-5)
    assert torch.allclose(numbers.context, numbers.weights @ numbers.values, atol=1e-6)


def test_a_step_or_head_out_of_range_is_refused(model):
    trace = greedy_trace(model, TEXT, max_steps=3)
    with pytest.raises(ValueError, match="head 4 is out of range 0-3"):
        head_step(model, trace, 0, 0, 4)
    with pytest.raises(ValueError, match="step 3 is out of range 0-2"):
        head_step(model, trace, 3, 0, 0)


def test_a_forced_head_shows_in_the_grid(model):
    trace = greedy_trace(model, TEXT, overrides=[AttentionOverride(0, 2, 1.0, layer=1, head=1)])
    assert float(trace.steps[0].heads[1, 1, 2]) == pytest.approx(1.0)


def test_the_figures_draw_one_heatmap_per_head_and_frame_the_chosen_one(model):
    trace = greedy_trace(model, TEXT, max_steps=5)
    weights = head_weights(model, trace)
    rows, columns = step_labels(trace), source_labels(TEXT)
    grid = head_grid_figure(weights.cross, rows, columns, chosen=(1, 2))
    assert sum(t.type == "heatmap" for t in grid.data) == 8
    assert grid.layout.shapes[0].xref == "x7 domain"
    one = head_heatmap_figure(weights.cross[1, 2], rows, columns, "t", "rows", "columns")
    assert one.data[0].z == tuple(tuple(row) for row in weights.cross[1, 2].tolist()) or \
        list(map(list, one.data[0].z)) == weights.cross[1, 2].tolist()
    bars = head_step_figure(head_step(model, trace, 1, 1, 2), columns)
    assert [len(t.y) for t in bars.data] == [len(TEXT)] * 3
    with pytest.raises(ValueError):
        head_grid_figure(weights.cross, rows[:-1], columns)


def test_the_grids_second_row_of_titles_sits_in_the_gap_above_it(model):
    """Each head's title is drawn just above its heatmap: the gap between two layers' rows
    must hold a line of title, or layer 1's titles cover layer 0's heatmaps (seen in zh)."""
    trace = greedy_trace(model, TEXT, max_steps=5)
    grid = head_grid_figure(head_weights(model, trace).cross, step_labels(trace),
                            source_labels(TEXT))
    layout = grid.layout
    plot_px = layout.height - layout.margin.t - layout.margin.b
    upper_bottom, lower_top = layout.yaxis.domain[0], layout.yaxis5.domain[1]
    assert (upper_bottom - lower_top) * plot_px >= 30


def _aimed(step, position, blend, layer=1, head=2):
    return AttentionOverride(step, position, blend, layer=layer, head=head)


def test_a_head_what_if_at_blend_0_is_the_models_own_decode_exactly(model):
    trace = greedy_trace(model, TEXT)
    result = head_what_if(model, trace, _aimed(2, 5, 0.0))
    assert result.forced.output == trace.output
    assert result.forced.log_prob == trace.log_prob
    for own, forced in zip(trace.steps, result.forced.steps, strict=True):
        assert torch.equal(own.probabilities, forced.probabilities)
        assert torch.equal(own.heads, forced.heads)
    assert torch.equal(result.used_row, result.own_row)


def test_a_head_what_if_at_blend_1_reads_only_the_forced_letter_and_no_other_head_moves(model):
    trace = greedy_trace(model, TEXT)
    result = head_what_if(model, trace, _aimed(2, 5, 1.0))
    used = result.forced.steps[2].heads  # (layers, heads, S)
    assert torch.equal(used[1, 2], torch.nn.functional.one_hot(torch.tensor(5), len(TEXT))
                       .to(used.dtype))
    assert torch.equal(result.own_row, trace.steps[2].heads[1, 2])
    others = torch.ones(2, 4, dtype=torch.bool)
    others[1, 2] = False
    assert torch.equal(used[others], trace.steps[2].heads[others])  # the step's other heads
    assert result.n_heads == 8 and result.others.shape == (7, len(TEXT))
    half = head_what_if(model, trace, _aimed(2, 5, 0.5)).used_row
    assert torch.allclose(half, 0.5 * result.own_row + 0.5 * used[1, 2], atol=1e-6)


def test_the_default_pick_repairs_the_first_wrong_step_or_breaks_a_right_one(model):
    trace = greedy_trace(model, TEXT)
    pick = default_pick(trace)
    wrong = next((t for t, letter in enumerate(trace.expected)
                  if t >= len(trace.output) or trace.output[t] != letter), None)
    if wrong is not None and wrong < len(trace.steps):
        assert (pick.step, pick.position, pick.kind) == (wrong, len(TEXT) - 1 - wrong, REPAIR)
    right = greedy_trace(model, TEXT, prefix=trace.expected)  # a run that writes the answer
    broken = default_pick(right)
    assert (broken.step, broken.kind) == (3, BREAK)
    assert TEXT[broken.position] != right.expected[3]
    assert abs(broken.position - (len(TEXT) - 1 - 3)) == 3  # as far from the outline as can be


@pytest.mark.parametrize(("override", "named"), [
    (_aimed(99, 0, 1.0), "step 99 is out of range"),
    (_aimed(0, 7, 1.0), "position 7 is out of range"),
    (_aimed(0, 0, 1.5), "blend 1.5 is outside"),
    (_aimed(0, 0, 1.0, layer=2), "layer 2 is out of range 0-1"),
    (_aimed(0, 0, 1.0, head=4), "head 4 is out of range 0-3"),
])
def test_a_head_what_if_that_cannot_apply_names_its_bad_value(model, override, named):
    trace = greedy_trace(model, TEXT, max_steps=4)
    with pytest.raises(OverrideError, match=named):
        check_pick(model, trace, override)


def test_the_what_if_figures_mark_the_forced_letter_and_the_changed_letters(model):
    trace = greedy_trace(model, TEXT)
    result = head_what_if(model, trace, _aimed(2, 5, 1.0))
    figure = head_override_figure(result.own_row, result.used_row, source_labels(TEXT), 5)
    assert [list(bar.y) for bar in figure.data] == [result.own_row.tolist(),
                                                    result.used_row.tolist()]
    assert figure.layout.shapes[0].x0 == 4.5
    marked = changed_letters_html("ABCD", "ABXD", "own", "forced")
    assert 'data-changed="1"' in marked.split(">", 1)[0]
    assert marked.count('data-changed="1"') == 3  # the X, the C above it, and the wrapper
    with pytest.raises(ValueError):
        head_override_figure(result.own_row, result.used_row, source_labels(TEXT)[:-1], 5)

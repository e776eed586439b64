"""The attention step's pictures and the state-map pictures: they draw the data they are given."""

import pytest
import torch

from seqrev.charts.mechanism import contributions_figure, scores_figure, vectors_figure
from seqrev.charts.projection import reference_figure, state_paths_figure
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.inspection.mechanism import step_mechanism
from seqrev.inspection.projection import fit_state_map, trace_path
from seqrev.models.seq2seq import ModelConfig, build_model


def model_of(kind, seed=0, score="bilinear"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16,
                                   score=score)).eval()


@pytest.fixture(scope="module")
def mechanism():
    model = model_of("attention", 1)
    trace = greedy_trace(model, "HELLOWORLD", overrides=[AttentionOverride(2, 0, 0.5)])
    return step_mechanism(model, trace, 2, top_k=4)


def test_vectors_figure_draws_q_keys_and_context(mechanism):
    figure = vectors_figure(mechanism, title="t")
    query, keys, context, marks = figure.data
    assert list(query.z[0]) == pytest.approx(mechanism.query.tolist())
    assert torch.allclose(torch.tensor([list(row) for row in keys.z]), mechanism.keys)
    assert list(keys.y) == [f"{i}: {c}" for i, c in enumerate("HELLOWORLD")]
    assert list(context.z[0]) == pytest.approx(mechanism.context.tolist())
    assert list(marks.x) == [d.dim for d in mechanism.top_dims]
    frame = figure.layout.shapes[0]
    assert (frame.y0 + 0.5) == mechanism.winner


def test_scores_figure_has_scores_own_and_used_weights(mechanism):
    figure = scores_figure(mechanism)
    scores, own, used = figure.data
    assert list(scores.y) == pytest.approx(mechanism.scores.tolist())
    assert list(own.y) == pytest.approx(mechanism.weights.tolist())
    assert list(used.y) == pytest.approx(mechanism.used.tolist())
    edges = list(own.marker.line.color)
    assert edges[mechanism.correct_position] != "rgba(0,0,0,0)"
    assert sum(edge != "rgba(0,0,0,0)" for edge in edges) == 1


def test_unforced_step_has_no_used_bars():
    model = model_of("attention", 2)
    figure = scores_figure(step_mechanism(model, greedy_trace(model, "ABC"), 0))
    assert len(figure.data) == 2


@pytest.mark.parametrize("score", ["bilinear", "additive"])
def test_contributions_figure_lists_the_top_terms(score):
    model = model_of("attention", 3, score)
    mechanism = step_mechanism(model, greedy_trace(model, "QWERTY"), 1, top_k=3)
    bars = contributions_figure(mechanism).data[0]
    assert list(bars.x) == pytest.approx([d.term for d in mechanism.top_dims])
    assert list(bars.y) == [f"d{d.dim}" for d in mechanism.top_dims]


def test_state_figures_draw_the_map_and_the_paths():
    models = {"plain": model_of("plain", 4), "attention": model_of("attention", 5)}
    maps = {kind: fit_state_map(model, n=20, seed=1) for kind, model in models.items()}
    paths = {kind: trace_path(maps[kind], greedy_trace(models[kind], "HELLO"))
             for kind in models}
    figure = state_paths_figure(maps, paths, title="paths")
    lines = [t for t in figure.data if t.mode == "lines+markers+text"]
    assert [t.name for t in lines] == ["plain encoder", "plain decoder", "attention encoder",
                                       "attention decoder"]
    assert list(lines[2].x) == pytest.approx(paths["attention"].encoder_xy[:, 0].tolist(),
                                             abs=1e-3)  # rounded for the browser
    assert list(lines[1].text) == paths["plain"].decoder_labels
    cloud = reference_figure(maps, "left")
    assert len(cloud.data) == 4
    assert list(cloud.data[1].marker.color) == maps["plain"].reference.decoder_left.tolist()
    with pytest.raises(ValueError):
        reference_figure(maps, "colour")

"""The Decode page's pictures match the traces they are drawn from."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqrev.charts.decoding import (
    attention_row_svg,
    beam_tree_figure,
    expected_token,
    letter_marks,
    marked_output_html,
    step_table,
    top_tokens,
    topk_svg,
)
from seqrev.charts.svg import BOTTOM, HEIGHT, TOP
from seqrev.decoding.search import DecodeStep, beam_search, greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.vocab import EOS, SOS, VOCAB_SIZE, encode, token_label

LETTERS = st.text(alphabet="ABCDE", max_size=12)


@pytest.fixture(scope="module")
def models():
    """Tiny untrained models: their outputs are wrong in every way a picture must handle."""
    torch.manual_seed(1)
    return {kind: build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=12))
            for kind in ("plain", "attention")}


def marks_in(markup: str) -> list[str]:
    return re.findall(r'data-mark="(\w+)"', markup)


def step_with(probabilities: list[float], chosen: int, attention=None) -> DecodeStep:
    probs = torch.zeros(VOCAB_SIZE)
    probs[: len(probabilities)] = torch.tensor(probabilities)
    return DecodeStep(0, SOS, probs, chosen, attention, torch.zeros(4))


# marked output -------------------------------------------------------------------------------

def test_marked_output_counts_wrong_missing_and_extra():
    assert marks_in(marked_output_html("ABXD", "ABCD")) == ["right", "right", "wrong", "right"]
    assert marks_in(marked_output_html("AB", "ABCD")) == ["right", "right", "missing", "missing"]
    assert marks_in(marked_output_html("ABCDEF", "ABCD")).count("extra") == 2
    assert 'data-wrong="0"' in marked_output_html("OLLEH", "OLLEH")
    assert 'data-wrong="3"' in marked_output_html("ZZ", "ABC")


def test_marked_output_titles_name_both_letters():
    markup = marked_output_html("ABK", "ABL")
    assert 'title="position 2: produced K, expected L"' in markup
    assert 'title="position 1: nothing produced, expected B"' in marked_output_html("A", "AB")
    assert "produced C, expected the end" in marked_output_html("ABC", "AB")
    assert "(empty output)" in marked_output_html("", "")


@given(LETTERS, LETTERS)
def test_marked_output_property(produced, expected):
    marks = marks_in(marked_output_html(produced, expected))
    assert len(marks) == max(len(produced), len(expected))
    same = sum(a == b for a, b in zip(produced, expected, strict=False))
    assert marks.count("right") == same
    assert marks.count("wrong") == min(len(produced), len(expected)) - same
    assert marks.count("missing") == max(0, len(expected) - len(produced))
    assert marks.count("extra") == max(0, len(produced) - len(expected))
    assert [m for _, m, _, _ in letter_marks(produced, expected)] == marks


# top-k bars ------------------------------------------------------------------------------------

def test_expected_token_is_letter_then_eos_then_none():
    assert expected_token("CBA", 0) == encode("C")[0]
    assert expected_token("CBA", 3) == EOS
    assert expected_token("CBA", 4) is None


SVG = "{http://www.w3.org/2000/svg}"


def svg_bars(svg: str) -> tuple[str, list[dict]]:
    """The chart's title and its bars (label, value from the bar's height, fill, outline,
    hover text), read back from the SVG as a browser would."""
    root = ET.fromstring(svg)
    plot_height = HEIGHT - TOP - BOTTOM
    bars = []
    for group in root.iter(f"{SVG}g"):
        rect = group.find(f"{SVG}rect")
        bars.append({"label": group.get("data-label"), "fill": rect.get("fill"),
                     "value": float(rect.get("height")) / plot_height * 1.12,
                     "outline": rect.get("stroke"), "hover": group.find(f"{SVG}title").text})
    return root.find(f"{SVG}title").text, bars


def test_topk_bars_match_the_step(models):
    trace = greedy_trace(models["attention"], "ABCDEFG")
    for step in trace.steps:
        expected = expected_token(trace.expected, step.position)
        _title, bars = svg_bars(topk_svg(step, expected, k=5))
        heights = [bar["value"] for bar in bars]
        labels = [bar["label"] for bar in bars]
        assert heights == sorted(heights, reverse=True)
        assert sum(heights) <= 1 + 1e-3
        assert token_label(step.chosen_token) in labels
        if expected is not None:
            assert token_label(expected) in labels
        for bar in bars:
            token = [t for t in range(VOCAB_SIZE) if token_label(t) == bar["label"]][0]
            probability = float(step.probabilities[token])
            assert bar["value"] == pytest.approx(probability, abs=1e-3)
            assert f"p = {probability:.4f}" in bar["hover"]


def test_topk_adds_chosen_and_expected_outside_the_top_k():
    step = step_with([0.0, 0.0, 0.0, 0.5, 0.3, 0.15, 0.05], chosen=5)
    title, bars = svg_bars(topk_svg(step, expected=6, k=2))
    assert [bar["label"] for bar in bars] == ["A", "B", "C", "D"]
    assert bars[2]["fill"] == "#cf222e" and "chosen" in bars[2]["hover"]  # C, D was expected
    assert bars[3]["outline"] == "#1a7f37" and "expected" in bars[3]["hover"]
    assert [bar["outline"] for bar in bars[:3]] == [None, None, None]
    assert "expected D" in title
    assert top_tokens(step.probabilities, 1) == [(3, pytest.approx(0.5))]


def test_chart_text_is_escaped():
    step = step_with([0.0, 0.0, 0.0, 0.5, 0.3, 0.15, 0.05], chosen=2)  # chose <eos>
    svg = topk_svg(step, expected=None, k=2)
    ET.fromstring(svg)  # well-formed despite "<eos>" in a title and a label
    assert "&lt;eos&gt;" in svg and "<eos>" not in svg


# attention row ---------------------------------------------------------------------------------

def test_attention_row_is_the_steps_weights(models):
    trace = greedy_trace(models["attention"], "AAB", max_steps=3)
    for step in trace.steps:
        _title, bars = svg_bars(attention_row_svg(step, trace.source,
                                                  trace.outline_at(step.position)))
        assert [bar["value"] for bar in bars] == pytest.approx(step.attention.tolist(), abs=1e-3)
        assert [bar["label"] for bar in bars] == ["A", "A", "B"]
        outlined = [i for i, bar in enumerate(bars) if bar["outline"]]
        assert outlined == [2 - step.position]


def test_attention_row_refuses_a_plain_step(models):
    step = greedy_trace(models["plain"], "AB").steps[0]
    with pytest.raises(ValueError, match="no attention"):
        attention_row_svg(step, "AB")


# step table --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_step_table_follows_the_trace(models, kind):
    trace = greedy_trace(models[kind], "HELLO")
    table = step_table(trace, k=3)
    assert list(table["position"]) == list(range(len(trace.steps)))
    assert list(table["chosen"]) == [token_label(s.chosen_token) for s in trace.steps]
    assert list(table["fed"])[0] == "<sos>"
    assert list(table["fed"])[1:] == list(table["chosen"])[:-1]
    assert list(table["expected"])[:5] == list("OLLEH")
    rights = [s.chosen_token == expected_token("OLLEH", s.position) for s in trace.steps]
    assert list(table["right?"]) == rights
    assert all(cell.count("·") == 2 for cell in table["top 3"])
    if kind == "plain":
        assert "attends to" not in table.columns
    else:
        for step, letter, weight in zip(trace.steps, table["attends to"],
                                        table["attention weight"], strict=True):
            peak = int(step.attention.argmax())
            assert letter == f"{'HELLO'[peak]} (input {peak})"
            assert weight == pytest.approx(float(step.attention.max()), abs=1e-4)


# beam tree ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "width"), [("plain", 3), ("attention", 5), ("attention", 1)])
def test_beam_tree_draws_every_candidate_and_the_path(models, kind, width):
    trace = beam_search(models[kind], "ABCDEF", width)
    assert len(trace.beam_steps) >= 2
    figure = beam_tree_figure(trace, current_step=1)
    traces = {t.name: t for t in figure.data}
    candidates = traces["candidates"]
    total = sum(len(step) for step in trace.beam_steps)
    assert len(candidates.x) == total
    assert len([v for v in traces["kept candidates"].x if v is not None]) == 2 * total
    path = traces["chosen path"]
    assert len(path.x) == len(trace.best_path)
    assert list(path.y) == trace.best_path
    path_tokens = [trace.beam_steps[t][i].token for t, i in enumerate(trace.best_path)]
    assert [s.chosen_token for s in trace.steps] == path_tokens
    finished = [c.finished for step in trace.beam_steps for c in step]
    assert [s == "square" for s in candidates.marker.symbol] == finished
    assert sum(text == "eos" for text in candidates.text) == sum(finished)
    assert len(figure.layout.shapes) == 1


def test_beam_tree_hover_gives_cumulative_log_prob(models):
    trace = beam_search(models["attention"], "XYZ", 2)
    hover = next(t for t in beam_tree_figure(trace).data if t.name == "candidates").hovertext
    first = trace.beam_steps[0][0]
    assert f"{first.log_prob:.3f}" in hover[0]
    with pytest.raises(ValueError, match="no beam"):
        beam_tree_figure(greedy_trace(models["plain"], "XYZ"))



def test_beam_tree_names_its_model_and_puts_the_legend_above_the_plot(models):
    trace = beam_search(models["plain"], "ABCDEF", 3)
    figure = beam_tree_figure(trace, model_name="Plain model (plain)")
    assert figure.layout.title.text.startswith("Plain model (plain): beam search, width 3")
    legend, margin = figure.layout.legend, figure.layout.margin
    # above the plot area (y >= 1, anchored at its bottom), so never over the x-axis title
    assert legend.y >= 1 and legend.yanchor == "bottom"
    assert figure.layout.title.yref == "container" and margin.t >= 80
    assert beam_tree_figure(trace).layout.title.text.startswith("Beam search, width 3")

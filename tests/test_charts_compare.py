"""Comparison of two decoded inputs: differing steps, table, HTML and figure."""

import json

import torch

from seqrev.charts.compare import (
    aligned_html,
    comparison_figure,
    comparison_html,
    comparison_table,
    differing_positions,
    differing_steps,
)
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model


def model_of(kind, seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16)).eval()


def test_differing_steps_and_positions():
    model = model_of("attention")
    first, second = greedy_trace(model, "ABCDE"), greedy_trace(model, "ABCDE")
    assert differing_steps(first, second) == []
    short = greedy_trace(model, "ABCDE", max_steps=2)
    assert differing_steps(first, short) == list(range(2, len(first.steps)))
    assert differing_positions("ABCDE", "ABXDEF") == [2, 5]


def test_table_html_and_figure_agree():
    model = model_of("attention", 1)
    first, second = greedy_trace(model, "QWERTY"), greedy_trace(model, "QWERTA")
    differ = differing_steps(first, second)
    table = comparison_table(first, second)
    assert table.loc[table["differs"], "step"].tolist() == differ
    assert list(table.columns) == ["step", "differs", "first wrote", "first p", "first reads",
                                   "second wrote", "second p", "second reads"]
    assert comparison_html(first, second).count("2px solid") == 2 * len(differ)
    spec = json.loads(comparison_figure(first, second).to_json())
    assert [s["x0"] + 0.5 for s in spec["layout"].get("shapes", [])] == differ
    assert spec["data"][0]["name"] == "first: QWERTY"
    plain = model_of("plain")
    plain_table = comparison_table(greedy_trace(plain, "AB"), greedy_trace(plain, "ABC"))
    assert "first reads" not in plain_table.columns


def test_aligned_html_frames_one_gap_for_one_dropped_letter():
    page = aligned_html("DLROWOLLEH", "DLROWLLEH", ("plain", "attention"))
    assert page.count("<td") == 2 * 10
    assert page.count('data-status="only first"') == 2 and page.count("2px solid") == 2
    assert "attention: no letter here (only first)" in page
    assert "<script>" not in aligned_html("A", "B", ("<script>", "x"))

"""The lab report: lab lines from the model itself, the settings, offline plotly, escaped text."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch

import seqrev.checkpoints.store as checkpoints
from seqrev.cli.main import main
from seqrev.decoding.search import decode_text
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.runs.store import RunStore
from seqrev.teaching.report import ReportInput, build_report, from_run, sample_lengths, sample_lines
from seqrev.training.trainer import TrainConfig

LAB_LINE = re.compile(r"^Input: \['([A-Z]+)'\], Should get: ([A-Z]+), Model generate: ([A-Z]*) "
                      r"\| The result is (True|False)$", re.MULTILINE)


def tiny(kind: str = "plain") -> ReportInput:
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16)
    return ReportInput(title="run r1", model=build_model(config).eval(), model_config=config,
                       train_config=TrainConfig(min_len=1, max_len=4), history=None,
                       by_length=None)


def test_the_cli_writes_a_report_of_a_shipped_checkpoint_that_opens_offline(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "--out", str(out),
                 "--seed", "7"]) == 0
    document = out.read_text(encoding="utf-8")
    lines = LAB_LINE.findall(document)
    assert len(lines) == 10
    model = checkpoints.load_checkpoint(checkpoints.SHIPPED_ATTENTION).model
    for source, expected, produced, verdict in lines:
        assert len(source) == 10 and expected == source[::-1]
        assert produced == decode_text(model, source).output  # the model's own answer
        assert verdict == str(produced == expected)
    assert "Hidden size (GRU)</th><td>100<" in document  # the settings
    assert "--max-len 16" in document  # and the command that trains it again
    assert "Exact match by length" in document and "attention heatmap" in document
    assert document.count("Plotly.newPlot") == 4  # loss, accuracy, by length, heatmap
    assert not re.search(r"<script[^>]*\bsrc=", document)  # plotly.js is inside
    assert not re.search(r"<link[^>]*href=['\"]?https?:", document)
    assert len(document) > 3_000_000


def test_a_missing_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["report", "--checkpoint", "nope", "--out", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def test_user_text_is_escaped():
    material = tiny()
    hostile = replace(material, title="checkpoint <script>alert(1)</script> & <b>")
    document = build_report(hostile, seed=1)
    assert "<script>alert(1)</script>" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in document
    assert "Plotly" not in document  # nothing to draw: no curves, no table, a plain model


def test_samples_use_the_labs_length_when_trained_on_it_else_the_training_range():
    assert sample_lengths(TrainConfig(min_len=1, max_len=16)) == (10, 10)
    assert sample_lengths(TrainConfig(min_len=12, max_len=20)) == (12, 20)
    lines = sample_lines(tiny().model, (1, 4), seed=3)
    assert len(lines) == 10
    assert all(1 <= len(LAB_LINE.match(line).group(1)) <= 4 for line in lines)
    assert sample_lines(tiny().model, (1, 4), seed=3) == lines  # the seed fixes the strings


def test_a_runs_report_measures_every_length_up_to_twice_its_longest(tmp_path):
    material = tiny("attention")
    run = RunStore(tmp_path / "runs").create_run(material.model_config, material.train_config)
    document = build_report(from_run(run, material.model, None, seed=5), seed=5)
    table = document[document.index("<th>length</th>"):]
    assert [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table)] == list(range(1, 9))
    assert f"run {run.id}" in document
    assert document.count("Plotly.newPlot") == 2  # by length and the heatmap
    assert document.count("plotly.js v") >= 1 and not re.search(r"<script[^>]*\bsrc=", document)


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_every_report_names_the_training_lengths(kind):
    document = build_report(tiny(kind), seed=2)
    assert "trained on strings of 1 to 4 letters" in document
    assert len(LAB_LINE.findall(document)) == 10

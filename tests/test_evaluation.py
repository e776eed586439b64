"""Metrics on hand-made outputs, where the right answer is known."""

import pytest
import torch

from seqrev.decoding.evaluation import evaluate_fresh, greedy_batch, score_outputs
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.data import batch_from_strings
from seqrev.tasks.vocab import EOS, PAD, encode


def outputs_for(texts):
    width = max(len(t) for t in texts) + 1
    rows = []
    for text in texts:
        ids = [*encode(text), EOS]
        rows.append(ids + [PAD] * (width - len(ids)))
    return torch.tensor(rows)


def test_scores_on_known_outputs():
    batch = batch_from_strings(["ABCD", "ABCD", "XY"])
    produced = outputs_for(["DCBA", "DCXA", "YX"])
    report = score_outputs(batch, produced)
    assert report.exact_match == pytest.approx(2 / 3)
    assert report.char_accuracy == pytest.approx(9 / 10)
    assert report.fine_accuracy == pytest.approx((1 + 0.5 + 1) / 3)  # DC right before X
    assert report.per_position == [1.0, 1.0, 0.5, 1.0]
    assert report.by_length[4]["exact_match"] == 0.5 and report.by_length[2]["n"] == 1
    assert report.failures == [{"input": "ABCD", "expected": "DCBA", "produced": "DCXA"}]


def test_missing_eos_or_extra_letters_are_not_exact():
    batch = batch_from_strings(["ABC", "ABC"])
    produced = torch.tensor([[*encode("CBA"), encode("A")[0]], [*encode("CB"), EOS, PAD]])
    report = score_outputs(batch, produced)
    assert report.exact_match == 0.0
    assert report.char_accuracy == pytest.approx(5 / 6)


def test_greedy_batch_matches_per_string_decoding():
    from seqrev.decoding.search import greedy_trace

    torch.manual_seed(0)
    model = build_model(ModelConfig(embedding_dim=8, hidden_dim=16)).eval()
    texts = ["ABCDE", "Q", "MNOPQRS"]
    outputs = greedy_batch(model, batch_from_strings(texts), max_steps=20)
    from seqrev.tasks.vocab import decode

    for row, text in enumerate(texts):
        assert decode(outputs[row]) == greedy_trace(model, text, max_steps=20).output


def test_evaluate_fresh_is_repeatable():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16))
    first = evaluate_fresh(model, 200, 3, 6, seed=4)
    assert first.to_dict() == evaluate_fresh(model, 200, 3, 6, seed=4).to_dict()
    assert set(first.by_length) <= {3, 4, 5, 6} and first.n == 200

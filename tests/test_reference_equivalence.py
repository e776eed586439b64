"""seqrev's models compute the lab's function: same weights, same logits (within 1e-5)."""

import random

import pytest
import torch

from bench.reference import (
    lab_greedy,
    lab_logits_columns,
    lab_model,
    lab_weights_to_seqrev,
    random_string_batch,
)
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.data import batch_from_strings


def lab_and_ours(kind, seed=0):
    torch.manual_seed(seed)
    lab = lab_model(kind).eval()
    ours = build_model(ModelConfig(kind=kind, embedding_dim=64, hidden_dim=100)).eval()
    ours.load_state_dict(lab_weights_to_seqrev(lab))
    return lab, ours


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_logits_agree_at_lab_settings(kind):
    lab, ours = lab_and_ours(kind)
    texts, encoder_x, decoder_x, _ = random_string_batch(rng=random.Random(1))
    batch = batch_from_strings(texts)
    with torch.no_grad():
        expected = lab(encoder_x, decoder_x).view(64, 10, -1)  # (batch, 10, 27)
        got = ours(batch.source, batch.lengths, batch.decoder_input)  # (batch, 11, 29)
    got = got[:, :10, lab_logits_columns()]  # drop our extra <eos> step and <pad>/<sos>
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_greedy_decoding_agrees(kind):
    lab, ours = lab_and_ours(kind, seed=3)
    for text in ["ZUPEIDWNVG", "JJDDNZGZZF", "EKWKBRYLDV"]:
        expected = lab_greedy(lab, text)
        got = greedy_trace(ours, text, max_steps=10).output  # stops at <eos>
        assert got == expected[: len(got)]
        if len(got) < len(expected):
            assert expected[len(got)] == "?"  # the lab emitted its <EOS> there too

"""Both models: shapes, masks, score functions, and one step function shared by all paths."""

import pytest
import torch

from seqrev.models.attention_scores import SCORE_FUNCTIONS
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.data import batch_from_strings
from seqrev.tasks.vocab import VOCAB_SIZE

TEXTS = ["ABCDEFGHIJ", "XYZ", "Q", "HELLOWORLDAB"]


def small(kind="attention", score="bilinear", seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=12, score=score)).eval()


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_forward_shapes(kind):
    batch = batch_from_strings(TEXTS)
    logits = small(kind)(batch.source, batch.lengths, batch.decoder_input)
    assert logits.shape == (len(TEXTS), 13, VOCAB_SIZE)


@pytest.mark.parametrize("score", SCORE_FUNCTIONS)
def test_attention_sums_to_one_and_is_zero_on_padding(score):
    model = small(score=score)
    batch = batch_from_strings(TEXTS)
    memory, hidden = model.encode(batch.source, batch.lengths)
    out = model.step(batch.decoder_input[:, 0], hidden, memory)
    assert out.attention.shape == (len(TEXTS), 12)
    torch.testing.assert_close(out.attention.sum(1), torch.ones(len(TEXTS)))
    assert (out.attention[~batch.source_mask] == 0).all()
    assert (out.attention[batch.source_mask] > 0).all()


@pytest.mark.parametrize("kind,score", [("plain", "bilinear")] + [
    ("attention", s) for s in SCORE_FUNCTIONS])
def test_padding_does_not_change_a_strings_logits(kind, score):
    model = small(kind, score)
    alone = batch_from_strings(["XYZ"])
    padded = batch_from_strings(TEXTS)  # "XYZ" is row 1, padded to 12
    with torch.no_grad():
        expected = model(alone.source, alone.lengths, alone.decoder_input)[0]  # (4, vocab)
        got = model(padded.source, padded.lengths, padded.decoder_input)[1, :4]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_step_function_reproduces_teacher_forced_forward(kind):
    model = small(kind)
    batch = batch_from_strings(TEXTS)
    with torch.no_grad():
        logits = model(batch.source, batch.lengths, batch.decoder_input)
        memory, hidden = model.encode(batch.source, batch.lengths)
        for t in range(batch.decoder_input.shape[1]):
            out = model.step(batch.decoder_input[:, t], hidden, memory)
            hidden = out.hidden
            torch.testing.assert_close(out.logits, logits[:, t], atol=1e-5, rtol=1e-5)


def test_score_functions_differ_and_match_their_formulas():
    model = small(score="bilinear")
    states = torch.randn(2, 5, 12)
    query = torch.randn(2, 12)
    keys = model.score.prepare(states)
    expected = torch.einsum("bsh,bh->bs", model.score.attention_w(states), query)
    torch.testing.assert_close(model.score.score(keys, query), expected)
    dot, scaled = small(score="dot").score, small(score="scaled_dot").score
    torch.testing.assert_close(dot.score(dot.prepare(states), query),
                               torch.einsum("bsh,bh->bs", states, query))
    torch.testing.assert_close(scaled.score(scaled.prepare(states), query),
                               torch.einsum("bsh,bh->bs", states, query) / 12 ** 0.5)
    additive = small(score="additive").score
    mixed = torch.tanh(additive.key_proj(states) + additive.query_proj(query)[:, None])
    torch.testing.assert_close(additive.score(additive.prepare(states), query),
                               additive.v(mixed).squeeze(2))


def test_teacher_forcing_below_one_feeds_predictions_back():
    model = small()
    batch = batch_from_strings(TEXTS)
    with torch.no_grad():
        forced = model(batch.source, batch.lengths, batch.decoder_input, teacher_forcing=1.0)
        free = model(batch.source, batch.lengths, batch.decoder_input, teacher_forcing=0.0)
    torch.testing.assert_close(free[:, 0], forced[:, 0])  # same first step
    assert not torch.allclose(free, forced)


def test_config_rejects_unknown_values():
    with pytest.raises(ValueError, match="kind"):
        ModelConfig(kind="lstm")
    with pytest.raises(ValueError, match="score"):
        ModelConfig(score="cosine")


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_training_encoder_matches_nn_gru_in_value_and_gradient(kind):
    torch.manual_seed(3)
    model = build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=12))
    batch = batch_from_strings(["ABCDE", "XY", "QWERTYU"])
    with torch.no_grad():
        reference_memory, reference_final = model.encode(batch.source, batch.lengths)
    memory, final = model.encode(batch.source, batch.lengths)  # grad on: the fused recurrence
    torch.testing.assert_close(memory.states, reference_memory.states)
    torch.testing.assert_close(final, reference_final)

    weights = torch.randn_like(memory.states)  # (batch, S, hidden)
    (memory.states * weights).sum().add(final.square().sum()).backward()
    fused_grads = {n: p.grad.clone() for n, p in model.encoder.named_parameters()}
    model.zero_grad()
    states, _ = model.encoder(model.embedding(batch.source))  # nn.GRU's own autograd
    last = (batch.lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[2])
    (states * weights).sum().add(states.gather(1, last).square().sum()).backward()
    for name, parameter in model.encoder.named_parameters():
        torch.testing.assert_close(fused_grads[name], parameter.grad, msg=name)

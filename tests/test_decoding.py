"""Greedy and beam decoding: trace contents, beam(1) == greedy, forced paths."""

import pytest
import torch

from seqrev.decoding.search import beam_search, default_max_steps, forced_trace, greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.vocab import EOS, SOS, VOCAB_SIZE, InputError, encode


def model_of(kind, seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16)).eval()


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_greedy_trace_contents(kind):
    model = model_of(kind)
    trace = greedy_trace(model, "hello")
    assert trace.source == "HELLO" and trace.expected == "OLLEH"
    assert trace.steps[0].fed_token == SOS
    for before, after in zip(trace.steps, trace.steps[1:], strict=False):
        assert after.fed_token == before.chosen_token
    for step in trace.steps:
        assert step.probabilities.shape == (VOCAB_SIZE,)
        assert abs(float(step.probabilities.sum()) - 1) < 1e-5
        assert step.chosen_token == int(step.probabilities.argmax())
        assert step.hidden.shape == (16,)
        if kind == "attention":
            assert step.attention.shape == (5,)
            assert abs(float(step.attention.sum()) - 1) < 1e-5
        else:
            assert step.attention is None
    assert len(trace.steps) <= default_max_steps(5)
    log_prob = sum(float(torch.log(s.probabilities[s.chosen_token])) for s in trace.steps)
    assert trace.log_prob == pytest.approx(log_prob, abs=1e-4)
    matrix = trace.attention_matrix()
    assert (matrix is None) == (kind == "plain")


@pytest.mark.parametrize("kind", ["plain", "attention"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_width_one_equals_greedy(kind, seed):
    model = model_of(kind, seed)
    for text in ["A", "ABCDEFGHIJ", "ZZZZYYYY"]:
        greedy, beam = greedy_trace(model, text), beam_search(model, text, width=1)
        assert beam.output == greedy.output
        assert [s.chosen_token for s in beam.steps] == [s.chosen_token for s in greedy.steps]
        assert beam.log_prob == pytest.approx(greedy.log_prob, abs=1e-4)


def test_beam_keeps_candidates_per_step_and_finds_at_least_greedy_score():
    model = model_of("attention", 3)
    greedy = greedy_trace(model, "ABCABC")
    beam = beam_search(model, "ABCABC", width=4)
    assert beam.method == "beam" and len(beam.best_path) == len(beam.steps)
    assert all(1 <= len(c) <= 4 for c in beam.beam_steps)
    for t, index in enumerate(beam.best_path):
        candidate = beam.beam_steps[t][index]
        assert candidate.token == beam.steps[t].chosen_token
        if t:
            assert candidate.parent == beam.best_path[t - 1]
    if greedy.steps[-1].chosen_token == EOS:  # both finished: beam is at least as likely
        assert beam.log_prob >= greedy.log_prob - 1e-4


def test_forced_trace_follows_the_given_tokens():
    model = model_of("attention")
    tokens = [*encode("CBA"), EOS]
    trace = forced_trace(model, "ABC", tokens)
    assert trace.output == "CBA" and [s.chosen_token for s in trace.steps] == tokens
    assert [s.fed_token for s in trace.steps] == [SOS, *tokens[:-1]]


def test_decoding_validates_input():
    with pytest.raises(InputError):
        greedy_trace(model_of("plain"), "AB C")
    with pytest.raises(ValueError):
        beam_search(model_of("plain"), "ABC", width=0)


def test_forced_prefix_is_a_what_if_that_then_continues_greedily():
    model = model_of("attention", 1)
    greedy = greedy_trace(model, "ABCDEF")
    same = greedy_trace(model, "ABCDEF", prefix=greedy.output[:3])
    assert [s.chosen_token for s in same.steps] == [s.chosen_token for s in greedy.steps]
    assert same.method == "forced prefix" and greedy.method == "greedy"
    forced = greedy_trace(model, "ABCDEF", prefix="zzz")
    assert forced.output.startswith("ZZZ")
    assert [s.chosen_token for s in forced.steps[:3]] == encode("ZZZ")
    assert [s.fed_token for s in forced.steps[1:4]] == encode("ZZZ")
    for step in forced.steps[3:]:  # greedy from there on
        assert step.chosen_token == int(step.probabilities.argmax())
    with pytest.raises(InputError):
        greedy_trace(model, "ABC", prefix="Z1")


def test_trace_keeps_what_the_attention_step_used():
    model = model_of("attention", 4)
    trace = greedy_trace(model, "HELLO")
    assert trace.encoder_states.shape == (5, 16) and trace.keys.shape == (5, 16)
    previous = None
    for step in trace.steps:
        assert step.query.shape == (16,) and step.scores.shape == (5,)
        assert torch.allclose(step.model_attention, torch.softmax(step.scores, 0), atol=1e-6)
        assert torch.equal(step.model_attention, step.attention) and not step.overridden
        assert torch.allclose(step.context, step.attention @ trace.encoder_states, atol=1e-6)
        if previous is not None:
            assert torch.equal(step.query, previous.hidden)
        previous = step
    beam = beam_search(model, "HELLO", width=3)
    assert beam.keys is not None and beam.steps[0].scores is not None
    plain = greedy_trace(model_of("plain"), "HELLO")
    assert plain.keys is None and plain.encoder_states.shape == (5, 16)
    assert plain.steps[0].scores is None and plain.steps[0].context is None

"""Forced attention in greedy decoding: what is used, what is recorded, what is refused."""

import pytest
import torch

from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import (
    AttentionOverride,
    OverrideError,
    check_overrides,
    greedy_trace,
    parse_override,
    parse_overrides,
)
from seqrev.models.seq2seq import ModelConfig, build_model


def model_of(kind, seed=0, score="bilinear"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16,
                                   score=score)).eval()


@pytest.mark.parametrize("score", ["bilinear", "dot", "scaled_dot", "additive"])
def test_blend_zero_reproduces_the_model_exactly(score):
    model = model_of("attention", 1, score)
    own = greedy_trace(model, "ABCDEFG")
    same = greedy_trace(model, "ABCDEFG", overrides=[AttentionOverride(2, 5, 0.0)])
    assert same.output == own.output
    for a, b in zip(own.steps, same.steps, strict=True):
        assert torch.allclose(a.hidden, b.hidden, atol=1e-6)
        assert torch.allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert same.steps[2].overridden and not own.steps[2].overridden


def test_one_hot_is_the_weight_used_and_the_own_weights_are_kept():
    model = model_of("attention", 2)
    own = greedy_trace(model, "HELLOWORLD")
    forced = greedy_trace(model, "HELLOWORLD", overrides=[AttentionOverride(3, 0)])
    step = forced.steps[3]
    assert step.attention.tolist() == [1.0] + [0.0] * 9
    assert step.forced_position == 0 and step.blend == 1.0
    assert torch.allclose(step.model_attention, own.steps[3].attention, atol=1e-6)
    assert torch.allclose(step.context, forced.encoder_states[0], atol=1e-6)
    # steps before the override are untouched; the matrix shows the weights actually used
    for t in range(3):
        assert torch.allclose(forced.steps[t].hidden, own.steps[t].hidden, atol=1e-7)
    assert torch.equal(forced.attention_matrix()[3], step.attention)


def test_blend_mixes_linearly_and_stacks_one_per_step():
    model = model_of("attention", 3)
    overrides = [AttentionOverride(4, 1, 0.25), AttentionOverride(1, 6, 0.25)]
    trace = greedy_trace(model, "QWERTYUI", overrides=overrides)
    assert [o.step for o in trace.overrides] == [1, 4]
    for o in overrides:
        step = trace.steps[o.step]
        one_hot = torch.nn.functional.one_hot(torch.tensor(o.position), 8).float()
        assert torch.allclose(step.attention, 0.75 * step.model_attention + 0.25 * one_hot,
                              atol=1e-6)
        assert abs(float(step.attention.sum()) - 1) < 1e-5
    assert [s.overridden for s in trace.steps[:6]] == [False, True, False, False, True, False]


def test_forcing_changes_the_run_on_the_shipped_model():
    model = load_checkpoint("attention").model
    own = greedy_trace(model, "ATTENTIONISALLYOUNEED")
    # force step 3 onto the letter it already reads most: nothing changes
    natural = int(own.steps[3].attention.argmax())
    kept = greedy_trace(model, "ATTENTIONISALLYOUNEED",
                        overrides=[AttentionOverride(3, natural)])
    assert kept.output == own.output
    # force it onto the first letter: the decoder state after step 3 differs
    moved = greedy_trace(model, "ATTENTIONISALLYOUNEED", overrides=[AttentionOverride(3, 0)])
    assert not torch.allclose(moved.steps[3].hidden, own.steps[3].hidden, atol=1e-3)


@pytest.mark.parametrize("text, message", [
    ("3", "'3' is not STEP:POS"), ("a:b", "'a:b' is not STEP:POS"), ("1:2:3", "'1:2:3'"),
    ("-1:2", "'-1:2'"), ("", "''"), ("1.5:2", "'1.5:2'"),
])
def test_parse_names_the_bad_value(text, message):
    with pytest.raises(OverrideError, match=message):
        parse_override(text)


def test_parse_list_and_blend():
    assert parse_overrides("3:17, 5:2", 0.5) == [AttentionOverride(3, 17, 0.5),
                                                 AttentionOverride(5, 2, 0.5)]
    assert parse_overrides("") == []
    for bad in (1.5, -0.1, float("nan"), "x"):
        with pytest.raises(OverrideError, match="blend"):
            parse_override("1:1", bad)


@pytest.mark.parametrize("override, message", [
    (AttentionOverride(99, 0), "step 99 in '99:0' is out of range"),
    (AttentionOverride(6, 0), "step 6"),
    (AttentionOverride(0, 5), "position 5 in '0:5' is out of range"),
    (AttentionOverride(0, 0, 2.0), "blend 2.0"),
])
def test_out_of_range_is_refused(override, message):
    with pytest.raises(OverrideError, match=message):
        greedy_trace(model_of("attention"), "HELLO", overrides=[override])


def test_last_step_is_the_eos_step_and_allowed():
    assert check_overrides([AttentionOverride(5, 4)], 5, True)


def test_duplicate_step_and_plain_model_are_refused():
    with pytest.raises(OverrideError, match="step 2 is overridden twice"):
        check_overrides([AttentionOverride(2, 0), AttentionOverride(2, 1)], 5, True)
    with pytest.raises(OverrideError, match="plain model has no attention"):
        greedy_trace(model_of("plain"), "HELLO", overrides=[AttentionOverride(0, 0)])
    assert greedy_trace(model_of("plain"), "HELLO").steps[0].query is None


def test_unreached_step_does_nothing():
    model = model_of("attention", 4)
    own = greedy_trace(model, "ABCDEFGHIJ", max_steps=2)
    late = greedy_trace(model, "ABCDEFGHIJ", max_steps=2, overrides=[AttentionOverride(9, 0)])
    assert late.output == own.output and not any(s.overridden for s in late.steps)

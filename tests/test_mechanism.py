"""One attention step taken apart: recomputed from what is shown, and the override outcome."""

import pytest
import torch

from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.inspection.mechanism import forcing_sweep, override_outcome, step_mechanism
from seqrev.models.seq2seq import ModelConfig, build_model


def model_of(kind, seed=0, score="bilinear"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16,
                                   score=score)).eval()


def recompute(mechanism):
    """Scores and weights from the shown query and keys, written out independently."""
    q, keys = mechanism.query.double(), mechanism.keys.double()  # (H,), (S, H)
    if mechanism.score_name == "additive":
        scores = torch.stack([(mechanism.v.double() * torch.tanh(k + mechanism.query_term
                                                                 .double())).sum()
                              for k in keys])
    else:
        scores = torch.stack([(k * q).sum() for k in keys])  # (S,)
    weights = torch.exp(scores - scores.max())
    return scores, weights / weights.sum()


def check_against_the_model(model, trace):
    matrix = trace.attention_matrix()  # the heatmap's numbers
    for t in range(len(trace.steps)):
        mechanism = step_mechanism(model, trace, t)
        scores, weights = recompute(mechanism)
        assert torch.allclose(scores, mechanism.scores.double(), rtol=1e-6, atol=1e-5)
        assert torch.allclose(weights, matrix[t].double(), atol=1e-5)
        context = (mechanism.used.double().unsqueeze(1) * mechanism.states.double()).sum(0)
        assert torch.allclose(context, mechanism.context.double(), atol=1e-5)
        assert mechanism.winner == int(matrix[t].argmax())


def test_recomputation_on_the_shipped_model():
    """The page's walkthrough string: every step's scores and weights from q and the keys."""
    model = load_checkpoint("attention").model
    trace = greedy_trace(model, "ATTENTIONISALLYOUNEED")
    check_against_the_model(model, trace)
    mechanism = step_mechanism(model, trace, 3)
    # the query is the state after step 2; the keys are W h_i
    assert torch.equal(mechanism.query, trace.steps[2].hidden)
    with torch.no_grad():
        expected_keys = model.score.attention_w(trace.encoder_states)
    assert torch.allclose(mechanism.keys, expected_keys, atol=1e-5)


@pytest.mark.parametrize("score", ["bilinear", "dot", "scaled_dot", "additive"])
def test_recomputation_for_every_score_function(score):
    model = model_of("attention", 5, score)
    check_against_the_model(model, greedy_trace(model, "QWERTYUIOP"))


def test_first_step_query_is_the_encoder_final_state():
    model = model_of("attention", 6)
    trace = greedy_trace(model, "ABCD")
    assert torch.allclose(step_mechanism(model, trace, 0).query, trace.encoder_states[-1])


@pytest.mark.parametrize("score", ["bilinear", "additive"])
def test_top_dimensions_add_up_to_the_winning_score(score):
    model = model_of("attention", 7, score)
    mechanism = step_mechanism(model, greedy_trace(model, "HELLOWORLD"), 2, top_k=4)
    assert len(mechanism.top_dims) == 4
    magnitudes = [abs(d.term) for d in mechanism.top_dims]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert magnitudes[0] == pytest.approx(float(mechanism.contributions.abs().max()))
    assert float(mechanism.contributions.sum()) == pytest.approx(
        float(mechanism.scores[mechanism.winner]), abs=1e-4)
    assert f"= {float(mechanism.scores[mechanism.winner]):.3f}" in mechanism.worked_score()
    assert f"{float(mechanism.weights[mechanism.winner]):.4f}" in mechanism.worked_softmax()


def test_forced_step_shows_own_and_used_weights():
    model = model_of("attention", 8)
    trace = greedy_trace(model, "ABCDEF", overrides=[AttentionOverride(1, 0, 0.5)])
    mechanism = step_mechanism(model, trace, 1)
    assert mechanism.overridden and mechanism.blend == 0.5
    assert torch.allclose(mechanism.weights, torch.softmax(mechanism.scores, 0), atol=1e-6)
    assert float(mechanism.used[0]) >= 0.5


def test_plain_trace_and_bad_step_are_refused():
    with pytest.raises(ValueError, match="plain"):
        step_mechanism(model_of("plain"), greedy_trace(model_of("plain"), "ABC"), 0)
    model = model_of("attention")
    with pytest.raises(ValueError, match="step 40"):
        step_mechanism(model, greedy_trace(model, "ABC"), 40)


def test_override_outcome_lists_changes_and_forced_letter():
    model = load_checkpoint("attention").model
    text = "ATTENTIONISALLYOUNEED"
    own = greedy_trace(model, text)
    forced = greedy_trace(model, text, overrides=[AttentionOverride(3, 0),
                                                  AttentionOverride(20, 0)])
    outcome = override_outcome(own, forced)
    new = [s.chosen_token for s in forced.steps]
    old = [s.chosen_token for s in own.steps]
    assert outcome.changed_steps == [t for t in range(max(len(new), len(old)))
                                     if t >= len(new) or t >= len(old) or new[t] != old[t]]
    assert all(t >= 3 for t in outcome.changed_steps)
    first = outcome.forced[0]
    assert first.step == 3 and first.expected == "N" and first.original == "N"
    assert first.probability == pytest.approx(
        float(forced.steps[3].probabilities.max()), abs=1e-6)
    reached = {f.step for f in outcome.forced} | {o.step for o in outcome.unreached}
    assert reached == {3, 20}
    assert outcome.exact == forced.correct


def test_override_on_the_natural_letter_changes_nothing():
    model = load_checkpoint("attention").model
    own = greedy_trace(model, "HELLOWORLD")
    natural = int(own.steps[4].attention.argmax())
    outcome = override_outcome(own, greedy_trace(model, "HELLOWORLD",
                                                 overrides=[AttentionOverride(4, natural)]))
    assert outcome.changed_steps == [] and outcome.exact and outcome.later_right
    assert outcome.recovered is False  # nothing went wrong, so nothing to recover from


def test_forcing_sweep_counts_runs():
    model = model_of("attention", 9)
    result = forcing_sweep(model, ["ABC", "QWER"], offset=0)
    assert result.n_runs == 3 + 4 and set(result.by_step) == {0, 1, 2, 3}
    assert result.by_step[3][0] == 1
    assert 0 <= result.exact <= result.n_runs and 0 <= result.letter_right <= result.n_runs
    shifted = forcing_sweep(model, ["ABC"], offset=1)
    assert shifted.n_runs == 2  # step 0 would need position 3

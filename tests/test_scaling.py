"""inspection.scaling: why dividing the dot product by sqrt(D) keeps the softmax trainable."""

from __future__ import annotations

import math

import pytest
import torch

import seqrev.inspection.scaling as scaling
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.reverse import ReversalTask
from seqrev.tasks.vocab import decode


def by_dim(stats, scaled: bool) -> dict[int, scaling.ScoreStats]:
    return {s.dim: s for s in stats if s.scaled == scaled}


@pytest.fixture(scope="module")
def random_stats():
    return scaling.random_sweep(dims=(4, 16, 64, 256, 1024), n_queries=400, n_keys=10)


def test_unscaled_spread_grows_like_sqrt_d_and_scaled_spread_stays_near_one(random_stats):
    unscaled, scaled = by_dim(random_stats, False), by_dim(random_stats, True)
    # 16x the size, 4x the spread; the spread across 10 keys of one query sits a little
    # under sqrt(D) (a population std of 10 draws, and |q| itself varies at small D)
    assert unscaled[1024].spread / unscaled[64].spread == pytest.approx(4.0, rel=0.08)
    assert unscaled[256].spread / unscaled[16].spread == pytest.approx(4.0, rel=0.1)
    for dim, stats in unscaled.items():
        assert 0.8 * math.sqrt(dim) < stats.spread < 1.05 * math.sqrt(dim), dim
    spreads = [s.spread for s in scaled.values()]
    assert min(spreads) > 0.8 and max(spreads) < 1.05 and max(spreads) / min(spreads) < 1.15


def test_unscaled_softmax_saturates_and_its_gradient_vanishes(random_stats):
    unscaled, scaled = by_dim(random_stats, False), by_dim(random_stats, True)
    dims = sorted(unscaled)
    entropies = [unscaled[d].entropy for d in dims]
    gradients = [unscaled[d].grad_norm for d in dims]
    assert entropies == sorted(entropies, reverse=True)
    assert gradients == sorted(gradients, reverse=True)
    assert entropies[-1] < 0.1 * unscaled[dims[-1]].max_entropy  # nearly one-hot at D = 1024
    assert gradients[-1] < 0.2 * gradients[0]
    scaled_entropy = [scaled[d].entropy for d in dims]
    scaled_gradient = [scaled[d].grad_norm for d in dims]
    assert max(scaled_entropy) - min(scaled_entropy) < 0.1
    assert max(scaled_gradient) < 1.2 * min(scaled_gradient)


def test_the_jacobian_norm_matches_autograd():
    scores = torch.randn(3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weights = torch.softmax(scores, dim=1)
    norms = scaling.softmax_jacobian_norm(weights)
    for row in range(3):
        jacobian = torch.autograd.functional.jacobian(
            lambda s: torch.softmax(s, dim=0), scores[row])  # (7, 7)
        assert float(norms[row]) == pytest.approx(float(torch.linalg.matrix_norm(jacobian)))


def test_a_uniform_softmax_has_the_largest_entropy_and_a_one_hot_no_gradient():
    uniform = scaling.score_stats(torch.zeros(2, 5), dim=4, scaled=False, source="random")
    assert uniform.entropy == pytest.approx(math.log(5)) and uniform.spread == 0
    saturated = scaling.score_stats(torch.tensor([[1e4, 0.0, 0.0]]), dim=1, scaled=False,
                                    source="random")
    assert saturated.entropy == pytest.approx(0.0, abs=1e-9)
    assert saturated.grad_norm == pytest.approx(0.0, abs=1e-9)


def test_the_model_scores_at_full_size_are_the_models_own():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="attention", embedding_dim=8, hidden_dim=12))
    queries, keys = scaling.model_queries_keys(model, n_strings=3, length=6, seed=5)
    assert queries.shape == (3, 6, 12) and keys.shape == (3, 6, 12)
    scores = scaling.partial_scores(queries, keys, torch.arange(12)).reshape(3, 6, 6)
    text = decode(ReversalTask(6, 6).eval_set(3, 5).source[0])
    trace = greedy_trace(model, text)
    for step in range(6):
        assert torch.allclose(scores[0, step].float(), trace.steps[step].scores, atol=1e-5)
    stats = scaling.model_sweep(model, n_strings=3, length=6)
    assert sorted({s.dim for s in stats}) == [2, 4, 8, 12]
    full = by_dim(stats, False)[12]
    own = torch.stack([s.scores for s in trace.steps[:6]]).double()
    assert full.spread > 0 and own.std(dim=1, correction=0).mean() > 0


def test_a_plain_model_or_an_additive_score_is_refused():
    with pytest.raises(ValueError, match="plain"):
        scaling.model_queries_keys(build_model(ModelConfig(kind="plain", embedding_dim=8,
                                                           hidden_dim=8)))
    with pytest.raises(ValueError, match="additive"):
        scaling.model_queries_keys(build_model(ModelConfig(kind="attention", embedding_dim=8,
                                                           hidden_dim=8, score="additive")))

"""Why the dot product is scaled (seed 003, exercise 1): score spread, softmax entropy, gradient.

A score ``k_i · q`` between vectors of size D is a sum of D products. With independent entries
of unit variance its spread across the keys grows like sqrt(D). The softmax of widely spread
scores puts nearly all its weight on one key: its entropy falls towards 0, and its Jacobian
``diag(a) - a aᵀ`` towards the zero matrix, so almost no gradient reaches the scores. Dividing
the scores by sqrt(D) keeps their spread near 1 at every D.

Everything here is measured, on random vectors and on a trained attention model's own queries
and keys (its first D dimensions, in a fixed random order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seqrev.inspection.analysis import attention_entropy
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.reverse import ReversalTask

RANDOM_DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512)
MODEL_DIMS = (2, 4, 8, 16, 32, 64)  # and the model's own hidden size, always added
SOURCES = ("random", "model")


@dataclass(frozen=True)
class ScoreStats:
    """Scores at one vector size D, with or without the division by sqrt(D)."""

    source: str  # "random" or "model"
    dim: int  # D: how many dimensions the dot product sums over
    scaled: bool
    spread: float  # standard deviation of the scores across the keys, mean over queries
    entropy: float  # nats, mean over queries of the softmax's entropy
    max_entropy: float  # log(number of keys): a uniform softmax
    grad_norm: float  # mean Frobenius norm of the softmax's Jacobian d a / d s


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of ``diag(a) - a aᵀ`` for each row ``a`` of ``weights`` (n, S). (n,)"""
    jacobian = torch.diag_embed(weights) - weights.unsqueeze(2) * weights.unsqueeze(1)  # (n, S, S)
    return torch.linalg.matrix_norm(jacobian)  # (n,)


def score_stats(scores: torch.Tensor, dim: int, scaled: bool, source: str) -> ScoreStats:
    """Spread, entropy and gradient norm of ``scores`` (queries, keys), divided by sqrt(dim)
    first when ``scaled``."""
    used = scores.double() / math.sqrt(dim) if scaled else scores.double()  # (n, S)
    weights = torch.softmax(used, dim=1)  # (n, S)
    return ScoreStats(
        source=source, dim=int(dim), scaled=scaled,
        spread=float(used.std(dim=1, correction=0).mean()),
        entropy=float(attention_entropy(weights).mean()),
        max_entropy=math.log(scores.shape[1]),
        grad_norm=float(softmax_jacobian_norm(weights).mean()),
    )


def random_scores(dim: int, n_queries: int = 256, n_keys: int = 10, seed: int = 0
                  ) -> torch.Tensor:
    """Dot products of standard normal queries with ``n_keys`` standard normal keys each.
    (n_queries, n_keys)"""
    generator = torch.Generator().manual_seed(seed * 100_003 + dim)
    queries = torch.randn(n_queries, dim, generator=generator, dtype=torch.float64)  # (n, D)
    keys = torch.randn(n_queries, n_keys, dim, generator=generator,
                       dtype=torch.float64)  # (n, S, D)
    return (keys * queries.unsqueeze(1)).sum(dim=2)  # (n, S)


def random_sweep(dims: Sequence[int] = RANDOM_DIMS, n_queries: int = 200, n_keys: int = 10,
                 seed: int = 0) -> list[ScoreStats]:
    """Unscaled and scaled statistics of random scores at each vector size in ``dims``."""
    out = []
    for dim in dims:
        scores = random_scores(dim, n_queries, n_keys, seed)
        out += [score_stats(scores, dim, scaled, "random") for scaled in (False, True)]
    return out


@torch.inference_mode()
def model_queries_keys(model: Seq2Seq, n_strings: int = 16, length: int = 10, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The queries and keys an attention model scores while greedily reversing fresh strings.

    Returns queries (n_strings, length, H), the decoder state before each letter step, and
    keys (n_strings, length, H), what the model's score prepared from each encoder state
    (``W h_i`` for the bilinear score). ValueError for a plain model or a score that is not a
    dot product of the two (additive).
    """
    if not model.has_attention:
        raise ValueError("a plain model has no queries and keys")
    if model.config.score == "additive":
        raise ValueError("the additive score is not a dot product of a query and a key")
    model.eval()
    batch = ReversalTask(length, length).eval_set(n_strings, seed)
    device = next(model.parameters()).device
    memory, hidden = model.encode(batch.source.to(device), batch.lengths.to(device))
    tokens = batch.decoder_input[:, 0].to(device)  # (n,) all <sos>
    queries = []
    for _ in range(length):
        queries.append(hidden)  # (n, H): the query of this step
        out = model.step(tokens, hidden, memory)
        hidden, tokens = out.hidden, out.logits.argmax(dim=1)
    return torch.stack(queries, dim=1).cpu(), memory.keys.cpu()  # (n, T, H), (n, S, H)


def partial_scores(queries: torch.Tensor, keys: torch.Tensor, dims: torch.Tensor
                   ) -> torch.Tensor:
    """Scores summed over the dimensions ``dims`` only, one row per (string, step).
    (n * T, S)"""
    q = queries[..., dims].double()  # (n, T, D)
    k = keys[..., dims].double()  # (n, S, D)
    scores = torch.einsum("ntd,nsd->nts", q, k)  # (n, T, S)
    return scores.reshape(-1, scores.shape[2])  # (n * T, S)


def model_dims(hidden_dim: int) -> list[int]:
    """The vector sizes measured on a model: MODEL_DIMS below its hidden size, and that size."""
    return sorted({d for d in MODEL_DIMS if d < hidden_dim} | {hidden_dim})


def model_sweep(model: Seq2Seq, n_strings: int = 16, length: int = 10, seed: int = 0
                ) -> list[ScoreStats]:
    """Unscaled and scaled statistics of an attention model's own scores, built from its first
    D dimensions (in a fixed random order) for each D of :func:`model_dims`.

    At the full hidden size the unscaled scores are exactly the model's.
    """
    queries, keys = model_queries_keys(model, n_strings, length, seed)
    hidden_dim = queries.shape[2]
    order = torch.randperm(hidden_dim, generator=torch.Generator().manual_seed(seed))
    out = []
    for dim in model_dims(hidden_dim):
        scores = partial_scores(queries, keys, order[:dim])
        out += [score_stats(scores, dim, scaled, "model") for scaled in (False, True)]
    return out

"""Attention score functions s(h_i, q), each split into a per-sequence and a per-step part.

``prepare`` runs once per source sequence (for the bilinear score that is ``W h_i``, which the
lab recomputed at every decoder step); ``score`` runs at every decoder step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCORE_FUNCTIONS = ("bilinear", "dot", "scaled_dot", "additive")
UNPROJECTED_SCORES = ("dot", "scaled_dot")  # keys and queries must have one size


def dot_scores(keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """``keys_i · query`` for every source position. (batch, S)

    A broadcast product and sum: on the CPU, ``bmm`` with these thin shapes (an inner size of 1
    per batch row) was measured 5-10x slower in backward.
    """
    return (keys * query.unsqueeze(1)).sum(dim=2)  # (batch, S)


class BilinearScore(nn.Module):
    """Luong's "general" score, the lab's: ``s(h_i, q) = (W h_i) · q``, W bias-free.

    W is (hidden, key_dim): a bidirectional encoder's states (2 * hidden) map to the query's size.
    """

    def __init__(self, hidden_dim: int, key_dim: int | None = None) -> None:
        super().__init__()
        self.attention_w = nn.Linear(key_dim or hidden_dim, hidden_dim, bias=False)

    def prepare(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return self.attention_w(encoder_states)  # (batch, S, hidden)

    def score(self, keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return dot_scores(keys, query)


class DotScore(nn.Module):
    """``s(h_i, q) = h_i · q``, optionally divided by sqrt(hidden) (seed 003, exercise 1)."""

    def __init__(self, hidden_dim: int, scaled: bool) -> None:
        super().__init__()
        self.scale = 1.0 / math.sqrt(hidden_dim) if scaled else 1.0

    def prepare(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return encoder_states * self.scale if self.scale != 1.0 else encoder_states

    def score(self, keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return dot_scores(keys, query)


class AdditiveScore(nn.Module):
    """Bahdanau's ``s(h_i, q) = v · tanh(W_k h_i + W_q q)``."""

    def __init__(self, hidden_dim: int, key_dim: int | None = None) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_dim or hidden_dim, hidden_dim, bias=False)
        self.query_proj = nn.Linear(hidden_dim, hidden_dim, bias=True)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def prepare(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return self.key_proj(encoder_states)  # (batch, S, hidden)

    def score(self, keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        mixed = torch.tanh(keys + self.query_proj(query).unsqueeze(1))  # (batch, S, hidden)
        return self.v(mixed).squeeze(2)  # (batch, S)


def make_score(name: str, hidden_dim: int, key_dim: int | None = None) -> nn.Module:
    """The score module called ``name`` (one of SCORE_FUNCTIONS) for keys of ``key_dim``."""
    key_dim = key_dim or hidden_dim
    if name in UNPROJECTED_SCORES and key_dim != hidden_dim:
        raise ValueError(f"the {name} score needs keys of the query's size {hidden_dim}, "
                         f"not {key_dim}")
    if name == "bilinear":
        return BilinearScore(hidden_dim, key_dim)
    if name in UNPROJECTED_SCORES:
        return DotScore(hidden_dim, scaled=name == "scaled_dot")
    if name == "additive":
        return AdditiveScore(hidden_dim, key_dim)
    raise ValueError(f"unknown score function {name!r}; choose from {', '.join(SCORE_FUNCTIONS)}")

"""Inside a Transformer's attention for one decoded string: every head's weights, and one head's
arithmetic at one step (scaled dot-product, seed 003's exercise 1).

Both read the model's own outputs: the weights come from its forward pass over the tokens the
trace fed, the queries, keys and values from the tensors that pass and ``encode`` return, so
nothing is fished out of module attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqrev.decoding.search import DecodeTrace
from seqrev.tasks.data import batch_from_strings


@dataclass(frozen=True)
class HeadWeights:
    """Every attention weight of one decoded string, layers first, batch row dropped."""

    cross: torch.Tensor  # (layers, heads, T, S): output step t reading input letter i
    encoder: torch.Tensor  # (layers, heads, S, S): input letter reading input letter
    decoder: torch.Tensor  # (layers, heads, T, T): output step reading an earlier step


@dataclass(frozen=True)
class HeadStep:
    """One head's cross-attention at one decoder step, every number of it."""

    layer: int
    head: int
    step: int
    query: torch.Tensor  # (d_head,) the step's query in this head
    keys: torch.Tensor  # (S, d_head) one key per input letter
    values: torch.Tensor  # (S, d_head)
    dots: torch.Tensor  # (S,) q·k_i
    scale: float  # 1/√d_head
    scores: torch.Tensor  # (S,) q·k_i / √d_head
    weights: torch.Tensor  # (S,) softmax of the scores
    context: torch.Tensor  # (d_head,) Σ_i weight_i v_i

    @property
    def d_head(self) -> int:
        return self.query.shape[0]

    @property
    def winner(self) -> int:
        """The input position this head reads most at this step."""
        return int(self.weights.argmax())


def _fed(trace: DecodeTrace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The trace's source batch (1, S), its lengths and the tokens it fed (1, T)."""
    batch = batch_from_strings([trace.source])
    fed = torch.tensor([[step.fed_token for step in trace.steps]])  # (1, T)
    return batch.source, batch.lengths, fed


@torch.inference_mode()
def head_weights(model, trace: DecodeTrace) -> HeadWeights:
    """Every layer's and head's weights over the tokens ``trace`` fed (its own decode)."""
    model.eval()
    source, lengths, fed = _fed(trace)
    device = next(model.parameters()).device
    _, weights = model(source.to(device), lengths.to(device), fed.to(device),
                       return_attention=True)
    return HeadWeights(weights.cross[:, 0].cpu(), weights.encoder[:, 0].cpu(),
                       weights.decoder[:, 0].cpu())


@torch.inference_mode()
def head_step(model, trace: DecodeTrace, step: int, layer: int, head: int) -> HeadStep:
    """Head ``head`` of layer ``layer`` at decoder step ``step``, recomputed by hand."""
    config = model.config
    for name, value, limit in (("step", step, len(trace.steps)),
                               ("layer", layer, config.n_layers), ("head", head, config.n_heads)):
        if not 0 <= value < limit:
            raise ValueError(f"{name} {value} is out of range 0-{limit - 1}")
    model.eval()
    device = next(model.parameters()).device
    source, lengths, fed = (t.to(device) for t in _fed(trace))
    memory, cache = model.encode(source, lengths)
    queries = model.decode(fed[:, : step + 1], cache, memory)[4]  # (layers, 1, heads, t+1, d)
    query = queries[layer, 0, head, step].cpu()  # (d_head,)
    keys = memory.keys[0, layer, head].cpu()  # (S, d_head)
    values = memory.values[0, layer, head].cpu()  # (S, d_head)
    dots = keys @ query  # (S,)
    scale = 1.0 / math.sqrt(query.shape[0])
    scores = dots * scale  # (S,)
    weights = torch.softmax(scores, dim=0)  # (S,): a decoded string has no padding
    return HeadStep(layer, head, step, query, keys, values, dots, scale, scores, weights,
                    weights @ values)
